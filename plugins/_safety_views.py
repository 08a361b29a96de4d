"""The normalised views of a message that the safety rails read besides the message as written."""

from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata
from functools import lru_cache
from operator import add
from pathlib import Path
from urllib.parse import unquote

from persona.engine import MAX_MESSAGE_CHARS

MIN_SEGMENT = 16  # base64 and hex runs shorter than this are ordinary words ("Somebody", "deadbeef")
MAX_SEGMENTS = 8  # decoded segments per view
MAX_DECODED = 4000  # decoded characters per view, nested decodings included
READABLE = 0.9  # share of a decoding that must be printable, or it is noise


def views(text: str) -> list[tuple[str, str]]:
    """[(view name, text)], first ("written", text) itself, then each normalised view that differs from it.

    Views read at most the first MAX_MESSAGE_CHARS characters and are never
    longer than that; a view equal to the written text or to an earlier view is left out.
    """
    out = [("written", text)]
    capped = text[:MAX_MESSAGE_CHARS]
    seen = {text, capped}
    for name, make in _VIEWS:
        view = make(capped)
        if view is not None:
            view = view[:MAX_MESSAGE_CHARS]
            if view not in seen:
                seen.add(view)
                out.append((name, view))
    return out


# -- decoded segments: base64, hex, URL -------------------------------------------
# Every finder starts on a character class and repeats fixed-width items, so a
# search is linear. A segment counts only if it decodes to readable UTF-8 text.

_BASE64 = re.compile(rf"[A-Za-z0-9+/_-]{{{MIN_SEGMENT},}}={{0,2}}")
_HEX_BYTE = r"(?:\\x|0x)?([0-9A-Fa-f]{2})"  # 69, \x69, 0x69
_HEX = re.compile(rf"{_HEX_BYTE}(?:[ :,]?{_HEX_BYTE}){{{MIN_SEGMENT // 2 - 1},}}")  # separators: space, colon, comma
_HEX_PAIR = re.compile(_HEX_BYTE)
_URL = re.compile(r"(?<!\S)\S*?%[0-9A-Fa-f]{2}\S*")  # a whitespace-delimited token with a %XX
_WORDY = re.compile(r"[^\W\d_]+| +")  # letters (any script) and spaces


def _printable(s: str) -> bool:
    if s.isprintable():
        return bool(s)
    return sum(1 for c in s if c.isprintable() or c in "\t\n\r") >= READABLE * len(s)


def _readable(s: str) -> bool:
    """Printable and at least half letters or spaces: text, not digits or line noise."""
    return _printable(s) and 2 * (len(s) - len(_WORDY.sub("", s))) >= len(s)


def _utf8(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.end != len(raw) or exc.start == 0:
            return None
        return raw[:exc.start].decode("utf-8")  # a character cut at the end of the segment


def _from_base64(seg: str) -> str | None:
    body = seg.rstrip("=").replace("-", "+").replace("_", "/")  # urlsafe and standard alphabets alike
    if len(body) % 4 == 1:
        body = body[:-1]
    try:
        return _utf8(base64.b64decode(body + "=" * (-len(body) % 4), validate=True))
    except (binascii.Error, ValueError):
        return None


def _from_hex(seg: str) -> str | None:
    return _utf8(bytes.fromhex("".join(_HEX_PAIR.findall(seg))))  # the finder's own parse, byte by byte


def _from_url(seg: str) -> str | None:
    try:
        return unquote(seg, errors="strict")
    except UnicodeDecodeError:
        return None


_DECODERS = {"base64": (_BASE64, _from_base64), "hex": (_HEX, _from_hex), "url": (_URL, _from_url)}


def _decode(text: str, kind: str, budget: list[int], nest: bool) -> str | None:
    """text with each decodable segment of one kind replaced by its decoding, or None if none was."""
    finder, decode = _DECODERS[kind]
    parts, last, done = [], 0, 0
    for m in finder.finditer(text):
        if done == MAX_SEGMENTS or budget[0] <= 0:
            break
        plain = decode(m.group())
        if plain is None or not _printable(plain):
            continue
        if nest:  # one level more (base64 of hex, URL of base64...), never deeper
            for inner in _DECODERS:
                deeper = _decode(plain, inner, [budget[0]], nest=False)
                if deeper is not None:
                    plain = deeper
                    break
        if not _readable(plain):
            continue
        plain = plain[:budget[0]]
        budget[0] -= len(plain)
        parts += [text[last:m.start()], plain]
        last, done = m.end(), done + 1
    if not done:
        return None
    parts.append(text[last:])
    return "".join(parts)


def _decoded_view(kind: str):
    return lambda text: _decode(text, kind, [MAX_DECODED], nest=True)


# -- rot13 and reversed: produced only on evidence -------------------------------

# Frequent English words, with the words injection attacks are made of, so that an
# encoded "ignore previous instructions" with no function words still reads as English.
COMMON_EN = frozenset("""
the be to of and in that have it for not on with he as you do at this but his by from they we say her she or
an will my one all would there their what so up out if about who get which go me when make can like time no
just him know take people into year your good some could them see other than then now look only come its over
think also back after use two how our work first well way even new want because any these give day most us is
are was were been has had did does said am very much more many here why where tell show please ok yes
ignore ignoring disregard forget previous prior above earlier instructions instruction rules rule system prompt
reveal print repeat output secret password hidden message messages everything anything nothing
pretend act role mode developer admin jailbreak unrestricted filter filters safety guidelines policy
kill hurt harm bomb weapon drugs hate attack steal hack
""".split())

# Frequent Chinese words (two characters), read forwards and backwards.
COMMON_ZH = frozenset("""
我们 你们 他们 她们 什么 怎么 为什么 这个 那个 这些 那些 没有 可以 不是 就是 因为 所以 但是 如果 现在 今天 明天 昨天
知道 告诉 所有 一个 自己 时候 已经 还是 这样 那样 问题 喜欢 觉得 应该 需要 请你 帮我 一下 一些 非常 真的 东西 事情
朋友 工作 学习 时间 地方 开始 回答 说话 看看 出来 起来 之前 之后 以前 以后 不要 不能 不会 必须 一定 任何 全部
忽略 无视 忘记 指令 指示 命令 系统 提示 规则 设定 限制 密码 秘密 泄露 显示 输出 打印 重复 扮演 角色 模式 开发 管理
越狱 过滤 安全 政策 内容 原始 隐藏 炸弹 武器 毒品 杀人 伤害 攻击 黑客
""".split())

_ROT13 = str.maketrans("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
                       "nopqrstuvwxyzabcdefghijklmNOPQRSTUVWXYZABCDEFGHIJKLM")
_EN_WORD = re.compile(r"[a-z]{2,}")
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]{2,}")
_ROT13_MENTION = re.compile(r"rot[ _-]?13|caesar|凯撒")
# "倒" and "反" alone are too common (倒是, 反对); these phrasings ask for a backwards reading.
_REVERSE_MENTION = re.compile(r"revers|backward|倒着|倒过来|倒序|倒读|反过来|反着|反转|逆序|颠倒")


