"""The script parsers, one module a layout; this module names them all for the rest of the package.

Each parser takes the decoded text and returns a :class:`Parsed`: one pass over
the lines with precompiled, anchored regexes. The input is untrusted, so each
regex is linear: a quantifier that a neighbour could take characters back from
is possessive (``*+``, which changes no match here), and notes, boneyard and
scene numbers are plain string search (tests/test_parser_complexity.py).

* :mod:`~persona.data.formats_zh`: Chinese scripts (``角色：台词``, ``【角色】台词``, ``角色：「台词」``)
* :mod:`~persona.data.formats_play`: stage plays (``NAME:`` alone on a line, the speech below)
* :mod:`~persona.data.formats_transcript`: stage plays and transcripts typed ``NAME: text`` (the inline layout)
* :mod:`~persona.data.formats_fountain`: Fountain screenplays
* :mod:`~persona.data.formats_prose`: novels (quoted speech with attribution)
"""

from __future__ import annotations

from persona.data.formats_base import Parsed, _blocks
from persona.data.formats_fountain import (FT_CUE, FT_HEADING, FT_LETTER, FT_PAREN, FT_TITLE_KEY, FT_TRANSITION,
                                           _cut, _strip_notes, _strip_scene_number, parse_fountain)
from persona.data.formats_play import (CAPS_CUE, CUE, INLINE_CUE, PLAY_ACT, PLAY_DIRECTION, PLAY_SCENE,
                                       parse_stageplay)
from persona.data.formats_prose import EN_AFTER, EN_BEFORE, QUOTE, ZH_AFTER, ZH_BEFORE, _paragraphs, parse_prose
from persona.data.formats_transcript import TRANSCRIPT_CUE, parse_transcript
from persona.data.formats_zh import (ZH_EPISODE, ZH_INLINE, ZH_LEADING_STAGE, ZH_SCENE, ZH_SPEAKER, ZH_STAGE,
                                     ZH_STRONG_SEPS, parse_zh_script)

__all__ = [
    "Parsed", "_blocks", "parse_zh_script", "parse_stageplay", "parse_transcript", "parse_fountain", "parse_prose",
    "ZH_EPISODE", "ZH_SCENE", "ZH_STAGE", "ZH_LEADING_STAGE", "ZH_SPEAKER", "ZH_STRONG_SEPS", "ZH_INLINE",
    "CUE", "CAPS_CUE", "INLINE_CUE", "PLAY_ACT", "PLAY_SCENE", "PLAY_DIRECTION", "TRANSCRIPT_CUE",
    "FT_HEADING", "FT_CUE", "FT_PAREN", "FT_TRANSITION", "FT_TITLE_KEY", "FT_LETTER",
    "_cut", "_strip_notes", "_strip_scene_number", "QUOTE", "ZH_BEFORE", "ZH_AFTER", "EN_AFTER", "EN_BEFORE",
    "_paragraphs",
]
