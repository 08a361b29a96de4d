"""Which format a file is in: a score per format from counted evidence over the whole file, and why.

Every score is a share in [0, 1] of what the file is made of that the format's
layout accounts for, so scores compare across formats and a user can check
them (``persona data extract --explain``). The two English play layouts are
two layouts of ``stageplay``, told apart by where the speech is: the classic
layout puts the cue alone on its line (``MARLOWE:``) and the speech below
(layout ``cue-alone``); plays and transcripts typed as ``MARLOWE: Let it sit.``
put it on the same line (layout ``inline``). Each layout counts only its own
kind of speech, so a file's layout is the one most of its speeches use,
wherever in the file they are.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

# The parser modules themselves, not the formats facade: a pattern is looked up where it lives.
from persona.data import formats_base as B
from persona.data import formats_fountain as FT
from persona.data import formats_play as P
from persona.data import formats_prose as PR
from persona.data import formats_transcript as T
from persona.data import formats_zh as Z

TEXT_FORMATS = ("zh-script", "stageplay", "fountain", "prose")
LAYOUTS = {"cue-alone": "NAME: alone on its line, the speech below", "inline": "NAME: text on one line"}
JSON_FORMATS = ("sharegpt", "alpaca")


@dataclass
class Candidate:
    format: str
    score: float  # in [0, 1]; the highest wins, ties go to the earlier format in FORMATS
    evidence: dict[str, int] = field(default_factory=dict)  # what was counted
    why: str = ""  # the evidence in words: how the score was reached
    layout: str = ""  # stageplay only: "cue-alone" or "inline" (LAYOUTS)

    def to_dict(self) -> dict:
        return asdict(self)


def candidates(text: str, records=None) -> list[Candidate]:
    """A :class:`Candidate` for every format (two for stageplay, one a layout), in FORMATS order.

    ``records``: the file's JSON records, if it has any.
    """
    if records:
        return _json_candidates(records)
    lines = [line.strip() for line in text.split("\n")]
    nonblank = sum(1 for line in lines if line)
    if not nonblank:
        return [Candidate(f, 0.0, {}, "the file has no text") for f in TEXT_FORMATS + JSON_FORMATS]
    return [_zh(lines, nonblank), *play_layouts(lines, nonblank), _fountain(text), _prose(text),
            *(Candidate(f, 0.0, {}, "not JSON") for f in JSON_FORMATS)]


def _n(count: int, one: str, many: str = "") -> str:
    return f"{count} {one if count == 1 else many or one + 's'}"


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _zh(lines: list[str], nonblank: int) -> Candidate:
    zh = sum(1 for line in lines if line and Z.is_zh_line(line))
    return Candidate("zh-script", _share(zh, nonblank), {"lines": nonblank, "script_lines": zh},
                     f"{zh} of {nonblank} non-blank lines are 角色：台词, 【角色】台词, （stage directions） "
                     "or 第N集/幕/场 headers")


def _is_header(line: str) -> bool:
    return bool(P.PLAY_ACT.match(line) or P.PLAY_SCENE.match(line) or P.PLACE_HEADING.match(line)
                or P.BRACKET_SCENE.match(line))


def play_layouts(lines: list[str], nonblank: int) -> tuple[Candidate, Candidate]:
    """The two stage-play layouts, counted in one pass the way their parsers read the lines.

    ``lines`` are stripped; ``nonblank`` is how many of them are not empty.
    """
    alone = under = headers = directions = 0
    uses: dict[str, int] = {}  # inline cues a name
    lines_by_name: dict[str, int] = {}  # lines of the inline speeches of a name (cue line + continuations)
    state, name, block_start = "", "", True
    for line in lines:
        if not line:
            state, block_start = "", True
            continue
        at_start, block_start = block_start, False
        if (at_start or state != "alone") and _is_header(line):
            headers, state = headers + 1, ""
            continue
        if T.TR_DIRECTION.match(line) or P.PLAY_DIRECTION.match(line):
            directions, state = directions + 1, ""
            continue
        if state == "alone":  # inside a stage-play speech only an all-caps cue starts another
            if P.CAPS_CUE.match(line):
                alone += 1
            else:
                under += 1
            continue
        m = T.cue(line)
        if m and m["text"] and m["text"].strip():
            name, state = m["name"].strip(), "inline"
            uses[name] = uses.get(name, 0) + 1
            lines_by_name[name] = lines_by_name.get(name, 0) + 1
        elif (P.CUE.match(line) if at_start else None) or P.CAPS_CUE.match(line):
            alone, state = alone + 1, "alone"
        elif state == "inline":
            lines_by_name[name] += 1
    # One "Note: …" line is not a cast: a name counts once it cues twice, or when it is in capitals,
    # or when the file is mostly such speeches (a short scene where nobody speaks twice).
    cast = [n for n, k in uses.items() if k >= 2 or n.isupper()]
    if 2 * sum(lines_by_name.values()) >= nonblank:
        cast = list(uses)
    inline_lines = sum(lines_by_name[n] for n in cast)
    cues = sum(uses[n] for n in cast)
    shared = headers + directions
    play_covered = alone + under + shared if alone else 0
    tr_covered = inline_lines + shared if cues else 0
    play = Candidate("stageplay", _share(play_covered, nonblank),
                     {"lines": nonblank, "cues_alone": alone, "speech_lines": under, "headers": headers,
                      "directions": directions},
                     f"{play_covered} of {nonblank} non-blank lines: "
                     f"{_n(alone, 'NAME: cue alone on its line', 'NAME: cues alone on their line')}, "
                     f"{_n(under, 'speech line')} under them, {_n(headers, 'header')}, {_n(directions, 'direction')}",
                     "cue-alone")
    transcript = Candidate("stageplay", _share(tr_covered, nonblank),
                           {"lines": nonblank, "inline_cues": cues, "names": len(cast),
                            "continuation_lines": inline_lines - cues, "headers": headers, "directions": directions},
                           f"{tr_covered} of {nonblank} non-blank lines: {_n(cues, 'NAME: text line')} by "
                           f"{_n(len(cast), 'name')}, {_n(inline_lines - cues, 'line')} continuing them, "
                           f"{_n(headers, 'header')}, {_n(directions, 'direction')}", "inline")
    return play, transcript


def _fountain(text: str) -> Candidate:
    blocks = B._blocks(text)
    headings = sum(1 for b in blocks if len(b) == 1 and FT.FT_HEADING.match(b[0][1]))
    cues = sum(1 for b in blocks if len(b) > 1 and FT.FT_CUE.match(b[0][1]) and any(c.isalpha() for c in b[0][1]))
    score = _share(headings + cues, len(blocks)) if headings else 0.0
    why = (f"{headings} INT./EXT. headings and {cues} CAPS cue blocks of {len(blocks)} blank-separated blocks"
           if headings else "no INT./EXT. heading on a line of its own")
    return Candidate("fountain", score, {"blocks": len(blocks), "headings": headings, "cue_blocks": cues}, why)


def _prose(text: str) -> Candidate:
    paras = PR._paragraphs(text)
    quoted = sum(1 for _, p in paras if PR.QUOTE.search(p))
    # Halved: scripts quote words inside speeches, and a script that matches its own layout should win.
    return Candidate("prose", round(0.5 * _share(quoted, len(paras)), 4), {"paragraphs": len(paras), "quoted": quoted},
                     f"half the share of paragraphs with a quote: {quoted} of {len(paras)}")


def _json_candidates(records) -> list[Candidate]:
    first = records[0][1]
    keys = sorted(first)[:8] if isinstance(first, dict) else []
    chat = isinstance(first, dict) and ("conversations" in first or "messages" in first)
    alpaca = isinstance(first, dict) and "instruction" in first and "output" in first and not chat
    found = [Candidate(f, 0.0, {}, "the file is JSON") for f in TEXT_FORMATS]
    found.append(Candidate("sharegpt", 1.0 if chat else 0.0, {"records": len(records)},
                           f"JSON records; the first has keys {json.dumps(keys)}"
                           + (" (conversations/messages)" if chat else ", no conversations/messages")))
    found.append(Candidate("alpaca", 1.0 if alpaca else 0.0, {"records": len(records)},
                           f"JSON records; the first has keys {json.dumps(keys)}"
                           + (" (instruction/output)" if alpaca else ", no instruction/output")))
    return found


def best_layout(found: list[Candidate]) -> str:
    """The stage-play layout with more evidence; ``cue-alone`` (the classic) when neither has any."""
    plays = [c for c in found if c.format == "stageplay"]
    inline = next((c for c in plays if c.layout == "inline"), None)
    alone = next((c for c in plays if c.layout == "cue-alone"), None)
    return "inline" if inline and inline.score > (alone.score if alone else 0.0) else "cue-alone"


def label(c: Candidate) -> str:
    return f"{c.format} ({c.layout})" if c.layout else c.format


def explain(found: list[Candidate], chosen: str, layout: str = "") -> list[str]:
    """Lines for a person: the chosen format (and layout) first, then every other by score."""
    ranked = sorted(found, key=lambda c: ((c.format, c.layout or layout) != (chosen, layout), -c.score))
    width = max(len(label(c)) for c in ranked)
    return [f"{'→' if i == 0 and c.format == chosen else ' '} {label(c):<{width}}  {c.score:.2f}  {c.why}"
            for i, c in enumerate(ranked)]
