"""English stage plays: a NAME: cue alone on its line, the speech on the lines below."""

from __future__ import annotations

import bisect
import re

from persona.data.formats_base import Parsed

# At the start of a block a cue may be mixed case ("First Citizen:", "Senators, &C:");
# inside a block only an all-caps line counts, since verse lines end in ":" too.
# Names are possessive and keep trailing spaces (callers strip them): a lazy
# name tried every split of a run of spaces. "NAME (aside):" keeps the aside as
# the speech's extra["action"], as a Chinese script's 甄嬛（跪下）： does.
CUE = re.compile(r"^(?P<name>[A-Z][A-Za-z'.,&\- ]{0,48}+)\s*+(?:\((?P<action>[^()]*+)\)\s*+)?:$")
CAPS_CUE = re.compile(r"^(?P<name>[A-Z][A-Z'.\- ]{1,48}+)\s*+(?:\((?P<action>[^()]*+)\)\s*+)?:$")
INLINE_CUE = re.compile(r"^(?P<name>[A-Z][A-Z'.\- ]{1,48}+)(?:\((?P<action>[^()]*+)\)\s*+)?:\s++(?P<text>\S.*)$")
PLAY_ACT = re.compile(r"^(ACT|Act)\s++([IVXLC]++|\d++)\b\.?,?(?:\s++(SCENE|Scene)\s++([IVXLC]++|\d++)\b\.?)?"
                      r"(?P<rest>.*)$")
PLAY_SCENE = re.compile(r"^(SCENE|Scene)\s++([IVXLC]++|\d++)\b\.?(?P<rest>.*)$")
# A screenplay's slug line, "INT. DECK – NIGHT" / "EXT. DOCK - DAY": the whole line names the scene.
PLACE_HEADING = re.compile(r"^(?:INT\./EXT|EXT\./INT|INT/EXT|INT|EXT|EST|I/E)(?:\.[ \t]*+|[ \t]++)(?P<place>\S.*)$")
# A transcript's "[Scene: Central Perk, Ross and Monica are there.]".
BRACKET_SCENE = re.compile(r"^[\[(](?:Scene|SCENE|Setting|SETTING)[ \t]*+:[ \t]*+(?P<place>[^\[\]()]*+)[\])]$")
PLAY_DIRECTION = re.compile(r"^(\[.*\]|(Enter|Exit|Exeunt|Re-enter|Manet)\b.*)$")

SCENE_MIN_SPEECHES = 8  # headerless plays: a cast change before this is an entrance, not a new scene
SCENE_MAX_SPEECHES = 60  # headerless plays: never let a "scene" grow past this
CAST_WINDOW = 10  # speeches looked back at to decide whether the cast changed
LOOKAHEAD = 3  # speeches looked ahead at


class Scenes:
    """The scene a play is in, from the headers read so far (stage plays and transcripts share it).

    ``ACT I`` / ``SCENE 2.`` / ``ACT 1, SCENE 2`` name the scene by number;
    a slug line (``INT. DECK – NIGHT``) or ``[Scene: Central Perk, …]`` by
    place, with `` (2)``, `` (3)`` for a place the script returns to, so that
    each stretch of the script is its own scene (build splits train/val by scene).
    """

    def __init__(self) -> None:
        self.act, self.name, self.found = "", "", False
        self._places: dict[str, int] = {}

    def header(self, line: str) -> str | None:
        """The description to narrate if ``line`` is a header ("" for none), else None."""
        rest = None
        if m := PLAY_ACT.match(line):
            self.act = f"ACT {m[2]}"
            self.name, rest = (f"{self.act} SCENE {m[4]}" if m[4] else self.act), ""
        elif m := PLAY_SCENE.match(line):
            self.name, rest = f"{self.act} SCENE {m[2]}".strip(), m["rest"].strip(" .:")
        elif m := PLACE_HEADING.match(line):
            self.name, rest = self._place(line), ""
        elif m := BRACKET_SCENE.match(line):
            self.name, rest = self._place(_place_name(m["place"])), m["place"].strip()
        if rest is not None:
            self.found = True
        return rest

    def _place(self, place: str) -> str:
        seen = self._places[place] = self._places.get(place, 0) + 1
        return place if seen == 1 else f"{place} ({seen})"


