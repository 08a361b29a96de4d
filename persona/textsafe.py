"""Untrusted text (packs, model output, tool results) made safe to write to a terminal, as text or JSON."""

from __future__ import annotations

import json
from typing import Any

# Packs, model replies, tool results and stored titles are untrusted. Written raw,
# ESC (CSI `\x1b[2J`, OSC 0 window titles, OSC 8 links, OSC 52 clipboard writes),
# the C1 bytes U+0080–U+009F (U+009B is a one-byte CSI, U+009D a one-byte OSC)
# and the other C0 controls drive the terminal. Every control character is shown
# instead: C0 and DEL as their U+2400 symbols (ESC → ␛, BEL → ␇, CR → ␍, DEL → ␡),
# C1 as the text ``\x9b``. The mapping is per character, so it runs in linear time,
# needs no parsing of sequences, and sanitising a stream chunk by chunk gives the
# same text as sanitising it whole (a sequence split across tokens is still caught).
# Applying it twice changes nothing.
_MULTI_LINE = {c: chr(0x2400 + c) for c in range(0x20) if c not in (0x09, 0x0A)}
_MULTI_LINE[0x7F] = "\u2421"
_MULTI_LINE.update({c: f"\\x{c:02x}" for c in range(0x80, 0xA0)})
# Bidi embeddings, overrides and isolates (U+202A-202E, U+2066-2069) reorder what is shown
# after them ("Trojan Source"): a pack name could display as another. Shown as \u202e text;
# right-to-left scripts need none of them to display correctly.
_MULTI_LINE.update({c: f"\\u{c:04x}" for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]})
# A table cell or a `key: value` line: a newline or tab in it would fake a row.
_ONE_LINE = {**_MULTI_LINE, 0x09: "\u2409", 0x0A: "\u240a"}


def sanitize(text: str, one_line: bool = False) -> str:
    """``text`` with every control character shown visibly; \\n and \\t kept unless ``one_line``."""
    return str(text).translate(_ONE_LINE if one_line else _MULTI_LINE)


# json.dumps(ensure_ascii=False) escapes C0 (\u001b) but writes C1, DEL and the
# JavaScript line separators raw. Inside JSON they can only occur in strings, so
# writing them as \u escapes keeps the document valid and equal once parsed.
_JSON_RAW = {c: f"\\u{c:04x}" for c in [0x7F, *range(0x80, 0xA0), 0x2028, 0x2029]}


def dumps_json(data: Any, **kwargs: Any) -> str:
    """``json.dumps(data, ensure_ascii=False, **kwargs)`` with C1, DEL, U+2028 and U+2029 escaped too."""
    return json.dumps(data, ensure_ascii=False, **kwargs).translate(_JSON_RAW)
