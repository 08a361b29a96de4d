"""Fountain screenplays: INT./EXT. headings, CAPS cues with dialogue below, action paragraphs."""

from __future__ import annotations

import re

from persona.data.formats_base import Parsed, _blocks

# --- Fountain screenplays -----------------------------------------------------

FT_HEADING = re.compile(r"^(?:(?:INT|EXT|EST|INT\.?/EXT|I/E)[.\s]|\.(?=[A-Za-z0-9]))", re.IGNORECASE)
# As with CUE, possessive names keep trailing spaces, stripped by the caller.
FT_CUE = re.compile(r"^(?:@(?P<forced>[^(^]++)|(?P<name>[A-Z0-9][A-Z0-9 ._'\-]*+))\s*+"
                    r"(?P<ext>(?:\([^)]*+\)\s*+)*+)\^?$")
FT_PAREN = re.compile(r"^\(.*\)$")
FT_TRANSITION = re.compile(r"^(?:[A-Z ]+TO:|>[^<]*)$")
FT_TITLE_KEY = re.compile(r"^[A-Za-z][A-Za-z ]*+:")
FT_LETTER = re.compile(r"[A-Z]")  # a cue of digits only ("1") is not a name


def parse_fountain(text: str) -> Parsed:
    """INT./EXT. headings, CAPS cues with dialogue below, action paragraphs.

    Cue extensions such as ``(V.O.)`` / ``(CONT'D)`` are stripped from the
    speaker and kept in ``extra["extension"]``; parentheticals such as
    ``(beat)`` go to ``extra["parenthetical"]`` and out of the spoken text.
    """
    out = Parsed()
    text = _cut(text, "/*", "*/")  # boneyard: commented-out text
    blocks = _blocks(text)
    if blocks and all(FT_TITLE_KEY.match(line) or raw.startswith((" ", "\t"))
                      for _, line, raw in blocks[0]):
        blocks = blocks[1:]  # title page
    scene = ""
    for block in blocks:
        n, first, _ = block[0]
        first = _strip_notes(first).strip()
        if len(block) == 1 and FT_HEADING.match(first) and not first.startswith(".."):
            scene = _strip_scene_number(first.lstrip("."))
            continue
        if len(block) == 1 and (FT_TRANSITION.match(first) or first.startswith(("#", "=", "==="))):
            continue  # transitions, sections, synopses and page breaks are structure, not content
        m = FT_CUE.match(first)
        is_cue = m and len(block) > 1 and (m["forced"] or FT_LETTER.search(m["name"] or ""))
        if is_cue and not first.startswith("!"):
            name = (m["forced"] or m["name"]).strip()
            ext = [part.split("(", 1)[1] for part in m["ext"].split(")")[:-1]]  # "(V.O.) (CONT'D)"
            parens, words = [], []
            for _, line, _ in block[1:]:
                line = _strip_notes(line).strip()
                (parens if FT_PAREN.match(line) else words).append(line.strip("()") if FT_PAREN.match(line) else line)
            if words:
                out.say(scene or "scene 1", name, " ".join(w for w in words if w), n,
                        extension=ext, parenthetical=parens)
            else:
                out.narrate(scene or "scene 1", "; ".join(parens), n, speaker=name)
            continue
        action = " ".join(_strip_notes(line).strip().lstrip("!").strip("<>").strip() for _, line, _ in block)
        if action.strip():
            out.narrate(scene or "scene 1", action.strip(), n)
    return out


def _cut(text: str, opening: str, closing: str) -> str:
    """``text`` without each span from ``opening`` to the next ``closing`` (an unclosed one stays)."""
    out, pos = [], 0
    while (start := text.find(opening, pos)) >= 0:
        end = text.find(closing, start + len(opening))
        if end < 0:
            break  # no closing anywhere after: no later opening has one either
        out.append(text[pos:start])
        pos = end + len(closing)
    out.append(text[pos:])
    return "".join(out)


def _strip_notes(line: str) -> str:
    """``line`` without ``[[notes]]``: ``[[``, no ``]``, then ``]]``, as Fountain writes them."""
    out, pos, search = [], 0, 0
    while (start := line.find("[[", search)) >= 0:
        close = line.find("]", start + 2)
        if close < 0:
            break
        if line.startswith("]]", close):
            out.append(line[pos:start])
            pos = search = close + 2
        else:  # a lone "]": no note can start before it, since none may contain it
            search = close + 1
    out.append(line[pos:])
    return "".join(out)


def _strip_scene_number(heading: str) -> str:
    """``INT. HOUSE #12A#`` -> ``INT. HOUSE``: a ``#…#`` at the end of a heading is its scene number."""
    heading = heading.rstrip()
    hash_ = heading.rfind("#", 0, len(heading) - 1) if heading.endswith("#") else -1
    return heading[:hash_].strip() if hash_ >= 0 else heading.strip()
