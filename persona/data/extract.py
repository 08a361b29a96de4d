"""Turn a script, novel or chat dataset into utterances: ``persona data extract``.

``extract(path, fmt)`` reads the file (:mod:`persona.data.textio`), picks the
format (or detects it: :mod:`persona.data.detect` scores every format from
evidence counted over the whole file, and keeps the evidence so that
``--explain`` can show why) and runs that format's parser
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
from persona.data.detect import Candidate, best_layout, candidates, play_layouts
from persona.data.records import DataError, Utterance
from persona.data.textio import check_lines, read_text

FORMATS = ("auto", "zh-script", "stageplay", "fountain", "prose", "sharegpt", "alpaca")
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
    candidates: list[Candidate] = field(default_factory=list)  # the evidence behind scores, in FORMATS order
    layout: str = ""  # stageplay: "cue-alone" (NAME: alone on its line) or "inline" (NAME: text)


def extract(path: str | Path, fmt: str = "auto", explain: bool = False) -> Extraction:
    """Extract utterances from ``path`` in format ``fmt`` (one of FORMATS).

    The detection's evidence is kept when the format is detected, or when
    ``explain`` asks for it with a format chosen by hand.
    """
    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r}", f"use one of: {', '.join(FORMATS)}")
    text, encoding = read_text(path)
    detected = fmt == "auto"
    found = score_formats(text) if detected or explain else []
    scores = dict.fromkeys(FORMATS[1:], 0.0)
    for c in found:
        scores[c.format] = max(scores[c.format], c.score)
    if detected:
        # FORMATS order breaks ties (scripts before prose); with no signal at all, prose
        # is the most forgiving guess and its failure message still names it.
        fmt = max(scores, key=scores.get) if any(scores.values()) else "prose"
    if fmt in LINE_FORMATS:
        check_lines(text, str(path))
    layout = ""
    if fmt == "stageplay":
        layout = best_layout(found or play_layouts(*_stripped(text)))
        parsed = F.parse_transcript(text) if layout == "inline" else F.parse_stageplay(text)
    else:
        parsed = PARSERS[fmt](text)
    if not parsed.utterances:
        how = "detected" if detected else "chosen"
        others = ", ".join(f for f in FORMATS[1:] if f != fmt)
        why = next((f" (read as {fmt} because {c.why})" for c in found
                    if c.format == fmt and c.layout == layout and c.score), "")
        raise DataError(f"{path}: no utterances found with format {fmt} ({how}){why}",
                        f"check the file, or pass --format with one of: {others}; --explain shows every "
                        "format's evidence")
    return Extraction(fmt, detected, encoding, parsed.utterances, parsed.narration, parsed.skipped,
                      scores if detected else {}, found, layout)


# --- detection ------------------------------------------------------------------

def score_formats(text: str) -> list[Candidate]:
    """Every format's :class:`~persona.data.detect.Candidate` (stageplay's two layouts), in FORMATS order."""
    head = text.lstrip()[:1]
    records = _records(text, strict=False) if head and head in "[{" else []
    return candidates(text, records)


def detect(text: str) -> dict[str, float]:
    """Score each format in [0, 1]; the highest wins (see :mod:`persona.data.detect` for the evidence)."""
    scores = dict.fromkeys(FORMATS[1:], 0.0)
    for c in score_formats(text):
        scores[c.format] = max(scores[c.format], c.score)
    return scores


def _stripped(text: str) -> tuple[list[str], int]:
    lines = [line.strip() for line in text.split("\n")]
    return lines, sum(1 for line in lines if line)


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
    "stageplay": F.parse_stageplay,  # the cue-alone layout; extract picks parse_transcript for inline
    "fountain": F.parse_fountain,
    "prose": F.parse_prose,
    "sharegpt": parse_sharegpt,
    "alpaca": parse_alpaca,
}
