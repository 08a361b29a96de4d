"""Lorebook: pack facts that enter the system prompt when the chat mentions them.

The pack's lore file (``[lorebook] entries = "lore.json"``) is a Tavern character
book (character-card-spec v2/v3): a bare list of entries, a book ``{"scan_depth",
"token_budget", "entries": [...]}``, or one wrapped in ``data`` (a card's
``{"data": {"character_book": ...}}``, a V3 ``{"spec": "lorebook_v3", "data": ...}``).
Unknown fields are ignored. Entries are named in the turn record by ``name``,
``comment`` or their first key.

Matching, on the newest ``scan_depth`` (default 4) user and assistant messages:
- Keys ignore case unless the entry sets ``case_sensitive``.
- Whole words, unlike SillyTavern's substring default: where a key starts or ends
  with an ASCII letter or digit, the text there must not go on with one, so
  "gull" fires on "Gull's" but not "seagulls". CJK has no spaces, so a CJK key
  edge matches anywhere ("黑鸥号" mid-sentence, "Mara" in "你认识Mara吗").
  ``"match_whole_words": false`` (also read from ``extensions``, as SillyTavern
  exports it) gives substring matching. A space in a key matches any whitespace;
  no key spans two messages.
- ``selective: true`` needs a primary AND a secondary key; without it the spec
  says ``secondary_keys`` are ignored. ``constant`` entries always fire,
  ``enabled: false`` ones never.
- Regex keys (``/pattern/i``, ``use_regex``) are refused with a warning: packs
  are untrusted and Python's ``re`` has no timeout.

Cost: a pack is untrusted, so a book is bounded when it is read
(persona/lore_book.py): 1 MiB, 4096 entries, 64 keys an entry, 100 characters a
key, and at most 8 keys ending at one place ("The Black Gull", "Black Gull",
"Gull" are 3). A book over a bound is skipped with one warning, like a malformed
one, and ``persona validate`` reports it as an error. Keys are found by one
Aho–Corasick automaton per book and case class, built once when the file changes
(persona/lore_match.py); word edges are markers in the normalised text, so every
hit is a match. A turn costs the scanned messages' length, plus at most 8 hits a
character, whatever the number of keys.

Budget: an entry costs UTF-8 bytes // 4 + 1 tokens (English ~4 characters a
token, a CJK character ~0.75); it bounds lore only, the engine's context assembly
enforces the real window later. Over ``token_budget`` (default 256) the lowest
priority goes first, as the spec says: constants rank first, then higher
``priority``, then higher ``insertion_order`` (SillyTavern's order); once one
entry does not fit, it and all below it are dropped. Kept entries are written in
ascending ``insertion_order`` ("lower = inserted higher") under "Facts you know:".
"""

from __future__ import annotations

import logging
from pathlib import Path

from persona.hookspecs import hookimpl
from persona.lore_book import Book, Entry, decode, parse

log = logging.getLogger("persona")

HEADER = "Facts you know:"

# path -> ((mtime_ns, size), parsed book or None when unusable); a file is parsed once per change
_cache: dict[Path, tuple[tuple[int, int], Book | None]] = {}
_user = "User"  # the engine's name for the user, for {{user}} in lore


def load_book(path: Path) -> Book | None:
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
    except Exception as exc:  # anything wrong with a pack's file skips lore, never the turn
        log.warning("lorebook %s cannot be used (%s: %s); lore skipped", path, type(exc).__name__, exc)
    _cache[path] = (stamp, book)
    return book


def select(book: Book, texts: list[str]) -> tuple[list[Entry], list[Entry]]:
    """The entries that fire on ``texts``, as (kept in prompt order, dropped for the budget)."""
    found = book.matcher.found(texts) if texts else set()
    fired = [e for e in book.entries
             if e.constant or (e.keys in found and (e.secondary is None or e.secondary in found))]
    kept, dropped, used = [], [], 0
    for entry in sorted(fired, key=lambda e: (not e.constant, -e.priority, -e.order)):
        if dropped or used + entry.tokens > book.token_budget:
            dropped.append(entry)
        else:
            kept.append(entry)
            used += entry.tokens
    return sorted(kept, key=lambda e: e.order), dropped


@hookimpl
def startup(engine):
    global _user
    _user = getattr(engine, "user_name", _user)


def position(persona) -> str:
    """``[lorebook] position``: "system" (default: the end of the system prompt) or "note"."""
    return persona.manifest.get("lorebook", {}).get("position", "system")


@hookimpl
def prepare_messages(messages, persona, conversation):
    if persona.lorebook is None:
        return
    book = load_book(persona.lorebook)
    if book is None:
        return
    # What the model sees of the chat: no system prompt, tool traffic or blocked messages.
    seen = [m.content for m in conversation.messages
            if m.role in ("user", "assistant") and m.metadata.get("context", True)]
    kept, dropped = select(book, seen[-book.scan_depth:] if book.scan_depth else [])
    if kept:
        block = HEADER + "\n" + "\n".join(persona.render(e.content, _user) for e in kept)
        if position(persona) == "note":
            # The engine places notes just before the newest message: the prompt
            # before them stays cached, whatever fires (docs/architecture.md).
            messages.append({"role": "system", "content": block, "note": True})
        elif messages and messages[0]["role"] == "system":
            # SillyTavern's "after character definitions": best for small models
            # (measured in docs/architecture.md); a change re-reads the history.
            messages[0]["content"] = "\n\n".join(filter(None, [messages[0]["content"].rstrip(), block]))
        else:
            messages.insert(0, {"role": "system", "content": block})
    user = next((m for m in reversed(conversation.messages) if m.role == "user"), None)
    if user is not None and (kept or dropped):
        user.metadata["lore"] = {"fired": [e.name for e in kept], "dropped": [e.name for e in dropped]}
