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
  exports it) gives substring matching. A space in a key matches any whitespace.
- ``selective: true`` needs a primary AND a secondary key; without it the spec
  says ``secondary_keys`` are ignored. ``constant`` entries always fire,
  ``enabled: false`` ones never.
- Regex keys (``/pattern/i``, ``use_regex``) are refused with a warning: packs
  are untrusted and Python's ``re`` has no timeout.

Budget: an entry costs UTF-8 bytes // 4 + 1 tokens (English ~4 characters a
token, a CJK character ~0.75); it bounds lore only, the engine's context assembly
enforces the real window later. Over ``token_budget`` (default 256) the lowest
priority goes first, as the spec says: constants rank first, then higher
``priority``, then higher ``insertion_order`` (SillyTavern's order); once one
entry does not fit, it and all below it are dropped. Kept entries are written in
ascending ``insertion_order`` ("lower = inserted higher") under "Facts you know:".
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from persona.hookspecs import hookimpl

log = logging.getLogger("persona")

MAX_BYTES = 1024 * 1024
DEFAULT_SCAN_DEPTH = 4
MAX_SCAN_DEPTH = 100  # as SillyTavern
DEFAULT_TOKEN_BUDGET = 256
HEADER = "Facts you know:"
_REGEX_KEY = re.compile(r"/.+/[a-z]*", re.S)
_EDGE = "[A-Za-z0-9]"


@dataclass
class Entry:
    name: str
    content: str
    keys: re.Pattern[str] | None  # None: fires only if constant
    secondary: re.Pattern[str] | None  # None: no AND condition
    constant: bool
    order: int
    priority: int
    tokens: int


@dataclass
class Book:
    entries: list[Entry]
    scan_depth: int
    token_budget: int


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
    if st.st_size > MAX_BYTES:
        log.warning("lorebook %s is over %d KiB; lore skipped", path, MAX_BYTES // 1024)
    else:
        try:
            book = parse(json.loads(path.read_text(encoding="utf-8-sig")), path.name)
        except Exception as exc:  # anything wrong with a pack's file skips lore, never the turn
            log.warning("lorebook %s is malformed (%s: %s); lore skipped", path, type(exc).__name__, exc)
    _cache[path] = (stamp, book)
    return book


def parse(data: Any, where: str = "lorebook") -> Book:
    """A Book from any accepted shape (see the module docstring); raises ValueError."""
    if isinstance(data, dict) and isinstance(data.get("data"), dict):
        data = data["data"]
    if isinstance(data, dict) and "character_book" in data:
        data = data["character_book"]
    book = data if isinstance(data, dict) else {"entries": data}
    if not isinstance(book.get("entries"), list):
        raise ValueError("expected a list of entries, or an object with one under 'entries'")
    entries = [entry for i, item in enumerate(book["entries"]) if (entry := _entry(item, i, where))]
    depth = min(max(_int(book.get("scan_depth"), DEFAULT_SCAN_DEPTH), 0), MAX_SCAN_DEPTH)
    return Book(entries, depth, _int(book.get("token_budget"), DEFAULT_TOKEN_BUDGET))


def _entry(item: Any, index: int, where: str) -> Entry | None:
    if not isinstance(item, dict):
        raise ValueError(f"entry {index} is not an object")
    ext = item.get("extensions") if isinstance(item.get("extensions"), dict) else {}
    content = item.get("content") or ""
    if not isinstance(content, str):
        raise ValueError(f"entry {index}: content is not a string")
    keys, secondary = _strings(item.get("keys")), _strings(item.get("secondary_keys"))
    name = str(item.get("name") or item.get("comment") or (keys[0] if keys else f"#{index}"))
    if not _flag(item.get("enabled"), True) or not content.strip():
        return None  # a disabled entry never fires; an empty one adds nothing
    if item.get("use_regex") or any(_REGEX_KEY.fullmatch(k) for k in keys + secondary):
        log.warning("lorebook %s: entry %r has regex keys, which are not supported; entry skipped", where, name)
        return None
    # SillyTavern writes these two under extensions, and may leave a top-level null.
    case = _flag(_either(item, ext, "case_sensitive"), False)
    whole = _flag(_either(item, ext, "match_whole_words"), True)
    selective = _flag(item.get("selective"), False)
    return Entry(name=name, content=content.strip(),
                 keys=_pattern(keys, case, whole),
                 secondary=_pattern(secondary, case, whole) if selective else None,
                 constant=_flag(item.get("constant"), False),
                 order=_int(item.get("insertion_order"), 100),
                 priority=_int(item.get("priority"), 0),
                 tokens=len(content.strip().encode("utf-8")) // 4 + 1)


def _either(item: dict[str, Any], ext: dict[str, Any], key: str) -> Any:
    return item[key] if item.get(key) is not None else ext.get(key)


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):  # V3 describes secondary_keys as comma-separated text
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"keys must be a list of strings, not {value!r}")
    return [v.strip() for v in value if v.strip()]


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, (bool, int)):
        raise ValueError(f"expected true or false, not {value!r}")
    return bool(value)


def _int(value: Any, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number, not {value!r}")
    return int(value)


def _pattern(keys: list[str], case_sensitive: bool, whole_words: bool) -> re.Pattern[str] | None:
    if not keys:
        return None

    def edge(char: str) -> bool:
        return whole_words and char.isascii() and char.isalnum()

    parts = [(f"(?<!{_EDGE})" if edge(key[0]) else "") + r"\s+".join(map(re.escape, key.split()))
             + (f"(?!{_EDGE})" if edge(key[-1]) else "") for key in keys]
    return re.compile("|".join(f"(?:{p})" for p in parts), 0 if case_sensitive else re.IGNORECASE)


def select(book: Book, texts: list[str]) -> tuple[list[Entry], list[Entry]]:
    """The entries that fire on ``texts``, as (kept in prompt order, dropped for the budget)."""
    def found(pattern: re.Pattern[str] | None) -> bool:
        return pattern is not None and any(pattern.search(t) for t in texts)

    fired = [e for e in book.entries
             if e.constant or (found(e.keys) and (e.secondary is None or found(e.secondary)))]
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
