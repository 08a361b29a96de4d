"""Lorebook: pack facts and SillyTavern world info that enter the prompt when the chat mentions them.

Books: the pack's own (``[lorebook] entries = "lore.json"``: a Tavern character
book in any of its shapes, or a SillyTavern world-info file) and shared ones
(``[lorebook] books = ["eldoria"]``: ``$PERSONA_HOME/lorebooks/eldoria.json``,
a plain name whose file must resolve inside that folder). Fields are read from
both shapes alike (persona/lore_fields.py); docs/packs.md has the table.

Matching, on the newest ``scan_depth`` (default 4; per entry ``scanDepth``)
user and assistant messages:
- Keys ignore case unless the entry sets ``case_sensitive``.
- Whole words, as SillyTavern's default: where a key starts or ends with an
  ASCII letter or digit, the text there must not go on with one, so "gull"
  fires on "Gull's" but not "seagulls". CJK has no spaces, so a CJK key edge
  matches anywhere ("黑鸥号" mid-sentence, "Mara" in "你认识Mara吗").
  ``match_whole_words: false`` gives substring matching. A space in a key
  matches any whitespace; no key spans two messages.
- ``/pattern/flags`` keys are regexes, run on RE2 (persona/lore_regex.py);
  ``use_regex`` is ignored (SillyTavern writes it on every entry it exports).
- The optional filter (``secondary_keys`` with ``selective: true``) combines
  by ``selectiveLogic``; without ``selective`` the spec says it is ignored.
- Activation (constants, probability, groups, recursion, sticky, cooldown,
  delay) is persona/lore_scan.py and persona/lore_timed.py.

Cost: books are untrusted, so each is bounded when it is read
(persona/lore_book.py): 1 MiB, 4096 entries, 64 keys an entry, 100 characters a
key (500 and 64 a book for regex keys), and at most 8 keys ending at one place
("The Black Gull", "Black Gull", "Gull" are 3). A book over a bound is skipped
with one warning, like a malformed one, and ``persona validate`` reports the
pack's own as an error. Plain keys are found by one Aho–Corasick automaton per
book and case class, built once when the file changes (persona/lore_match.py);
word edges are markers in the normalised text, so every hit is a match. A
turn costs the scanned messages' length (plus at most 8 hits a character)
whatever the number of plain keys, plus the length times the regex keys, plus
the same again for at most 64k characters of recursion.

Budget: an entry costs UTF-8 bytes // 4 + 1 tokens (English ~4 characters a
token, a CJK character ~0.75); it bounds lore only, the engine's context
assembly enforces the real window later. Over the budget (``[lorebook]
token_budget``, else the first book's ``token_budget``: 256 for a character
book, 1024 for a world-info file, which has none) constants go first, then
higher ``priority``, then higher ``insertion_order``; once one entry does not
fit, it and all below it are dropped.

Placement, ascending ``insertion_order`` within a place ("lower = inserted
higher"): before or after the character definitions (the system prompt, under
"Facts you know:"; with ``[lorebook] position = "note"`` both become a note
before the newest message), at a depth with a role (``{"depth": N}`` messages
the engine places, persona/context.py), or the author's note's top and bottom
(``{"authors_note": "top"}``, persona/authors_note.py).
"""

from __future__ import annotations

import logging
from pathlib import Path

from persona.hookspecs import hookimpl
from persona.lore_book import Book, Entry, decode, parse, shared_path
from persona.lore_scan import Activation, activate
from persona.lore_timed import Timed, uses_time

log = logging.getLogger("persona")

HEADER = "Facts you know:"

# path -> ((mtime_ns, size), parsed book or None when unusable); a file is parsed once per change
_cache: dict[Path, tuple[tuple[int, int], Book | None]] = {}
_user = "User"  # the engine's name for the user, for {{user}} in lore


def load_book(path: Path, name: str = "pack") -> Book | None:
    """The parsed book, re-read only when the file changes; None (after a warning) if unusable."""
    try:
        st = path.stat()
    except OSError as exc:
        log.warning("lorebook %s cannot be read (%s); no lore this turn", path, exc)
        return None
    stamp = (st.st_mtime_ns, st.st_size)
    cached = _cache.get(path)
    if cached and cached[0] == stamp:
        return cached[1]
    book = None
    try:
        book = parse(decode(path), path.name)
        book.name = name
    except Exception as exc:  # anything wrong with a pack's file skips lore, never the turn
        log.warning("lorebook %s cannot be used (%s: %s); lore skipped", path, type(exc).__name__, exc)
    _cache[path] = (stamp, book)
    return book