ABBREVIATIONS = ("Mr", "Mrs", "Ms", "Dr", "St", "Mt")


def _place_name(description: str) -> str:
    """``Central Perk, Ross and Monica are there.`` -> ``Central Perk``: up to the first comma or sentence end."""
    end = len(description)
    comma = description.find(",")
    if comma >= 0:
        end = comma
    dot = description.find(". ")
    while 0 <= dot < end and description[:dot].rsplit(" ", 1)[-1] in ABBREVIATIONS:
        dot = description.find(". ", dot + 2)
    if 0 <= dot < end:
        end = dot
    return description[:end].strip(" .") or description.strip(" .")


def parse_stageplay(text: str) -> Parsed:
    """``NAME:`` cues; a speech runs to the next blank line or cue.

    Lines of one speech are joined with a space: the line breaks are the
    printer's (or the verse's), and a chat turn is one paragraph. Text without
    ACT/SCENE headers (tinyshakespeare) is cut into scenes by cast changes.
    """
    out = Parsed()
    scenes = Scenes()
    speaker, action, buf, start, scene = "", "", [], 0, ""
    at_block_start = True

    def flush() -> None:
        nonlocal speaker, buf
        if speaker and buf:
            out.say(scene, speaker, " ".join(buf), start, action=action)
        elif speaker:
            out.skipped.append((start, f"cue {speaker}: with no speech"))
        speaker, buf = "", []

    for n, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line:
            flush()
            at_block_start = True
            continue
        block_start, at_block_start = at_block_start, False
        rest = scenes.header(line) if block_start else None
        if rest is not None:
            flush()
            if rest:
                out.narrate(scenes.name, rest, n)
            continue
        m = (CUE.match(line) if block_start else None) or CAPS_CUE.match(line)
        if m:
            flush()
            speaker, action, start, scene = m["name"].strip(), (m["action"] or "").strip(), n, scenes.name
            continue
        m = INLINE_CUE.match(line) if block_start or not speaker else None
        if m:
            flush()
            speaker, action, start, buf = m["name"].strip(), (m["action"] or "").strip(), n, [m["text"]]
            scene = scenes.name
            continue
        if PLAY_DIRECTION.match(line):
            flush()
            out.narrate(scenes.name, line.strip("[]"), n)
            continue
        if speaker:
            buf.append(line)
        else:
            out.skipped.append((n, "text outside any speech (no NAME: cue above it)"))
    flush()
    if not scenes.found:
        _scenes_by_cast(out)
    return out


def _scenes_by_cast(out: Parsed) -> None:
    """Number scenes in a play that has no headers.

    Once a scene has SCENE_MIN_SPEECHES, a new one starts when none of the next
    LOOKAHEAD speakers spoke in the last CAST_WINDOW speeches (the people on
    stage changed), or when it reaches SCENE_MAX_SPEECHES. Crude, but deterministic and explainable, and it keeps
    whole exchanges together so a train/val split by scene does not leak.
    """
    speeches = out.utterances
    names = [u.speaker for u in speeches]
    number, size = 1, 0
    for i, u in enumerate(speeches):
        if size >= SCENE_MIN_SPEECHES:
            recent = set(names[i - min(size, CAST_WINDOW):i])
            cast_changed = not recent.intersection(names[i:i + LOOKAHEAD])
            if cast_changed or size >= SCENE_MAX_SPEECHES:
                number, size = number + 1, 0
        u.scene = f"scene {number}"
        size += 1
    # Directions take the scene of the speech that follows them.
    lines = [u.line for u in speeches]

    for d in out.narration:
        i = bisect.bisect_left(lines, d.line)
        d.scene = speeches[min(i, len(speeches) - 1)].scene if speeches else "scene 1"
