"""The lorebook file: a Tavern character book or SillyTavern world info, read, bounded and parsed into entries.

The shapes accepted and how entries match are documented in ``plugins/lorebook.py``,
which uses this module on every turn; ``persona validate`` uses :func:`check`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from persona import lore_fields as fields
from persona import paths
from persona.errors import PackError
from persona.lore_fields import DEFAULT_DEPTH
from persona.lore_match import KeyList, Matcher
from persona.lore_regex import MAX_REGEX_CHARS, MAX_REGEX_KEYS, Regexes, compile_key, is_regex

log = logging.getLogger("persona")

SHARED = "lorebooks"  # $PERSONA_HOME/lorebooks/<name>.json
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")  # as pack_schema.json's [lorebook] books

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
# A world-info file has no budget of its own; SillyTavern's default is 25% of the context (4096 here).
WORLD_INFO_BUDGET = 1024
MAX_TIMED = 10_000  # sticky, cooldown, delay: messages
MAX_RECURSION_STEPS = 3  # recursive scans after the first (SillyTavern: unlimited by default)


class LoreLimitError(ValueError):
    """A book over one of the size limits above."""


@dataclass
class Entry:
    name: str
    content: str
    keys: list[int]  # the matcher slots of the primary keys (one a key); none: fires only if constant
    secondary: list[int]  # the slots of the optional filter; empty: no filter
    constant: bool
    order: int
    priority: int
    tokens: int
    uid: str = ""  # the book's name for it (uid or id), for timed effects
    logic: str = "AND ANY"  # how the optional filter combines (lore_fields.LOGIC)
    position: str = "after"  # lore_fields.POSITIONS
    depth: int = DEFAULT_DEPTH
    role: str = "system"
    probability: int = 100  # percent; 100 when useProbability is off
    groups: tuple[str, ...] = ()
    group_override: bool = False
    group_weight: int = 100
    sticky: int = 0
    cooldown: int = 0
    delay: int = 0
    exclude_recursion: bool = False
    prevent_recursion: bool = False
    delay_until_recursion: int = 0  # the recursion step it may first fire in; 0: any
    scan_depth: int | None = None  # None: the book's


@dataclass
class Book:
    entries: list[Entry]
    scan_depth: int
    token_budget: int
    matcher: Matcher
    regexes: Regexes = field(default_factory=lambda: Regexes([], []))
    keys: list[str] = field(default_factory=list)  # slot -> the key as written, for the turn record
    recursive: bool = False
    name: str = "lorebook"


def decode(path: Path) -> Any:
    """The JSON in ``path``; raises ValueError (too big, not JSON) or OSError."""
    with open(path, "rb") as fh:  # bounded while read: the file may change after a stat
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise ValueError("not a regular file")
        raw = fh.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise LoreLimitError(f"the file is over {MAX_BYTES // 1024} KiB")
    return json.loads(raw.decode("utf-8-sig"))


def check(path: Path) -> Book:
    """The book at ``path`` for ``persona validate``: any problem is a PackError naming the file."""
    try:
        return parse(decode(path), path.name)
    except LoreLimitError as exc:
        raise PackError(f"lorebook {path} is too big: {exc}",
                        f"split it or trim it: at most {MAX_ENTRIES} entries, {MAX_KEYS} keys an entry, "
                        f"{MAX_KEY_CHARS} characters a key ({MAX_REGEX_CHARS} a regex key, {MAX_REGEX_KEYS} "
                        f"regex keys a book), {MAX_NESTED_KEYS - 1} keys at the end of one key, "
                        f"{MAX_BYTES // 1024} KiB") from None
    except (OSError, ValueError, RecursionError) as exc:
        raise PackError(f"lorebook {path} cannot be used ({type(exc).__name__}: {exc})",
                        "fix the file: a Tavern character book or a SillyTavern world-info file (JSON), "
                        "as docs/packs.md describes") from None


def parse(data: Any, where: str = "lorebook") -> Book:
    """A Book from any accepted shape; raises ValueError (LoreLimitError over a limit)."""
    if isinstance(data, dict) and isinstance(data.get("data"), dict):
        data = data["data"]
    if isinstance(data, dict) and "character_book" in data:
        data = data["character_book"]
    book = data if isinstance(data, dict) else {"entries": data}
    items = book.get("entries")
    world_info = isinstance(items, dict)  # SillyTavern's own file: entries keyed by uid
    if world_info:
        items = list(items.values())
    if not isinstance(items, list):
        raise ValueError("expected a list of entries, or an object with one under 'entries'")
    if len(items) > MAX_ENTRIES:
        raise LoreLimitError(f"{len(items)} entries, more than {MAX_ENTRIES}")
    slots: list[KeyList] = []
    keys: list[str] = []
    regexes: tuple[list[int], list] = ([], [])
    entries = [entry for i, item in enumerate(items) if (entry := _entry(item, i, where, slots, keys, regexes))]
    depth = fields.bounded(book.get("scan_depth"), DEFAULT_SCAN_DEPTH, 0, MAX_SCAN_DEPTH)
    matcher = Matcher(slots, stop_at=MAX_NESTED_KEYS)
    if matcher.nested > MAX_NESTED_KEYS:
        raise LoreLimitError(f"the key {matcher.nested_key!r:.60} ends with {matcher.nested - 1} other keys, "
                             f"more than {MAX_NESTED_KEYS - 1}")
    # SillyTavern scans recursively by default; a character book says so itself (or not).
    recursive = fields.flag(book.get("recursive_scanning"), world_info)
    budget = fields.integer(book.get("token_budget"), WORLD_INFO_BUDGET if world_info else DEFAULT_TOKEN_BUDGET)
    return Book(entries, depth, budget, matcher,
                Regexes(*regexes), keys, recursive, Path(where).stem)


def _entry(item: Any, index: int, where: str, slots: list[KeyList], names: list[str],
           regexes: tuple[list[int], list]) -> Entry | None:
    if not isinstance(item, dict):
        raise ValueError(f"entry {index} is not an object")
    content = item.get("content") or ""
    if not isinstance(content, str):
        raise ValueError(f"entry {index}: content is not a string")
    keys, secondary = fields.strings(fields.get(item, "keys")), fields.strings(fields.get(item, "secondary"))
    name = str(item.get("name") or item.get("comment") or (keys[0] if keys else f"#{index}"))
    if len(keys) + len(secondary) > MAX_KEYS:
        raise LoreLimitError(f"entry {index} ({name!r:.60}) has {len(keys) + len(secondary)} keys, "
                             f"more than {MAX_KEYS}")
    for key in keys + secondary:
        regex = is_regex(key)
        if len(key) > (MAX_REGEX_CHARS if regex else MAX_KEY_CHARS):
            raise LoreLimitError(f"entry {index} ({name!r:.60}) has a {'regex ' if regex else ''}key longer "
                                 f"than {MAX_REGEX_CHARS if regex else MAX_KEY_CHARS} characters")
    if not fields.enabled(item) or not content.strip():
        return None  # a disabled entry never fires; an empty one adds nothing
    # use_regex is ignored: SillyTavern writes it on every entry it exports, and a
    # key is a regex by its /pattern/flags form alone, as SillyTavern reads it.
    case = fields.flag(fields.get(item, "case_sensitive"), False)
    whole = fields.flag(fields.get(item, "whole_words"), True)
    if fields.integer(fields.get(item, "logic"), 0) not in fields.LOGIC:
        raise ValueError(f"entry {index}: selectiveLogic must be 0-3")

    def slot(key: str) -> int | None:
        if is_regex(key):
            if len(regexes[0]) >= MAX_REGEX_KEYS:
                raise LoreLimitError(f"more than {MAX_REGEX_KEYS} regex keys")
            pattern = compile_key(key, where, name)
            if pattern is None:
                return None
            regexes[0].append(len(names))
            regexes[1].append(pattern)
            slots.append(KeyList([], case, whole))  # a placeholder: the automaton never finds it
        else:
            slots.append(KeyList([key], case, whole))
        names.append(key)
        return len(names) - 1

    primary = [s for k in keys if (s := slot(k)) is not None]
    if keys and not primary and not fields.flag(item.get("constant"), False):
        return None  # every key was refused (already warned): it cannot fire
    # Without `selective` the card spec says the secondary keys are ignored; SillyTavern's
    # own files always set it (true) when they mean the filter.
    selective = fields.flag(item.get("selective"), False)
    use_probability = fields.flag(fields.get(item, "use_probability"), True)
    delay_rec = fields.get(item, "delay_until_recursion")
    position = fields.position(item)
    if position in ("em_top", "em_bottom", "outlet"):
        log.warning("lorebook %s: entry %r: position %s is not supported; placed after the character "
                    "definitions", where, name, position)
        position = "after"
    return Entry(
        name=name, content=content.strip(), keys=primary,
        secondary=[s for k in secondary if (s := slot(k)) is not None] if selective else [],
        constant=fields.flag(item.get("constant"), False),
        order=fields.integer(fields.get(item, "order"), 100),
        priority=fields.integer(item.get("priority"), 0),
        tokens=len(content.strip().encode("utf-8")) // 4 + 1,
        uid=str(item.get("uid", item.get("id", index))),
        logic=fields.LOGIC[fields.integer(fields.get(item, "logic"), 0)],
        position=position,
        depth=fields.bounded(fields.get(item, "depth"), fields.DEFAULT_DEPTH, 0, fields.MAX_DEPTH),
        role=fields.role(item),
        probability=fields.bounded(fields.get(item, "probability"), 100, 0, 100) if use_probability else 100,
        groups=fields.groups(item),
        group_override=fields.flag(fields.get(item, "group_override"), False),
        group_weight=fields.bounded(fields.get(item, "group_weight"), 100, 1, 1_000_000),
        sticky=fields.bounded(fields.get(item, "sticky"), 0, 0, MAX_TIMED),
        cooldown=fields.bounded(fields.get(item, "cooldown"), 0, 0, MAX_TIMED),
        delay=fields.bounded(fields.get(item, "delay"), 0, 0, MAX_TIMED),
        exclude_recursion=fields.flag(fields.get(item, "exclude_recursion"), False),
        prevent_recursion=fields.flag(fields.get(item, "prevent_recursion"), False),
        delay_until_recursion=(int(delay_rec) if isinstance(delay_rec, bool)
                               else fields.bounded(delay_rec, 0, 0, MAX_RECURSION_STEPS + 1)),
        scan_depth=None if fields.get(item, "scan_depth") is None
        else fields.bounded(fields.get(item, "scan_depth"), DEFAULT_SCAN_DEPTH, 0, MAX_SCAN_DEPTH),
    )


def shared_path(name: str) -> Path | None:
    """``$PERSONA_HOME/lorebooks/<name>.json``, or None (after a warning) for a name or file outside that folder."""
    folder = paths.home() / SHARED
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        log.warning("lorebook name %r is not a plain name (letters, digits, - and _); skipped", str(name)[:80])
        return None
    path = folder / f"{name}.json"
    try:
        resolved, root = path.resolve(strict=True), folder.resolve(strict=True)
    except OSError as exc:
        log.warning("shared lorebook %s cannot be read (%s); skipped", path, exc)
        return None
    if not resolved.is_relative_to(root):
        log.warning("shared lorebook %s leads outside %s; skipped", path, folder)
        return None
    if not resolved.is_file():  # a FIFO would block the open
        log.warning("shared lorebook %s is not a regular file; skipped", path)
        return None
    return resolved
