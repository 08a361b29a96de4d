"""Lorebook regex keys: SillyTavern's ``/pattern/flags`` keys, run on RE2 (linear time).

A key is a regex when it has SillyTavern's form: it starts with ``/``, ends with
``/`` and some flag letters, and has no unescaped ``/`` in between
(``/a/b/`` is a plain key). ``\\/`` in the pattern is a slash. Flags ``i``, ``s``,
``m`` become RE2's inline flags; ``u`` is what RE2 does anyway; ``g``, ``y``
and the rest mean nothing to a yes/no search and are ignored with a warning.
Regex keys ignore the entry's ``caseSensitive`` and ``matchWholeWords``, as in
SillyTavern: the flags say it all.

RE2 has no backtracking, so a search costs the text's length whatever the
pattern (backreferences and lookaround, which need backtracking, are refused
with a warning and the key is dropped). A book may hold at most
:data:`MAX_REGEX_KEYS` regex keys of at most :data:`MAX_REGEX_CHARS` characters,
each compiled within :data:`MAX_PROGRAM_BYTES`: a turn costs the scanned text
times the number of regex keys, counted in :attr:`Regexes.scanned`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

log = logging.getLogger("persona")

MAX_REGEX_KEYS = 64  # per book
MAX_REGEX_CHARS = 500  # SillyTavern's sample regex keys are under 200
MAX_PROGRAM_BYTES = 1 << 20  # RE2's memory budget per pattern: a bigger program is refused
_FLAGS = {"i": "i", "s": "s", "m": "m", "u": ""}
_IGNORED = set("gydv")


def split(key: str) -> tuple[str, str] | None:
    """``(pattern, flags)`` if ``key`` has SillyTavern's regex form, else None (a plain key)."""
    if len(key) < 3 or not key.startswith("/"):
        return None
    end = key.rfind("/")
    flags = key[end + 1:]
    if end < 2 or not all("a" <= c <= "z" for c in flags):
        return None
    pattern = key[1:end]
    escaped = False
    for ch in pattern:  # an unescaped "/" inside means it was not meant as a regex
        if ch == "/" and not escaped:
            return None
        escaped = ch == "\\" and not escaped
    return pattern.replace("\\/", "/"), flags


def is_regex(key: str) -> bool:
    return split(key) is not None


def compile_key(key: str, where: str, entry: str):
    """The compiled RE2 pattern of a regex key, or None (after a warning) if RE2 refuses it."""
    import re2  # a C extension, only for books with regex keys

    pattern, flags = split(key)  # type: ignore[misc]
    unknown = sorted({c for c in flags if c not in _FLAGS})
    if unknown:
        meaning = "mean nothing to a search" if set(unknown) <= _IGNORED else "are not known"
        log.warning("lorebook %s: entry %r: regex flags %s %s; ignored", where, entry, "".join(unknown), meaning)
    inline = "".join(sorted({_FLAGS[c] for c in flags if c in _FLAGS} - {""}))
    options = re2.Options()
    options.max_mem = MAX_PROGRAM_BYTES
    options.log_errors = False
    options.never_capture = True  # a yes/no search needs no groups
    try:
        return re2.compile((f"(?{inline})" if inline else "") + pattern, options)
    except Exception as exc:  # re2.error: its message is bytes
        why = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        log.warning("lorebook %s: entry %r: regex key %r refused (%s; RE2 has no backreferences or "
                    "lookaround); key ignored", where, entry, key[:80], why)
        return None


@dataclass
class Regexes:
    """A book's regex keys, each searched for in each message on its own."""

    slots: Sequence[int]  # the key slot of each pattern
    patterns: Sequence  # compiled RE2 patterns
    scanned: int = 0  # characters searched, for tests that count work

    def nearest(self, texts: Sequence[str]) -> dict[int, int]:
        """slot -> how far from the newest text (0) its pattern is first found."""
        out: dict[int, int] = {}
        for distance, text in enumerate(reversed(texts)):
            for slot, pattern in zip(self.slots, self.patterns):
                if slot in out:
                    continue
                self.scanned += len(text)
                if pattern.search(text):
                    out[slot] = distance
        return out