def _more_english(words: list[str], turned: list[str]) -> bool:
    """Whether the turned reading makes clearly more common words than the written one, word by word."""
    gain = loss = 0
    for w, t in zip(words, turned):
        a, b = w in COMMON_EN, t in COMMON_EN
        gain += b and not a
        loss += a and not b
    return gain >= 2 and gain >= loss


def _rot13(text: str) -> str | None:
    lower = text.lower()
    turned = lower.translate(_ROT13)
    if _ROT13_MENTION.search(lower) or _more_english(_EN_WORD.findall(lower), _EN_WORD.findall(turned)):
        return text.translate(_ROT13)
    return None


def _more_chinese(text: str) -> bool:
    forwards = backwards = 0
    for run in _CJK_RUN.findall(text):
        forwards += sum(map(COMMON_ZH.__contains__, map(add, run, run[1:])))
        backwards += sum(map(COMMON_ZH.__contains__, map(add, run[1:], run)))
    return backwards >= 2 and backwards > forwards


def _reversed(text: str) -> str | None:
    lower = text.lower()
    back = lower[::-1]
    if (_REVERSE_MENTION.search(lower) or _more_chinese(text)
            or _more_english(_EN_WORD.findall(lower), _EN_WORD.findall(back)[::-1])):
        return text[::-1]
    return None


# -- spacing ------------------------------------------------------------------------
# A run of at least three single characters joined by one and the same separator
# ("i g n o r e", "i.g.n.o.r.e", "忽·略·之"). A wider gap ends the run, so it keeps
# the word boundary: "i g n o r e  a l l" -> "ignore all". Each item is one letter
# and one separator, so the greedy run backs off at most one item: linear.

_LETTER = r"A-Za-z0-9\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff"
_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_SPACED_LATIN = re.compile(rf"(?<![{_LETTER}])[{_LETTER}]([ .\-_·/|*~+])[{_LETTER}](?:\1[{_LETTER}])+(?![{_LETTER}])")
# Spaces between Han characters: a Han character next to the run makes it a word
# ("碎玉轩 夜 内" is a scene heading). Other separators inside Chinese are padding.
_SPACED_HAN = re.compile(rf"(?<![{_HAN}])[{_HAN}]([ \u3000])[{_HAN}](?:\1[{_HAN}])+(?![{_HAN}])")
_DOTTED_HAN = re.compile(rf"[{_HAN}]([.\-_·・/|*~])[{_HAN}](?:\1[{_HAN}])+")
_GAP = re.compile(r"[ \u3000]{2,}")


def _spacing(text: str) -> str | None:
    joined = []

    def join(m: re.Match) -> str:
        run = m.group()
        if not any(c.isalpha() for c in run[::2]):
            return run  # 127.0.0.1, 1 2 3: numbers, not words
        joined.append(run)
        return run[::2]

    out = _DOTTED_HAN.sub(join, _SPACED_HAN.sub(join, _SPACED_LATIN.sub(join, text)))
    return _GAP.sub(" ", out) if joined else None


# -- homoglyphs ---------------------------------------------------------------------

