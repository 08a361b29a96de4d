"""Read a source file as text: size and line-length bounds, binary check, encoding detection.

Valid UTF-8 (with or without BOM) takes a fast path; anything else goes to
charset-normalizer, because guessing GBK/GB18030/Big5 by hand is exactly the
kind of thing a well-kept library does better.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from persona.data.records import DataError

MAX_BYTES = 200 * 1024 * 1024  # a script or novel is a few MB; 200 MB means a wrong file
# The script and prose parsers work line by line in linear time; this bounds one
# line's work as well. A novel's paragraph is a few thousand characters; a longer
# "line" is a file whose line breaks we do not read (a Word export, U+2028) or not prose.
MAX_LINE_CHARS = 100_000
_SNIFF = 8192

# charset-normalizer may name a subset of GB18030 for short texts; GB18030 decodes
# all of them, so report the superset and never fail on a rarer character later.
_GB_FAMILY = {"gbk", "gb2312", "hz", "gb18030", "cp936"}


def read_text(path: str | Path) -> tuple[str, str]:
    """Return ``(text, encoding)`` with newlines normalised to ``\\n`` and any BOM removed."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise DataError(f"{path} is {size / 2**20:.0f} MB, more than the {MAX_BYTES // 2**20} MB limit",
                            "split the file into parts (e.g. one per episode or book) and extract each")
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}", "check the path and the file's permissions") from None
    text, encoding = decode(data, str(path))
    return text.replace("\r\n", "\n").replace("\r", "\n"), encoding


def decode(data: bytes, name: str = "input") -> tuple[str, str]:
    if not data.strip():
        raise DataError(f"{name} is empty", "pass a script, novel or ShareGPT/Alpaca file with some dialogue in it")
    utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    if not utf16 and b"\x00" in data[:_SNIFF]:
        raise DataError(f"{name} looks binary (it contains NUL bytes), not text",
                        "pass a plain-text script (.txt, .fountain) or a .json/.jsonl dataset, not a .docx/.pdf/archive")
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data.decode("utf-8-sig"), "utf-8-sig"
        except UnicodeDecodeError:
            pass  # a BOM followed by non-UTF-8 bytes: let the detector decide
    else:
        try:
            return data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass

    from charset_normalizer import from_bytes  # only files that are not UTF-8 pay for the import

    # Short files (a scene or two) carry little evidence and the default chaos
    # threshold rejects every candidate; a second, more tolerant pass rescues them.
    best = from_bytes(data).best() or from_bytes(data, threshold=0.5).best()
    if best is None:
        raise DataError(f"{name} is not text in any encoding we could detect",
                        "convert it to UTF-8 (e.g. `iconv -f GB18030 -t UTF-8`) or pass the right file")
    encoding = best.encoding.lower().replace("_", "")
    if encoding in _GB_FAMILY:
        return data.decode("gb18030", errors="replace"), "gb18030"
    text = str(best)
    return text.lstrip("\ufeff"), best.encoding


def check_lines(text: str, name: str = "input") -> None:
    """Raise DataError if a line of ``text`` is over MAX_LINE_CHARS (what the line-based parsers accept)."""
    start = 0
    # Window by window, in C: a line from ``start`` that is too long has no newline in its window.
    while len(text) - start > MAX_LINE_CHARS:
        newline = text.rfind("\n", start, start + MAX_LINE_CHARS + 1)
        if newline < 0:
            end = text.find("\n", start)
            length, line = (len(text) if end < 0 else end) - start, text.count("\n", 0, start) + 1
            raise DataError(f"{name}: line {line} is {length:,} characters, more "
                            f"than the {MAX_LINE_CHARS:,} a script or novel line may have",
                            "break the text into lines (one speech or paragraph each), or pass --format "
                            "sharegpt/alpaca if it is a JSON dataset")
        start = newline + 1
