"""Parsers for scripts: Chinese TV scripts, stage plays and Fountain screenplays.

Each parser takes the decoded text and returns a :class:`Parsed`: one pass over
the lines with precompiled, anchored regexes. The input is untrusted, so each
regex is linear: a quantifier that a neighbour could take characters back from
is possessive (``*+``, which changes no match here), and notes, boneyard and
scene numbers are plain string search (tests/test_parser_complexity.py).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from persona.data.records import Utterance


@dataclass
class Parsed:
    utterances: list[Utterance] = field(default_factory=list)
    narration: list[Utterance] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)

    def say(self, scene: str, speaker: str, text: str, line: int, **extra) -> None:
        self.utterances.append(Utterance(scene, speaker, text, line, extra={k: v for k, v in extra.items() if v}))

    def narrate(self, scene: str, text: str, line: int, **extra) -> None:
        self.narration.append(Utterance(scene, "", text, line, kind="narration",
                                        extra={k: v for k, v in extra.items() if v}))


# --- Chinese TV script (甄嬛传 style) -------------------------------------------

_ZH_NUM = "0-9０-９一二三四五六七八九十百千零〇两"
ZH_EPISODE = re.compile(rf"^第[{_ZH_NUM}]++集\s*+$")
ZH_SCENE = re.compile(rf"^(第[{_ZH_NUM}]++[幕场場])\s*+(?P<cont>[（(]续[）)])?\s*+$")
ZH_STAGE = re.compile(r"^[（(][^\n]*[）)]$")
# A leading stage direction glued to a speech line: "（翊坤宫）华妃：……".
ZH_LEADING_STAGE = re.compile(r"^[（(]([^（）()]*+)[）)]\s*+(?=\S)")
# The speaker: 1-12 characters without punctuation, an optional （action）, then
# a separator. "；" and "，" are captured too but only trusted for known speakers.
ZH_SPEAKER = re.compile(
    r"^(?P<name>[^：:∶；，,。！？!?、“”\"（）()\s]{1,12}+)\s*+"
    r"(?:[（(](?P<action>[^（）()]*+)[）)])?\s*+(?P<sep>[：:∶；，])\s*+(?P<text>.*)$")
ZH_STRONG_SEPS = "：:∶"
ZH_INLINE = re.compile(r"[（(]([^（）()]*)[）)]")


def parse_zh_script(text: str) -> Parsed:
    """``角色：台词`` lines under ``第N集`` / ``第N幕`` headers.

    Inline ``（…）`` inside a speech are stage business, not words the character
    says, so they are stripped from ``text`` and kept in ``extra["inline"]``; a
    speaker's own ``（…）`` before the separator goes to ``extra["action"]``.
    """
    lines = text.split("\n")
    # First pass: names seen with an unambiguous separator. "；"/"，" occur inside
    # dialogue all the time, so they only separate after one of these names.
    known = set()
    for raw in lines:
        m = ZH_SPEAKER.match(raw.strip())
        if m and m["sep"] in ZH_STRONG_SEPS:
            known.add(m["name"])

    out = Parsed()
    episode, scene = "", ""
    scenes_seen: dict[str, str] = {}  # "第203幕" -> full scene name, for （续）
    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        if ZH_EPISODE.match(line):
            episode, scene = line, line
            continue
        m = ZH_SCENE.match(line)
        if m:
            number = m[1]
            # A continuation keeps the name it had, even if it began in an earlier episode.
            scene = scenes_seen.get(number) if m["cont"] and number in scenes_seen else None
            scene = scene or f"{episode} {number}".strip()
            scenes_seen.setdefault(number, scene)
            continue
        current = scene or episode or "第1幕"
        if ZH_STAGE.match(line) and ZH_INLINE.sub("", line).strip() == "":
            out.narrate(current, line[1:-1].strip(), n)
            continue
        lead = ZH_LEADING_STAGE.match(line)
        if lead:
            out.narrate(current, lead[1].strip(), n)
            line = line[lead.end():]
        m = ZH_SPEAKER.match(line)
        if m and (m["sep"] in ZH_STRONG_SEPS or m["name"] in known):
            inline = [a.strip() for a in ZH_INLINE.findall(m["text"])]
            words = ZH_INLINE.sub("", m["text"]).strip()
            action = (m["action"] or "").strip()
            if words:
                out.say(current, m["name"], words, n, action=action, inline=inline)
            else:  # "甄嬛：（点头）" has no words: it is business, not speech
                out.narrate(current, "；".join(filter(None, [action, *inline])), n, speaker=m["name"])
            continue
        out.skipped.append((n, "no speaker separator (：) and not a header or （stage direction）"))
    return out


# --- Stage plays (NAME: on its own line, speech below, blank line between) --------

# At the start of a block a cue may be mixed case ("First Citizen:", "Senators, &C:");
# inside a block only an all-caps line counts, since verse lines end in ":" too.
# Names are possessive and keep trailing spaces (callers strip them): a lazy
# name tried every split of a run of spaces.
CUE = re.compile(r"^(?P<name>[A-Z][A-Za-z'.,&\- ]{0,48}+)\s*+:$")
CAPS_CUE = re.compile(r"^(?P<name>[A-Z][A-Z'.\- ]{1,48}+)\s*+:$")
INLINE_CUE = re.compile(r"^(?P<name>[A-Z][A-Z'.\- ]{1,48}+):\s++(?P<text>\S.*)$")
PLAY_ACT = re.compile(r"^(ACT|Act)\s++([IVXLC]++|\d++)\b\.?(?:\s++(SCENE|Scene)\s++([IVXLC]++|\d++)\b\.?)?(?P<rest>.*)$")
PLAY_SCENE = re.compile(r"^(SCENE|Scene)\s++([IVXLC]++|\d++)\b\.?(?P<rest>.*)$")
PLAY_DIRECTION = re.compile(r"^(\[.*\]|(Enter|Exit|Exeunt|Re-enter|Manet)\b.*)$")

SCENE_MIN_SPEECHES = 8  # headerless plays: a cast change before this is an entrance, not a new scene
SCENE_MAX_SPEECHES = 60  # headerless plays: never let a "scene" grow past this
CAST_WINDOW = 10  # speeches looked back at to decide whether the cast changed
LOOKAHEAD = 3  # speeches looked ahead at


def parse_stageplay(text: str) -> Parsed:
    """``NAME:`` cues; a speech runs to the next blank line or cue.

    Lines of one speech are joined with a space: the line breaks are the
    printer's (or the verse's), and a chat turn is one paragraph. Text without
    ACT/SCENE headers (tinyshakespeare) is cut into scenes by cast changes.
    """
    out = Parsed()
    act, scene, has_headers = "", "", False
    speaker, buf, start = "", [], 0
    at_block_start = True

    def flush() -> None:
        nonlocal speaker, buf
        if speaker and buf:
            out.say(scene, speaker, " ".join(buf), start)
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
        m = PLAY_ACT.match(line) if block_start else None
        if m:
            flush()
            has_headers, act = True, f"ACT {m[2]}"
            scene = f"{act} SCENE {m[4]}" if m[4] else act
            continue
        m = PLAY_SCENE.match(line) if block_start else None
        if m:
            flush()
            has_headers, scene = True, f"{act} SCENE {m[2]}".strip()
            if m["rest"].strip(" .:"):
                out.narrate(scene, m["rest"].strip(" .:"), n)
            continue
        m = (CUE.match(line) if block_start else None) or CAPS_CUE.match(line)
        if m:
            flush()
            speaker, start = m["name"].strip(), n
            continue
        m = INLINE_CUE.match(line) if block_start or not speaker else None
        if m:
            flush()
            speaker, start, buf = m["name"].strip(), n, [m["text"]]
            continue
        if PLAY_DIRECTION.match(line):
            flush()
            out.narrate(scene, line.strip("[]"), n)
            continue
        if speaker:
            buf.append(line)
        else:
            out.skipped.append((n, "text outside any speech (no NAME: cue above it)"))
    flush()
    if not has_headers:
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


def _blocks(text: str) -> list[list[tuple[int, str, str]]]:
    """Group non-blank lines into blank-separated blocks of ``(line_no, stripped, raw)``."""
    blocks, cur = [], []
    for n, raw in enumerate(text.split("\n"), 1):
        if raw.strip():
            cur.append((n, raw.strip(), raw))
        elif cur:
            blocks.append(cur)
            cur = []
    if cur:
        blocks.append(cur)
    return blocks


# --- Prose (novels): quoted speech with attribution ----------------------------

QUOTE = re.compile(r"“([^“”]*)”|「([^「」]*)」|\"([^\"\n]*)\"")
_ZH_VERBS = "笑道|说道|问道|答道|叫道|喊道|叹道|哭道|骂道|回道|应道|道|说|问|喊|叫"
_ZH_ADVERBS = re.compile(r"(?:冷笑|微笑|笑着|笑|忙|便|又|也|只|因|却|才|就|还|低声|轻声|大声|回头|点头|摇头|叹气|一面|听了|看了)+$")
ZH_BEFORE = re.compile(rf"(?P<who>[^，。！？；：“”「」\s]{{1,10}}?)(?:{_ZH_VERBS})[：:，,]?\s*$")
ZH_AFTER = re.compile(rf"^\s*+[，,]?\s*+(?P<who>[^，。！？；：“”「」\s]{{1,10}}?)(?:{_ZH_VERBS})")
_EN_VERBS = r"said|says|asked|asks|replied|cried|whispered|shouted|answered|called|muttered|exclaimed|added|continued"
_EN_NAME = r"[A-Z][a-z]++(?: [A-Z][a-z]++)?|he|she|He|She|I|they|They"
EN_AFTER = re.compile(rf"^\s*+(?:(?P<v1>{_EN_VERBS})\s++(?P<w1>{_EN_NAME})|(?P<w2>{_EN_NAME})\s++(?:{_EN_VERBS}))\b")
EN_BEFORE = re.compile(rf"(?P<who>{_EN_NAME})\s+(?:{_EN_VERBS})(?:\s+\w+)?\s*[,:]\s*$")
PRONOUNS = {"他", "她", "我", "你", "它", "he", "she", "i", "they"}

ADJACENT, SAME_PARAGRAPH, ALTERNATION = 0.9, 0.8, 0.6


def parse_prose(text: str) -> Parsed:
    """Quoted speech in a novel, attributed where the text says who speaks.

    Confidence: 0.9 for an attribution right before or after the quote
    (``宝玉笑道：“…”``, ``"…," said Tom``), 0.8 for another quote in a paragraph
    whose speaker is named, 0.6 when guessed from two speakers alternating, and
    0.0 with speaker ``"?"`` when nothing says who it is. Pronouns (他, she)
    count as unattributed. Paragraphs without quotes are narration.
    """
    out = Parsed()
    last_two: list[str] = []  # the last two distinct named speakers, for alternation
    for n, para in _paragraphs(text):
        quotes = list(QUOTE.finditer(para))
        if not quotes:
            out.narrate("chapter 1", para, n)
            continue
        found: list[tuple[str, str, float]] = []
        for i, q in enumerate(quotes):
            # "Then we walk," she said: the comma belongs to the attribution, not the speech.
            words = next(g for g in q.groups() if g is not None).strip().rstrip(",，")
            before = para[quotes[i - 1].end() if i else 0:q.start()]
            after = para[q.end():quotes[i + 1].start() if i + 1 < len(quotes) else len(para)]
            found.append((words, _attribution(before, after), ADJACENT))
        named = {who for _, who, _ in found if who}
        for words, who, conf in found:
            if not words:
                continue
            if not who and len(named) == 1:
                who, conf = next(iter(named)), SAME_PARAGRAPH
            if not who and len(last_two) == 2:
                who, conf = last_two[0], ALTERNATION  # A, B, then A again
            if not who:
                who, conf = "?", 0.0
            out.utterances.append(Utterance("chapter 1", who, words, n, confidence=conf))
            if conf >= SAME_PARAGRAPH and (not last_two or last_two[-1] != who):
                last_two = (last_two + [who])[-2:]
            elif conf == ALTERNATION:
                last_two = last_two[::-1]
    return out


def _attribution(before: str, after: str) -> str:
    for m in (ZH_BEFORE.search(before[-24:]), ZH_AFTER.match(after), EN_AFTER.match(after.lstrip(",")),
              EN_BEFORE.search(before[-60:])):
        if m:
            who = next(v for k, v in m.groupdict().items() if v and k != "v1")
            who = _ZH_ADVERBS.sub("", who) or who
            return "" if who.lower() in PRONOUNS else who
    return ""


def _paragraphs(text: str) -> list[tuple[int, str]]:
    """Blank-line separated paragraphs; Chinese text (which is not hard-wrapped) is one per line."""
    paras = []
    for block in _blocks(text):
        if any("\u4e00" <= ch <= "\u9fff" for ch in block[0][1]):
            paras.extend((n, line) for n, line, _ in block)
        else:
            paras.append((block[0][0], " ".join(line for _, line, _ in block)))
    return paras
