"""The lorebook file: a Tavern character book read, bounded and parsed into entries.

The shapes accepted and how entries match are documented in ``plugins/lorebook.py``,
which uses this module on every turn; ``persona validate`` uses :func:`check`.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from persona.errors import PackError
from persona.lore_match import KeyList, Matcher

log = logging.getLogger("persona")

MAX_BYTES = 1024 * 1024
# SillyTavern-scale books have hundreds of entries with a handful of keys each;
# these leave an order of magnitude of room and refuse what is not a lorebook.
MAX_ENTRIES = 4096
MAX_KEYS = 64  # per entry, primary and secondary together
MAX_KEY_CHARS = 100
# Keys that can end at one place in the text: a key and the keys it ends with
# ("The Black Gull", "Black Gull", "Gull": 3). Matching costs the chat's length
# times this at most (persona/lore_match.py).
MAX_NESTED_KEYS = 8
DEFAULT_SCAN_DEPTH = 4
MAX_SCAN_DEPTH = 100  # as SillyTavern
DEFAULT_TOKEN_BUDGET = 256
_REGEX_KEY = re.compile(r"/.+/[a-z]*", re.S)


class LoreLimitError(ValueError):
    """A book over one of the size limits above."""


@dataclass
class Entry:
    name: str
    content: str
    keys: int | None  # the matcher slot of the keys; None: fires only if constant
    secondary: int | None  # the slot of the secondary keys; None: no AND condition
    constant: bool
    order: int
    priority: int
    tokens: int


@dataclass
class Book:
    entries: list[Entry]
    scan_depth: int
    token_budget: int
    matcher: Matcher


def decode(path: Path) -> Any:
    """The JSON in ``path``; raises ValueError (too big, not JSON) or OSError."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise LoreLimitError(f"the file is over {MAX_BYTES // 1024} KiB")
    return json.loads(path.read_text(encoding="utf-8-sig"))


def check(path: Path) -> Book:
    """The book at ``path`` for ``persona validate``: any problem is a PackError naming the file."""
    try:
        return parse(decode(path), path.name)
    except LoreLimitError as exc:
        raise PackError(f"lorebook {path} is too big: {exc}",
                        f"split it or trim it: at most {MAX_ENTRIES} entries, {MAX_KEYS} keys an entry, "
                        f"{MAX_KEY_CHARS} characters a key, {MAX_NESTED_KEYS - 1} keys at the end of one key, "
                        f"{MAX_BYTES // 1024} KiB") from None
    except (OSError, ValueError, RecursionError) as exc:
        raise PackError(f"lorebook {path} cannot be used ({type(exc).__name__}: {exc})",
                        "fix the file: a Tavern character book (JSON), as docs/packs.md describes") from None


def parse(data: Any, where: str = "lorebook") -> Book:
    """A Book from any accepted shape; raises ValueError (LoreLimitError over a limit)."""
    if isinstance(data, dict) and isinstance(data.get("data"), dict):
        data = data["data"]
    if isinstance(data, dict) and "character_book" in data:
        data = data["character_book"]
    book = data if isinstance(data, dict) else {"entries": data}
    if not isinstance(book.get("entries"), list):
        raise ValueError("expected a list of entries, or an object with one under 'entries'")
    if len(book["entries"]) > MAX_ENTRIES:
        raise LoreLimitError(f"{len(book['entries'])} entries, more than {MAX_ENTRIES}")
    slots: list[KeyList] = []
    entries = [entry for i, item in enumerate(book["entries"]) if (entry := _entry(item, i, where, slots))]
    depth = min(max(_int(book.get("scan_depth"), DEFAULT_SCAN_DEPTH), 0), MAX_SCAN_DEPTH)
    matcher = Matcher(slots, stop_at=MAX_NESTED_KEYS)
    if matcher.nested > MAX_NESTED_KEYS:
        raise LoreLimitError(f"the key {matcher.nested_key!r:.60} ends with {matcher.nested - 1} other keys, "
                             f"more than {MAX_NESTED_KEYS - 1}")
    return Book(entries, depth, _int(book.get("token_budget"), DEFAULT_TOKEN_BUDGET), matcher)


def _entry(item: Any, index: int, where: str, slots: list[KeyList]) -> Entry | None:
    if not isinstance(item, dict):
        raise ValueError(f"entry {index} is not an object")
    ext = item.get("extensions") if isinstance(item.get("extensions"), dict) else {}
    content = item.get("content") or ""
    if not isinstance(content, str):
        raise ValueError(f"entry {index}: content is not a string")
    keys, secondary = _strings(item.get("keys")), _strings(item.get("secondary_keys"))
    name = str(item.get("name") or item.get("comment") or (keys[0] if keys else f"#{index}"))
    if len(keys) + len(secondary) > MAX_KEYS:
        raise LoreLimitError(f"entry {index} ({name!r:.60}) has {len(keys) + len(secondary)} keys, "
                             f"more than {MAX_KEYS}")
    if any(len(k) > MAX_KEY_CHARS for k in keys + secondary):
        raise LoreLimitError(f"entry {index} ({name!r:.60}) has a key longer than {MAX_KEY_CHARS} characters")
    if not _flag(item.get("enabled"), True) or not content.strip():
        return None  # a disabled entry never fires; an empty one adds nothing
    if item.get("use_regex") or any(_REGEX_KEY.fullmatch(k) for k in keys + secondary):
        log.warning("lorebook %s: entry %r has regex keys, which are not supported; entry skipped", where, name)
        return None
    # SillyTavern writes these two under extensions, and may leave a top-level null.
    case = _flag(_either(item, ext, "case_sensitive"), False)
    whole = _flag(_either(item, ext, "match_whole_words"), True)
    selective = _flag(item.get("selective"), False)

    def slot(found: list[str]) -> int | None:
        if not found:
            return None
        slots.append(KeyList(found, case, whole))
        return len(slots) - 1

    return Entry(name=name, content=content.strip(), keys=slot(keys),
                 secondary=slot(secondary) if selective else None,
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
        raise ValueError(f"keys must be a list of strings, not {value!r:.80}")
    return [v.strip() for v in value if v.strip()]


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, (bool, int)):
        raise ValueError(f"expected true or false, not {value!r:.80}")
    return bool(value)


def _int(value: Any, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected a number, not {value!r:.80}")
    return int(value)