_INVISIBLE = [0x00AD, 0x034F, 0x180E, *range(0x200B, 0x2010), *range(0x202A, 0x202F), *range(0x2060, 0x2065),
              *range(0x2066, 0x206A), 0xFEFF]
_COMBINING = [*range(0x0300, 0x0370), *range(0x1AB0, 0x1B00), *range(0x1DC0, 0x1E00), *range(0x20D0, 0x2100),
              *range(0xFE20, 0xFE30)]
_FULLWIDTH = [*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B)]  # Latin only, not ，。？
_ACCENTED = [*range(0x00C0, 0x0250), *range(0x0370, 0x0500), *range(0x1E00, 0x2000)]  # Latin, Greek, Cyrillic


def _pick(src: str, targets: set[str]) -> str:
    """The ASCII look-alike for src: same case, a letter for a letter, a digit for a digit."""
    def rank(t: str) -> tuple:
        return (src.isdigit() != t.isdigit(), not t.isalnum(), src.isupper() != t.isupper(), t)
    best = min(targets, key=rank)
    return "I" if best == "l" and src.isupper() else best  # Cyrillic І, Greek Ι: the table says "l"


@lru_cache(maxsize=1)
def _fold_table() -> dict[int, str | None]:
    """Confusables, full-width Latin, accents and invisible characters to ASCII, built once."""
    import confusable_homoglyphs

    path = Path(confusable_homoglyphs.__file__).with_name("confusables.json")
    pairs: dict[str, set[str]] = {}
    for key, entries in json.loads(path.read_text(encoding="utf-8")).items():
        for entry in entries:
            a, b = key, entry["c"]
            if len(a) == 1 and len(b) == 1 and a.isascii() != b.isascii():
                src, dst = (b, a) if a.isascii() else (a, b)
                pairs.setdefault(src, set()).add(dst)
    table: dict[int, str | None] = {}
    for src, targets in pairs.items():
        targets = {t for t in targets if t.isprintable() and not t.isspace()}
        # Letters and digits only: never CJK ideographs or Chinese punctuation (wide), never “”…— in prose.
        if targets and unicodedata.category(src)[0] in "LN" and unicodedata.east_asian_width(src) not in "WF":
            exact = unicodedata.normalize("NFKC", src)  # 𝟎 is 0 and 𝐚 is a, whatever it looks like
            table[ord(src)] = exact if exact.isascii() and exact.isalnum() and len(exact) == 1 else _pick(src, targets)
    for cp in _ACCENTED:  # NFKD, drop the marks, then the base letter's own look-alike
        base = "".join(c for c in unicodedata.normalize("NFKD", chr(cp)) if not unicodedata.combining(c))
        base = "".join(table.get(ord(c), c) or "" for c in base)
        if base and base != chr(cp) and base.isascii() and base.isalpha() and len(base) <= 2:
            table.setdefault(cp, base)
    for cp in _FULLWIDTH:
        table[cp] = unicodedata.normalize("NFKC", chr(cp))
    for cp in [*_INVISIBLE, *_COMBINING]:  # zero-width padding, Zalgo noise
        table[cp] = None
    return table


def _homoglyph(text: str) -> str | None:
    return None if text.isascii() else text.translate(_fold_table())


# -- leetspeak ----------------------------------------------------------------------
# Our own table rather than _safety_patterns.LEET: the view also needs | -> l.
# 1 reads as i (ignore, instructions), never l: one view, one reading.

LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t",
                      "@": "a", "$": "s", "|": "l", "!": "i"})
_LEET_CHARS = frozenset("013457@$|!")
_NOT_LEET = frozenset("2689")  # a token with these is a name or a number: bf16, sha256, q8_0, \x9b
_LEET_TOKEN = re.compile(r"[A-Za-z0-9@$|!]+")
_LEET_INSIDE = re.compile(r"[A-Za-z][013457@$|!]+[A-Za-z]")  # a symbol between letters: "1gn0r3", "sh!t"


def _leet(text: str) -> str | None:
    if _LEET_INSIDE.search(text) is None:  # no symbol between letters anywhere: the common case
        return None
    parts, last, inside = [], 0, False
    for m in _LEET_TOKEN.finditer(text):
        token = m.group()
        core = token.rstrip("!").lstrip("@")  # "Great!", "@name" are not leet
        if "@" in token and text[m.end():m.end() + 1] == ".":
            continue  # an e-mail address
        if _LEET_CHARS.isdisjoint(core) or not _NOT_LEET.isdisjoint(core) or not any(c.isalpha() for c in core):
            continue
        if len(core) >= MIN_SEGMENT and not core.islower() and not core.isupper():
            continue  # mixed-case runs this long are base64, not words
        inside = inside or _LEET_INSIDE.search(core) is not None
        start = m.start() + token.index(core)
        parts += [text[last:start], core.translate(LEET)]
        last = start + len(core)
    if not inside:
        return None
    parts.append(text[last:])
    return "".join(parts)


_VIEWS = [("base64", _decoded_view("base64")), ("hex", _decoded_view("hex")), ("rot13", _rot13),
          ("url", _decoded_view("url")), ("spacing", _spacing), ("homoglyph", _homoglyph),
          ("leet", _leet), ("reversed", _reversed)]
