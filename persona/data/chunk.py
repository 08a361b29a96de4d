"""Cut a novel into paragraphs of about N characters at sentence ends (``persona data chunk``).

The teacher step (``persona data synth``) summarises or mines each chunk, so a
chunk must be whole sentences: it is cut only where a sentence ends (``。！？…``
and ``.!?…`` before a space, each with its closing quotes and brackets) or a
paragraph ends. A chunk is at most ``size`` characters, or one sentence longer
than that. Chapter title lines (``第N回``, ``第N章``, ``Chapter N``) are kept as
each chunk's ``chapter`` and never inside its text. One pass over the characters,
no backtracking patterns: linear in the input.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from persona.data.records import DataError
from persona.data.textio import check_lines, read_text

ZH_ENDS = frozenset("。！？!?…")
EN_ENDS = frozenset(".!?…")
CLOSERS = frozenset("”’\"'」』）)】》〉]")
# Short forms whose full stop does not end an English sentence.
_ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "st", "mt", "jr", "sr", "vs", "etc", "no", "prof", "capt"})
MAX_TITLE_CHARS = 60  # a chapter title is one short line; the patterns only see lines this short
# Possessive repeats of single characters: the shape tests/test_parser_complexity.py proves linear.
ZH_CHAPTER = re.compile(r"^第[0-9０-９零〇一二三四五六七八九十百千两]{1,8}+[回章节卷](?:[\s:：].*+)?+")
EN_CHAPTER = re.compile(r"^(?:chapter|book|part)[ \t]++(?:[0-9]{1,5}+|[ivxlcdm]{1,12}+)\b.*+", re.IGNORECASE)


@dataclass
class Chunk:
    id: str        # the first 16 hex digits of the text's SHA-256: the cache key of every teacher answer
    chapter: str   # the chapter title line above it, "" before the first
    index: int     # 0-based position in the novel
    text: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


def chunk_id(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def chapter_title(line: str) -> str | None:
    """The line as a chapter title, or None when it is prose."""
    line = line.strip()
    if not line or len(line) > MAX_TITLE_CHARS:
        return None
    return line if ZH_CHAPTER.fullmatch(line) or EN_CHAPTER.fullmatch(line) else None


def sentences(paragraph: str, lang: str = "auto") -> Iterator[str]:
    """The sentences of one paragraph, each with its end mark and closing quotes; the rest is the last."""
    ends = ZH_ENDS if lang == "zh" else ZH_ENDS | EN_ENDS if lang == "auto" else EN_ENDS | {"！", "？", "。"}
    n, start, i = len(paragraph), 0, 0
    while i < n:
        c = paragraph[i]
        i += 1
        if c not in ends:
            continue
        while i < n and (paragraph[i] in ends or paragraph[i] in CLOSERS):
            i += 1
        if c in EN_ENDS and c not in ZH_ENDS:
            # An ASCII mark ends a sentence only before a space (3.14, e.g., "a.m." go on),
            # and a full stop not after a short form (Mr. Smith).
            if i < n and not paragraph[i].isspace():
                continue
            if c == "." and _after_abbreviation(paragraph, start, i):
                continue
        yield paragraph[start:i].strip()
        start = i
    rest = paragraph[start:].strip()
    if rest:
        yield rest


def _after_abbreviation(text: str, start: int, end: int) -> bool:
    dot = text.rfind(".", start, end)
    space = max(text.rfind(" ", start, dot), start - 1)
    word = text[space + 1:dot].lower()
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def paragraphs(text: str) -> Iterator[tuple[bool, str]]:
    """``(is_title, text)`` for each chapter title and paragraph. A line that does not end a
    sentence runs on into the next (hard-wrapped English); a blank line or a title ends it."""
    current: list[str] = []

    def joined() -> str:
        out = current[0]
        for piece in current[1:]:
            cjk = out[-1] >= "\u3000" and piece[0] >= "\u3000"
            out += piece if cjk else " " + piece
        return out

    for raw in text.split("\n"):
        line = raw.strip()
        title = chapter_title(line)
        if current and (not line or title is not None or _ends_sentence(current[-1])):
            yield False, joined()
            current = []
        if title is not None:
            yield True, title
        elif line:
            current.append(line)
    if current:
        yield False, joined()


def _ends_sentence(line: str) -> bool:
    i = len(line)
    while i and line[i - 1] in CLOSERS:
        i -= 1
    return bool(i) and (line[i - 1] in ZH_ENDS or line[i - 1] in EN_ENDS)


def chunk_text(text: str, size: int = 800, lang: str = "auto") -> list[Chunk]:
    """Chunks of at most ``size`` characters (or one longer sentence), paragraph breaks kept as ``\\n``."""
    if size < 1:
        raise DataError(f"--size must be at least 1, not {size}", "pass a size in characters, e.g. --size 800")
    out: list[Chunk] = []
    chapter, parts, length = "", [], 0
    joiner = " " if lang == "en" else ""

    def flush() -> None:
        nonlocal parts, length
        body = "\n".join(p for p in (joiner.join(s) for s in parts) if p).strip()
        if body:
            out.append(Chunk(chunk_id(body), chapter, len(out), body))
        parts, length = [], 0

    for title, line in paragraphs(text):
        if title:
            flush()
            chapter = line
            continue
        parts.append([])
        for sentence in sentences(line, lang):
            if length and length + len(sentence) > size:
                flush()
                parts.append([])
            parts[-1].append(sentence)
            length += len(sentence)
        length += 1  # the paragraph break
    flush()
    return out


def chunk_file(path: str | Path, size: int = 800, lang: str = "auto") -> tuple[list[Chunk], str]:
    """``(chunks, encoding)`` of a novel file, read as ``data extract`` reads it."""
    text, encoding = read_text(path)
    check_lines(text, str(path))
    chunks = chunk_text(text, size, lang)
    if not chunks:
        raise DataError(f"{path} has no prose to chunk", "pass a novel or other prose text file")
    return chunks, encoding


def read_chunks(path: str | Path) -> list[Chunk]:
    """The chunks in a ``chunks.jsonl`` written by ``persona data chunk``."""
    from persona.jsonlimits import loads

    hint = "pass a chunks.jsonl written by `persona data chunk NOVEL -o chunks.jsonl`"
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}", hint) from None
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text, so not a chunks file", hint) from None
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = loads(line)
            if "id" not in data:  # a record without one is not ours
                raise KeyError("id")
            text = str(data["text"])
            # The id is recomputed: a text edited by hand must not reuse the old text's cached answers.
            chunk = Chunk(chunk_id(text), str(data.get("chapter") or ""), int(data["index"]), text)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise DataError(f"{path}:{n}: not a chunk record", f'each line is {{"id", "chapter", "index", "text"}}; {hint}') from None
        if not chunk.text.strip():
            raise DataError(f"{path}:{n}: a chunk with no text", hint)
        out.append(chunk)
    if not out:
        raise DataError(f"{path} has no chunks", hint)
    return out
