"""Stage plays and transcripts in the inline layout: ``NAME: text``, ``NAME (aside): text`` on one line."""

from __future__ import annotations

import re

from persona.data.formats_base import Parsed
from persona.data.formats_play import PLAY_DIRECTION, Scenes, _scenes_by_cast

# A name is up to five words ("Mrs. Geller", "Guard 2", "Man in the Hat") before
# an optional (aside) or [aside] and a colon that ends the line or is followed by
# a space: "10:30" and "http://" are not cues. Which words make a name is
# decided in Python (is_cue_name); the pattern only cuts the line.
TRANSCRIPT_CUE = re.compile(
    r"^(?P<name>[^\W\d_][\w'.\-]*+(?:[ ]++[\w'.&\-]++){0,4}+)[ \t]*+"
    r"(?:[(\[](?P<action>[^()\[\]]*+)[)\]][ \t]*+)?:(?:[ \t]++(?P<text>.*)|$)")
# A whole line in brackets or parentheses is a stage direction: "[They hug.]", "(Lights down.)".
TR_DIRECTION = re.compile(r"^(?:\[[^\[\]]*+\]|\([^()]*+\))$")
# Business inside a speech: "(quietly)", "[to Finch]". Kept in extra["inline"], not in the words.
TR_INLINE = re.compile(r"\(([^()]*+)\)|\[([^\[\]]*+)\]")
CONNECTIVES = {"of", "the", "and", "in", "on", "at", "to", "with", "de", "la", "le", "van", "von", "du", "da", "&"}
MAX_NAME_CHARS = 40
NOT_NAMES = {"Note", "NOTE", "Notes", "Chapter", "CHAPTER", "Part", "PART", "Transcript", "TRANSCRIPT", "Source",
             "Title", "TITLE", "Author", "AUTHOR", "Copyright", "Written by", "Scene", "SCENE", "Setting", "SETTING"}


def is_cue_name(name: str) -> bool:
    """``Ross``, ``MARLOWE``, ``Mrs. Geller``, ``Man in the Hat``: capitalised words, not a sentence."""
    words = name.split()
    if not words or len(name) > MAX_NAME_CHARS or name in NOT_NAMES or not words[0][0].isupper():
        return False
    return all(w[0].isupper() or w[0].isdigit() or w in CONNECTIVES for w in words[1:])


def cue(line: str):
    """The ``TRANSCRIPT_CUE`` match of ``line`` when it starts with a speaker's name, else None."""
    m = TRANSCRIPT_CUE.match(line)
    return m if m and is_cue_name(m["name"].strip()) else None


def parse_transcript(text: str) -> Parsed:
    """One speech a ``NAME: text`` line; lines right below it (no blank between) continue it.

    A cue alone on its line (``NAME:``) takes the lines below it as its speech,
    so a script that mixes both layouts reads whole. ``(…)``/``[…]`` inside a
    speech are stage business: out of the words, into ``extra["inline"]``; a
    line that is all ``(…)``/``[…]`` is a direction, and a paragraph with no cue
    is narration. Headers are the stage play's (:class:`Scenes`); a script
    without any is cut into scenes by cast changes, as a stage play is.
    """
    out = Parsed()
    scenes = Scenes()
    speaker, action, buf, start, scene = "", "", [], 0, ""
    in_speech = False  # no blank line since the cue: an uncued line continues the speech

    def flush() -> None:
        nonlocal speaker, buf, in_speech
        if speaker:
            said = " ".join(buf)
            inline = [next(g for g in m.groups() if g is not None).strip() for m in TR_INLINE.finditer(said)]
            words = " ".join(TR_INLINE.sub(" ", said).split())
            if words:
                out.say(scene, speaker, words, start, action=action, inline=inline)
            elif action or inline:
                out.narrate(scene, "; ".join(filter(None, [action, *inline])), start, speaker=speaker)
            else:
                out.skipped.append((start, f"cue {speaker}: with no speech"))
        speaker, buf, in_speech = "", [], False

    for n, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line:
            in_speech = False
            continue
        rest = scenes.header(line)
        if rest is not None:
            flush()
            if rest:
                out.narrate(scenes.name, rest, n)
            continue
        if in_speech and not buf and TR_DIRECTION.match(line):  # "ODA:" then "(laughing)": the cue's business
            buf.append(line)
            continue
        if TR_DIRECTION.match(line) or PLAY_DIRECTION.match(line):
            flush()
            out.narrate(scenes.name, line[1:-1].strip() if line[0] in "[(" else line, n)
            continue
        m = cue(line)
        if m:
            flush()
            speaker, action, start, scene = m["name"].strip(), (m["action"] or "").strip(), n, scenes.name
            buf, in_speech = ([m["text"].strip()] if m["text"] and m["text"].strip() else []), True
            continue
        if in_speech:
            buf.append(line)
            continue
        flush()
        out.narrate(scenes.name, line, n)
    flush()
    if not scenes.found:
        _scenes_by_cast(out)
    return out