def books_of(persona) -> list[Book]:
    """The pack's own book, then its shared books (``[lorebook] books``), those that can be used."""
    found = [load_book(persona.lorebook)] if persona.lorebook is not None else []
    for name in persona.manifest.get("lorebook", {}).get("books", []) or []:
        path = shared_path(name)
        if path is not None:
            found.append(load_book(path, name))
    return [b for b in found if b is not None]


def select(book: Book, texts: list[str]) -> tuple[list[Entry], list[Entry]]:
    """The entries that fire on ``texts``, as (kept in prompt order, dropped for the budget), with no timed state."""
    act = activate([book], texts, Timed(None, len(texts), [book]), 0, book.token_budget)
    return sorted((f.entry for f in act.kept), key=lambda e: e.order), [f.entry for f in act.dropped]


@hookimpl
def startup(engine):
    global _user
    _user = getattr(engine, "user_name", _user)


def position(persona) -> str:
    """``[lorebook] position``: "system" (default: as each entry says) or "note" (before/after entries as a note)."""
    return persona.manifest.get("lorebook", {}).get("position", "system")


def _timed_state(conversation, user) -> object:
    """The timed effects as the last turn before this one left them (None: none yet)."""
    for m in reversed(conversation.messages):
        if m is not user and m.role == "user" and isinstance(m.metadata.get("lore"), dict) \
                and "timed" in m.metadata["lore"]:
            return m.metadata["lore"]["timed"]
    return None


@hookimpl
def prepare_messages(messages, persona, conversation):
    books = books_of(persona)
    if not books:
        return
    # What the model sees of the chat: no system prompt, tool traffic or blocked messages.
    seen = [m.content for m in conversation.messages
            if m.role in ("user", "assistant") and m.metadata.get("context", True)]
    user = next((m for m in reversed(conversation.messages) if m.role == "user"), None)
    timed = Timed(_timed_state(conversation, user), len(seen), books)
    depth = max([b.scan_depth for b in books] + [e.scan_depth or 0 for b in books for e in b.entries])
    seed = user.metadata.get("seed", 0) if user is not None else 0
    budget = persona.manifest.get("lorebook", {}).get("token_budget", books[0].token_budget)
    act = activate(books, seen[-depth:] if depth else [], timed, seed, budget)
    act.kept.sort(key=lambda f: f.entry.order)  # prompt order (stable: firing order within one order)
    timed.fired((f.book, f.entry) for f in act.kept)
    _place(messages, persona, act)
    if user is not None and (act.kept or act.dropped or act.skipped or uses_time(books)):
        record = {"fired": [f.entry.name for f in act.kept], "dropped": [f.entry.name for f in act.dropped]}
        if act.kept:
            record["why"] = [f.record() for f in act.kept]
        if act.skipped:
            record["skipped"] = act.skipped
        if uses_time(books):
            record["timed"] = timed.record()
        user.metadata["lore"] = record


def _place(messages: list[dict], persona, act: Activation) -> None:
    """Put each kept entry where its position says, in ascending order within a place."""
    render = lambda e: persona.render(e.content, _user)  # noqa: E731
    kept = sorted((f.entry for f in act.kept), key=lambda e: e.order)
    where = {p: [e for e in kept if e.position == p] for p in ("before", "after", "an_top", "an_bottom")}
    if position(persona) == "note":
        # The engine places notes just before the newest message: the prompt
        # before them stays cached, whatever fires (docs/architecture.md).
        both = [e for e in kept if e.position in ("before", "after")]
        if both:
            messages.append({"role": "system", "content": _block(both, render), "note": True})
    else:
        for side in ("before", "after"):
            if not where[side]:
                continue
            block = _block(where[side], render)
            if messages and messages[0]["role"] == "system":
                # SillyTavern's "before/after character definitions"; "after" is the default
                # (measured in docs/architecture.md); a change re-reads what follows.
                parts = [block, messages[0]["content"].rstrip()] if side == "before" \
                    else [messages[0]["content"].rstrip(), block]
                messages[0]["content"] = "\n\n".join(filter(None, parts))
            else:
                messages.insert(0, {"role": "system", "content": block})
    for slot in ("top", "bottom"):
        if where["an_" + slot]:
            messages.append({"role": "system", "content": "\n".join(map(render, where["an_" + slot])),
                             "authors_note": slot})
    placed: dict[tuple[int, str], list[str]] = {}
    for e in kept:
        if e.position == "depth":
            placed.setdefault((e.depth, e.role), []).append(render(e))
    for (depth, role), texts in placed.items():
        messages.append({"role": role, "content": "\n".join(texts), "depth": depth})


def _block(entries: list[Entry], render) -> str:
    return HEADER + "\n" + "\n".join(render(e) for e in entries)
