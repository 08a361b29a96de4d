"""Chinese scripts: 角色：台词, 【角色】台词 and 角色：「台词」 lines under 第N集 / 第N幕 / 第N场 headers."""

from __future__ import annotations

import re

from persona.data.formats_base import Parsed

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
# A screenplay's scene line with its place and time: "第3场 养心殿 日 内", "1-2 御花园 夜".
ZH_SCENE_PLACE = re.compile(rf"^(?P<num>第[{_ZH_NUM}]++[幕场場]|[0-9]++-[0-9]++)[、.．]?[ \t　]++(?P<place>[^：:\s].*)$")
# 【甄嬛】臣妾告退。 / 【甄嬛（跪下）】：臣妾告退。: the speaker in lenticular brackets.
ZH_BRACKET_SPEAKER = re.compile(
    r"^【(?P<name>[^【】：:（）()\s]{1,12}+)(?:[（(](?P<action>[^（）()【】]*+)[）)])?】[：:]?\s*+(?P<text>\S.*)$")
# △ opens an action line in mainland screenplays; 人物：… lists the cast of a scene.
ZH_ACTION_MARKS = "△▲"
ZH_NOT_SPEAKERS = {"人物", "出场人物", "时间", "地点", "场景", "布景"}
# 宝玉笑道：“…” is a novel's attribution: a name that ends in a verb of saying.
ZH_SAYS = ("道", "说", "问", "喊", "叫", "曰")


def parse_zh_script(text: str) -> Parsed:
    """``角色：台词`` lines under ``第N集`` / ``第N幕`` / ``第N场`` headers.

    Inline ``（…）`` inside a speech are stage business, not words the character
    says, so they are stripped from ``text`` and kept in ``extra["inline"]``; a
    speaker's own ``（…）`` before the separator goes to ``extra["action"]``.
    ``【角色】台词`` names the speaker in brackets; ``角色：「台词」`` quotes the
    whole speech, and the quotes are not part of it. ``△`` lines and ``人物：``
    cast lists are narration.
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
        header = line[1:-1].strip() if line.startswith("【") and line.endswith("】") else line
        if ZH_EPISODE.match(header):
            episode, scene = header, header
            continue
        m = ZH_SCENE.match(header)
        if m:
            number = m[1]
            # A continuation keeps the name it had, even if it began in an earlier episode.
            scene = scenes_seen.get(number) if m["cont"] and number in scenes_seen else None
            scene = scene or f"{episode} {number}".strip()
            scenes_seen.setdefault(number, scene)
            continue
        m = ZH_SCENE_PLACE.match(header)
        if m:
            scene = f"{episode} {m['num']}".strip()
            scenes_seen.setdefault(m["num"], scene)
            out.narrate(scene, m["place"].strip(), n)
            continue
        current = scene or episode or "第1幕"
        if ZH_STAGE.match(line) and ZH_INLINE.sub("", line).strip() == "":
            out.narrate(current, line[1:-1].strip(), n)
            continue
        if line[0] in ZH_ACTION_MARKS:
            if line[1:].strip():
                out.narrate(current, line[1:].strip(), n)
            continue
        lead = ZH_LEADING_STAGE.match(line)
        if lead:
            out.narrate(current, lead[1].strip(), n)
            line = line[lead.end():]
        bracketed = ZH_BRACKET_SPEAKER.match(line)
        m = bracketed or ZH_SPEAKER.match(line)
        strong = bool(m) and (bracketed is not None or m["sep"] in ZH_STRONG_SEPS)
        if strong and not bracketed and m["name"] in ZH_NOT_SPEAKERS:
            out.narrate(current, m["text"].strip(), n, speaker=m["name"])
            continue
        if m and (strong or m["name"] in known):
            inline = [a.strip() for a in ZH_INLINE.findall(m["text"])]
            words = _unquote(ZH_INLINE.sub("", m["text"]).strip())
            action = (m["action"] or "").strip()
            if words:
                out.say(current, m["name"], words, n, action=action, inline=inline)
            else:  # "甄嬛：（点头）" has no words: it is business, not speech
                out.narrate(current, "；".join(filter(None, [action, *inline])), n, speaker=m["name"])
            continue
        out.skipped.append((n, "no speaker separator (：) and not a header or （stage direction）"))
    return out


def _unquote(words: str) -> str:
    """``「臣妾告退。」`` -> ``臣妾告退。``: corner brackets around the whole speech are the layout's, not the words'."""
    if words.startswith("「") and words.endswith("」") and words.count("「") == 1 and words.count("」") == 1:
        return words[1:-1].strip()
    return words


def is_zh_line(line: str) -> bool:
    """A line that is a header, a direction or a speech of a Chinese script (detection's evidence)."""
    header = line[1:-1].strip() if line.startswith("【") and line.endswith("】") else line
    if ZH_EPISODE.match(header) or ZH_SCENE.match(header) or ZH_SCENE_PLACE.match(header):
        return True
    if (ZH_STAGE.match(line) or line[0] in ZH_ACTION_MARKS) and _has_han(line):
        return True
    m = ZH_BRACKET_SPEAKER.match(line)
    if m and _has_han(m["name"]):
        return True
    m = ZH_SPEAKER.match(line)
    if not m or m["sep"] not in ZH_STRONG_SEPS or not _has_han(m["name"]):
        return False
    # 宝玉笑道：“…” is a novel's attribution, not a script's speaker line; 甄嬛：「…」 is a script's.
    quoted = m["text"].startswith(("“", "「", '"'))
    return not quoted or (m["text"].startswith("「") and not m["name"].endswith(ZH_SAYS))


def _has_han(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)
