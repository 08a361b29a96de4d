"""Turn a script, novel or chat dataset into utterances: ``persona data extract``.

``extract(path, fmt)`` reads the file (:mod:`persona.data.textio`), picks the
format (or detects it from cheap, explainable signals: the share of lines or
blocks each format's patterns match) and runs that format's parser
(:mod:`persona.data.formats`, or the ShareGPT/Alpaca converters below).
Work per file is bounded: textio's size limit, then for the line-based formats
textio's line-length limit; every parser and the detection are linear in the text.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from persona.data import formats as F
from persona.data.records import DataError, Utterance
from persona.data.textio import check_lines, read_text

FORMATS = ("auto", "zh-script", "stageplay", "fountain", "prose", "sharegpt", "alpaca")
SNIFF_LINES = 20000  # detection looks at the start of the file only; enough for any real script
LINE_FORMATS = ("zh-script", "stageplay", "fountain", "prose")  # parsed line by line: line length bounded
_NEWLINE = re.compile("\n")


@dataclass
class Extraction:
    format: str  # the format used
    detected: bool  # True when the format was auto-detected
    encoding: str  # e.g. "utf-8-sig", "gb18030"
    utterances: list[Utterance]  # kind="speech"
    narration: list[Utterance]  # kind="narration": stage directions / narration, kept separately
    skipped: list[tuple[int, str]]  # (line, reason) for lines that could not be parsed (headers are not skipped)
    scores: dict[str, float] = field(default_factory=dict)  # detection signal per format, when detected


def extract(path: str | Path, fmt: str = "auto") -> Extraction:
    """Extract utterances from ``path`` in format ``fmt`` (one of FORMATS)."""
    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r}", f"use one of: {', '.join(FORMATS)}")
    text, encoding = read_text(path)
    scores: dict[str, float] = {}
    detected = fmt == "auto"
    if detected:
        scores = detect(text)
        # dict order breaks ties (scripts before prose); with no signal at all, prose
        # is the most forgiving guess and its failure message still names it.
        fmt = max(scores, key=scores.get) if any(scores.values()) else "prose"
    if fmt in LINE_FORMATS:
        check_lines(text, str(path))
    parsed = PARSERS[fmt](text)
    if not parsed.utterances:
        how = "detected" if detected else "chosen"
        others = ", ".join(f for f in FORMATS[1:] if f != fmt)
        raise DataError(f"{path}: no utterances found with format {fmt} ({how})",
                        f"check the file, or pass --format with one of: {others}")
    return Extraction(fmt, detected, encoding, parsed.utterances, parsed.narration, parsed.skipped, scores)


# --- detection ------------------------------------------------------------------

def detect(text: str) -> dict[str, float]:
    """Score each format in [0, 1]; the highest wins.

    zh-script: share of non-blank lines that are ``名字：``, ``（…）`` or 第N集/幕 headers.
    stageplay / fountain: share of blank-separated blocks that start with a cue
    (fountain also needs an INT./EXT. heading). prose: share of paragraphs with a
    quote, halved so that scripts with quoted words inside speeches win.
    sharegpt / alpaca: the text is JSON(L) whose records have those keys.
    """
    scores = dict.fromkeys(FORMATS[1:], 0.0)
    head = text.lstrip()[:1]
    if head in "[{" and head:
        records = _records(text, strict=False)
        if records:
            first = records[0][1]
            if isinstance(first, dict) and ("conversations" in first or "messages" in first):
                scores["sharegpt"] = 1.0
            elif isinstance(first, dict) and "instruction" in first and "output" in first:
                scores["alpaca"] = 1.0
            return scores
    lines = [line.strip() for line in text.split("\n", SNIFF_LINES)[:SNIFF_LINES] if line.strip()]
    if not lines:
        return scores
    zh = sum(1 for line in lines if _is_zh_line(line))
    scores["zh-script"] = zh / len(lines)
    blocks = F._blocks("\n".join(text.split("\n", SNIFF_LINES)[:SNIFF_LINES]))
    if blocks:
        play = sum(1 for b in blocks if F.CUE.match(b[0][1]) or F.PLAY_ACT.match(b[0][1])
                   or F.PLAY_SCENE.match(b[0][1]) or F.INLINE_CUE.match(b[0][1]))
        scores["stageplay"] = play / len(blocks)
        headings = sum(1 for b in blocks if len(b) == 1 and F.FT_HEADING.match(b[0][1]))
        cues = sum(1 for b in blocks if len(b) > 1 and F.FT_CUE.match(b[0][1]) and any(c.isalpha() for c in b[0][1]))
        scores["fountain"] = (headings + cues) / len(blocks) if headings else 0.0
    paras = F._paragraphs("\n".join(lines[:SNIFF_LINES]))
    if paras:
        scores["prose"] = 0.5 * sum(1 for _, p in paras if F.QUOTE.search(p)) / len(paras)
    return scores


def _is_zh_line(line: str) -> bool:
    if F.ZH_EPISODE.match(line) or F.ZH_SCENE.match(line):
        return True
    if F.ZH_STAGE.match(line) and any("\u4e00" <= ch <= "\u9fff" for ch in line):
        return True
    m = F.ZH_SPEAKER.match(line)
    # 宝玉笑道：“…” is a novel's attribution, not a script's speaker line.
    return bool(m and m["sep"] in F.ZH_STRONG_SEPS and not m["text"].startswith(("“", "「", '"')) and any("\u4e00" <= ch <= "\u9fff" for ch in m["name"]))


# --- ShareGPT / Alpaca ------------------------------------------------------------

ROLE_SPEAKERS = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "model": "assistant"}


def parse_sharegpt(text: str) -> F.Parsed:
    """ShareGPT ``conversations`` (``from``/``value``) or chat ``messages`` (``role``/``content``).

    One scene per conversation. ``human`` speaks as "user", ``gpt`` as
    "assistant" unless the turn (or the record: ``name``/``character``) names it;
    ``system``, ``function_call`` and ``observation`` turns are not speech and go
    to narration with their role in ``extra``.
    """
    out = F.Parsed()
    for n, (line, rec) in enumerate(_records(text), 1):
        turns = rec.get("conversations") or rec.get("messages") if isinstance(rec, dict) else None
        if not isinstance(turns, list):
            out.skipped.append((line, "record has no conversations/messages list"))
            continue
        scene = str(rec.get("id") or f"conversation {n}")
        bot = rec.get("name") or rec.get("character")
        if rec.get("system"):
            out.narrate(scene, str(rec["system"]), line, role="system")
        for turn in turns:
            if not isinstance(turn, dict):
                continue
            role = str(turn.get("from") or turn.get("role") or "")
            value = str(turn.get("value") if "value" in turn else turn.get("content") or "").strip()
            speaker = ROLE_SPEAKERS.get(role)
            if not value:
                continue
            if speaker is None:
                out.narrate(scene, value, line, role=role)
                continue
            if turn.get("name"):
                speaker = str(turn["name"])
            elif speaker == "assistant" and bot:
                speaker = str(bot)
            out.say(scene, speaker, value, line, role=role)
    return out


def parse_alpaca(text: str) -> F.Parsed:
    """Alpaca ``instruction`` (+ ``input``) / ``output``, with optional ``history`` and ``system``."""
    out = F.Parsed()
    for n, (line, rec) in enumerate(_records(text), 1):
        if not isinstance(rec, dict) or "instruction" not in rec or "output" not in rec:
            out.skipped.append((line, "record has no instruction/output"))
            continue
        scene = f"record {n}"
        if rec.get("system"):
            out.narrate(scene, str(rec["system"]), line, role="system")
        for pair in rec.get("history") or []:
            if isinstance(pair, list) and len(pair) == 2:
                out.say(scene, "user", str(pair[0]), line)
                out.say(scene, "assistant", str(pair[1]), line)
        prompt = "\n".join(s for s in (str(rec["instruction"]).strip(), str(rec.get("input") or "").strip()) if s)
        out.say(scene, "user", prompt, line)
        out.say(scene, "assistant", str(rec["output"]).strip(), line)
    return out


def _records(text: str, strict: bool = True) -> list[tuple[int, Any]]:
    """``(line, record)`` for a JSON array, a single object, or JSON Lines.

    Records of an array are decoded one at a time so each keeps the line it
    starts on, which the ``line`` field and error messages need.
    """
    newlines = [m.start() for m in _NEWLINE.finditer(text)]

    def line_of(pos: int) -> int:
        return bisect.bisect_left(newlines, pos) + 1

    decoder = json.JSONDecoder()
    out: list[tuple[int, Any]] = []
    stripped = text.lstrip()
    start = len(text) - len(stripped)
    try:
        if stripped.startswith("["):
            pos = start + 1
            while True:
                while pos < len(text) and text[pos] in " \t\r\n,":
                    pos += 1
                if pos >= len(text) or text[pos] == "]":
                    break
                obj, end = decoder.raw_decode(text, pos)
                out.append((line_of(pos), obj))
                pos = end
            return out
        obj, end = decoder.raw_decode(text, start)
        if not text[end:].strip():
            return [(line_of(start), obj)]
        out.append((line_of(start), obj))
        for n, line in enumerate(text[end:].split("\n"), line_of(end)):
            if line.strip():
                out.append((n, json.loads(line)))
        return out
    except (ValueError, RecursionError) as exc:  # json.loads recurses once a level: "[[[[…" ends here
        if not strict:
            return out
        if isinstance(exc, RecursionError):
            exc = "nested too deeply"
        raise DataError(f"not valid JSON / JSON Lines: {exc}",
                        "ShareGPT/Alpaca input is a JSON array or one JSON object per line") from None


PARSERS = {
    "zh-script": F.parse_zh_script,
    "stageplay": F.parse_stageplay,
    "fountain": F.parse_fountain,
    "prose": F.parse_prose,
    "sharegpt": parse_sharegpt,
    "alpaca": parse_alpaca,
}
