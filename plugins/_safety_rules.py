"""The safety rails' pattern matcher: the compiled rules, the readings each rule set scans, and personal-data redaction.

``plugins/safety.py`` builds one ``Matcher`` from the tables of
``_safety_patterns.py`` (data only); this module applies them. The leading "_"
keeps it from being loaded as a plugin of its own.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

# Invisible characters dropped and curly quotes straightened before matching,
# so "ig\u200bnore" or "I’m" read as written.
FOLD = {**dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff")),
        ord("‘"): "'", ord("’"): "'", ord("ʼ"): "'"}
CJK = re.compile(r"[\u3400-\u9fff]")
_CJK_GAP = re.compile(r"(?<=[\u3400-\u9fff])\s+(?=[\u3400-\u9fff])")
_SENTENCE_END = re.compile(r"[.?!\n。！？]")


@dataclass(frozen=True)
class Rule:
    category: str
    lang: str
    regex: re.Pattern[str]
    context: re.Pattern[str] | None  # must also match in the same sentence, nearby
    unless: re.Pattern[str] | None  # a match with this nearby is let through


class Text:
    """One reading of the text, with the places each helper regex (contexts,
    excuses, sentence ends) matches found once and then looked up by bisection,
    so a text full of near misses costs one pass per regex, not one per miss."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._found: dict[re.Pattern[str], tuple[list[int], list[int]]] = {}

    def _places(self, regex: re.Pattern[str]) -> tuple[list[int], list[int]]:
        if regex not in self._found:
            spans = [m.span() for m in regex.finditer(self.text)]
            self._found[regex] = ([s for s, _ in spans], [e for _, e in spans])
        return self._found[regex]

    def anywhere(self, regex: re.Pattern[str]) -> bool:
        return bool(self._places(regex)[0])

    def within(self, regex: re.Pattern[str], lo: int, hi: int) -> bool:
        """Whether ``regex`` matches wholly inside text[lo:hi]."""
        starts, ends = self._places(regex)
        i = bisect_left(starts, lo)
        return i < len(starts) and ends[i] <= hi

    def sentence(self, start: int, end: int, reach: int) -> tuple[int, int]:
        """The stretch around text[start:end], at most ``reach`` either side, inside one sentence."""
        stops, after_stops = self._places(_SENTENCE_END)
        i, j = bisect_right(after_stops, start), bisect_left(stops, end)
        lo = max(start - reach, after_stops[i - 1] if i else 0)
        hi = min(end + reach, stops[j] if j < len(stops) else len(self.text))
        return lo, hi


def _is_word_char(c: str) -> bool:
    return c.isascii() and (c.isalnum() or c == "_")


def _luhn(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()][::-1]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits))
    return total % 10 == 0


def _phone_digits(number: str) -> bool:
    return 7 <= sum(c.isdigit() for c in number) <= 15


_VALID = {"card": _luhn, "phone": _phone_digits}  # kinds without an entry need no check


class Matcher:
    """The pattern tables compiled once: ``scan`` finds the first rule that matches, ``redact`` hides personal data."""

    def __init__(self, patterns, scan_chars: int) -> None:
        self.P, self.scan_chars = patterns, scan_chars
        self.rules = {rail: {level: self._compile(categories, level) for level in ("standard", "strict")}
                      for rail, categories in (("input", patterns.INPUT_CATEGORIES),
                                               ("output", patterns.OUTPUT_CATEGORIES))}
        self.pii = [(kind, needle, re.compile(source), placeholders)
                    for kind, needle, source, placeholders in patterns.PII]

    def _compile(self, categories: list, level: str) -> list[Rule]:
        """One rule per table entry, in the tables' priority order.

        Each pattern is compiled on its own, without re.IGNORECASE (the text is
        lower-cased instead): joined into one alternation, or case-insensitive,
        they lose the first-character skip that keeps a scan fast.
        """
        rules = []
        for category, table in categories:
            excuse = self.P.UNLESS.get(category)
            for lang in ("en", "zh"):
                unless = excuse[lang] if excuse and level in excuse["levels"] else None
                for entry in table["standard"][lang] + (table["strict"][lang] if level == "strict" else []):
                    context, anchor = entry if isinstance(entry, tuple) else (None, entry)
                    rules.append(Rule(category, lang, re.compile(anchor), context and re.compile(context),
                                      unless and re.compile(unless)))
        return rules

    def readings(self, text: str) -> dict[str, Text | None]:
        """The text as each rule set reads it: NFKC-normalised and lower-cased; for
        Chinese rules also without spaces between characters (忽 略 之 前); with digit
        and symbol swaps undone for the word lists (n1gger)."""
        norm = unicodedata.normalize("NFKC", text[:self.scan_chars]).translate(FOLD).lower()
        leet = norm.translate(self.P.LEET)
        return {"en": Text(norm), "zh": Text(_CJK_GAP.sub("", norm)) if CJK.search(norm) else None,
                "leet": Text(leet) if leet != norm else None}

    def _hit(self, rule: Rule, view: Text) -> bool:
        """Whether ``rule`` matches at a word start, with its context and without an excuse."""
        text = view.text
        if rule.context is not None and not view.anywhere(rule.context):
            return False
        pos = 0
        while (m := rule.regex.search(text, pos)) is not None:
            start, end = m.span()
            pos = start + 1
            if rule.lang == "en" and start and _is_word_char(text[start]) and _is_word_char(text[start - 1]):
                continue  # starts inside a word ("skill myself")
            if rule.context is not None and not view.within(rule.context,
                                                            *view.sentence(start, end, self.P.CONTEXT_WINDOW)):
                continue
            if rule.unless is not None and view.within(rule.unless, max(0, start - self.P.UNLESS_WINDOW),
                                                       end + self.P.UNLESS_WINDOW):
                continue
            return True
        return False

    def scan(self, rail: str, level: str, text: str) -> Rule | None:
        """The first of ``rail``'s rules at ``level`` that matches ``text``."""
        views = self.readings(text)
        for rule in self.rules[rail][level]:
            readings = [views[rule.lang]]
            if rule.lang == "en" and rule.category in self.P.LEET_CATEGORIES:
                readings.append(views["leet"])
            if any(view is not None and self._hit(rule, view) for view in readings):
                return rule
        return None

    def redact(self, text: str, lang: str = "en") -> str:
        """``text`` with e-mail addresses, phone, ID and card numbers replaced by placeholders."""
        for kind, needle, regex, placeholders in self.pii:
            if needle not in text:
                continue
            valid = _VALID.get(kind)
            placeholder = placeholders[lang]
            text = regex.sub(lambda m: placeholder if valid is None or valid(m.group()) else m.group(), text)
        return text
