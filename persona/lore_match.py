"""Lorebook key matching in one pass over the chat: an Aho–Corasick automaton per book.

Keys and text go through the same normalisation: whitespace runs become one
space; for keys that ignore case, letters are folded as ``re.IGNORECASE`` folds
them (lowercase, and σ/ς, i/ı, s/ſ … as one); and a marker goes in at every
edge of a run of ASCII letters and digits (U+FDD0 before, U+FDD1 after: Unicode
"noncharacters", reserved for a program's internal use, so a chat or a key that
contains one has it read as U+FFFD). A whole-word key keeps the markers at its
own ends, so it can only be found where the text has a word edge: "gull" is
found in "Gull's" but not in "seagulls". A substring key drops them. Every automaton
hit is then a real match and needs no check, so a turn costs the length of the
text plus the hits, both counted in C. The keys ending at one place in the text
are the longest of them and the keys it ends with, so hits are at most the text
length times :attr:`Matcher.nested` (the most keys one key ends with, itself
included), which the book bounds. The number of keys costs only memory, once
per book.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter

_SPACES = re.compile(r"\s+")  # one quantifier, nothing after it to fail: linear
_WORD = "A-Za-z0-9"  # what a whole-word key must not run into (as the regexes it replaces)
_WORD_START = re.compile(rf"(?<![{_WORD}])(?=[{_WORD}])")
_WORD_END = re.compile(rf"(?<=[{_WORD}])(?![{_WORD}])")
_START, _END = "\ufdd0", "\ufdd1"
_NO_MARKERS = str.maketrans({_START: "\ufffd", _END: "\ufffd"})  # so a marker in the text is only ever ours
# The letters re.IGNORECASE matches with each other though lower() keeps them
# apart (re/_casefix.py): each to the usual one (ı i, ſ s, µ μ, ς σ, ϐ β, ...).
_SAME_LETTER = str.maketrans(
    "\u0131\u017f\u00b5\u0345\u1fbe\u1fd3\u1fe3\u03d0\u03f5\u03d1\u03f0\u03d6\u03f1\u03c2\u03d5"
    "\u1c80\u1c81\u1c82\u1c83\u1c84\u1c85\u1c86\u1c87\u1c88\u1e9b\ufb05",
    "\u0069\u0073\u03bc\u03b9\u03b9\u0390\u03b0\u03b2\u03b5\u03b8\u03ba\u03c0\u03c1\u03c3\u03c6"
    "\u0432\u0434\u043e\u0441\u0442\u0442\u044a\u0463\ua64b\u1e61\ufb06")
_JOIN = "\n"  # between messages: never inside a normalised key, so no key spans two


def fold(text: str) -> str:
    """Lowercase as ``re.IGNORECASE`` compares: one character to one, whatever stands next to it."""
    # İ is the one character lower() makes two of (i + a dot); the regex took it as i.
    return text.replace("\u0130", "i").lower().translate(_SAME_LETTER)


def normalise(text: str, case_sensitive: bool) -> str:
    """``text`` as the automaton sees it (see the module docstring)."""
    text = _SPACES.sub(" ", text).translate(_NO_MARKERS)
    if not case_sensitive:
        text = fold(text)
    return _WORD_END.sub(_END, _WORD_START.sub(_START, text))


@dataclass(frozen=True)
class KeyList:
    """The keys of one slot (an entry's primary or secondary keys) and how they match."""

    keys: Sequence[str]
    case_sensitive: bool
    whole_words: bool


class Matcher:
    """Which of a book's key lists occur in some text; built once per book."""

    def __init__(self, lists: Sequence[KeyList], stop_at: int = 1 << 30) -> None:
        """Build the automata; ``nested`` is measured up to ``stop_at`` + 1 (the caller's limit)."""
        # per case class: normalised key -> the slots that have it
        table: dict[bool, dict[str, set[int]]] = {False: {}, True: {}}
        for slot, kl in enumerate(lists):
            for key in kl.keys:
                key = " ".join(key.split())
                norm = normalise(key, kl.case_sensitive)
                # An edge is checked where the key itself ends in an ASCII letter or digit
                # (ı folds to i, but a key starting with ı never asked for a word edge).
                if not (kl.whole_words and key[:1].isascii() and key[:1].isalnum()):
                    norm = norm.removeprefix(_START)
                if not (kl.whole_words and key[-1:].isascii() and key[-1:].isalnum()):
                    norm = norm.removesuffix(_END)
                if norm:
                    table[kl.case_sensitive].setdefault(norm, set()).add(slot)
        self._automata = [(case, _automaton(words), list(words.values())) for case, words in table.items() if words]
        self.nested, self.nested_key = 0, ""  # the most keys that can end at one place, and the longest of them
        for case, automaton, _ in self._automata:
            for word in table[case]:
                n = _nested(automaton, word, stop_at)
                if n > self.nested:
                    self.nested, self.nested_key = n, word.replace(_START, "").replace(_END, "")
                if self.nested > stop_at:
                    break
        self.scanned = 0  # characters fed to the automata, for tests that count work
        self.hits = 0  # automaton hits

    def found(self, texts: Iterable[str]) -> set[int]:
        """The slots with a key in one of ``texts`` (each text searched on its own)."""
        texts = list(texts)
        out: set[int] = set()
        for case, automaton, slots in self._automata:
            text = _JOIN.join(normalise(t, case) for t in texts)
            counter = itertools.count()
            # All in C: the key ids hit, and how many hits there were.
            seen = set(map(itemgetter(0), zip(map(itemgetter(1), automaton.iter(text)), counter)))
            self.scanned += len(text)
            self.hits += next(counter)
            for kid in seen:
                out |= slots[kid]
        return out

    def nearest(self, texts: Sequence[str]) -> dict[int, int]:
        """slot -> how far from the newest text (0) one of its keys is first found.

        The same work as :meth:`found`: each text is searched once, on its own."""
        out: dict[int, int] = {}
        for distance, text in enumerate(reversed(texts)):
            for slot in self.found([text]):
                out.setdefault(slot, distance)
        return out


def _nested(automaton, word: str, stop_at: int) -> int:
    """How many keys end where ``word`` does (itself included); stops once a place inside it has more than ``stop_at``."""
    last, run, at_end = -1, 0, 0
    for end, _ in automaton.iter(word):
        run = run + 1 if end == last else 1
        last = end
        if run > stop_at:
            return run  # some key inside ``word`` already has too many
        if end == len(word) - 1:
            at_end = run
    return at_end


def _automaton(words: dict[str, set[int]]):
    import ahocorasick  # a C extension, only for packs with a lorebook

    automaton = ahocorasick.Automaton()
    for kid, word in enumerate(words):
        automaton.add_word(word, kid)
    automaton.make_automaton()
    return automaton
