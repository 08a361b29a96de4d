"""The script parsers, format detection and the lorebook cost linear time in their input (issue 10, class 5).

No test here reads a clock. CPython's regex engine has no step counter, so the
proof has two halves: every pattern the parsers use has a shape the engine runs
in linear time (checked on the parsed pattern, below), and the characters the
parsers hand to those patterns grow linearly with the input (counted by wrapping
them, with inputs of size n and 2n). The inputs the audit found are regression cases.
"""

from __future__ import annotations

import inspect
import json
import re
from re import _compiler as sre_compile
from re import _constants as sre
from re import _parser as sre_parse

import pytest

from persona import lore_book, lore_match
from persona.data import chunk as C
from persona.data import detect as D
from persona.data import extract as X
from persona.data import formats as F
from persona.data import formats_base, formats_fountain, formats_play, formats_prose, formats_transcript, formats_zh

REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)
# Patterns that only ever see a few characters: a slice formats.py cuts first, or a lore key.
BOUNDED_INPUT = {"ZH_BEFORE": 24, "EN_BEFORE": 60, "_ZH_ADVERBS": 10, "_REGEX_KEY": lore_book.MAX_KEY_CHARS}
PARSER_MODULES = [formats_base, formats_zh, formats_play, formats_transcript, formats_fountain, formats_prose]
MODULES = [F, *PARSER_MODULES, D, X, C, lore_book, lore_match]
PARSERS = [F.parse_zh_script, F.parse_stageplay, F.parse_transcript, F.parse_fountain, F.parse_prose, X.detect]


# --- every pattern has a linear shape ------------------------------------------------

def module_patterns(module) -> dict[str, re.Pattern]:
    return {name: value for name, value in vars(module).items() if isinstance(value, re.Pattern)}


def _has_repeat(items) -> bool:
    return any(_repeats(items))


def _has_branch(items) -> bool:
    return any(op == sre.BRANCH or op == sre.SUBPATTERN and _has_branch(av[3])
               or op in REPEATS and _has_branch(av[2]) or op == sre.ATOMIC_GROUP and _has_branch(av)
               for op, av in items)


def _repeats(items):
    for op, av in items:
        if op in REPEATS:
            if av[1] > 1:
                yield op, av
            yield from _repeats(av[2])
        elif op == sre.SUBPATTERN:
            yield from _repeats(av[3])
        elif op == sre.ATOMIC_GROUP:
            yield from _repeats(av)
        elif op == sre.BRANCH:
            for alt in av[1]:
                yield from _repeats(alt)
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            yield from _repeats(av[1])


def shape_problems(pattern: re.Pattern) -> list[str]:
    """Why ``pattern`` might take more than linear time; empty when it cannot.

    1. A repeat that can give characters back (greedy or lazy, not possessive)
       must not be retried inside another repeat, must have no repeat after it
       and no alternatives inside it: otherwise each character it gives back
       re-runs a scan of the rest (``\\s*`` before an optional group and another
       ``\\s*``; a lazy name before ``\\s*``). A possessive repeat gives nothing back.
    2. Unanchored (``search``, ``sub``, ``finditer``): the engine starts again at
       every position, so a repeat must stop at the next place a match could
       start (its body must not match its alternative's first character), or have
       nothing after it that can fail.
    """
    tree = sre_parse.parse(pattern.pattern, pattern.flags)
    problems: list[str] = []

    def walk(items, after: bool, inside: bool) -> None:
        for i, (op, av) in enumerate(items):
            later = after or _has_repeat(items[i + 1:])
            if op in REPEATS and av[1] > 1:
                if op != sre.POSSESSIVE_REPEAT and (inside or later or _has_branch(av[2])):
                    problems.append(f"{op} {av[0]},{av[1]} gives characters back that a later repeat, an outer repeat or its own alternatives rescan: make it possessive")
                walk(av[2], True, True)
            elif op in REPEATS:  # x? or {0,1}
                walk(av[2], later, inside)
            elif op == sre.SUBPATTERN:
                walk(av[3], later, inside)
            elif op == sre.ATOMIC_GROUP:
                walk(av, later, inside)
            elif op == sre.BRANCH:
                for alt in av[1]:
                    walk(alt, later, inside)
            elif op in (sre.ASSERT, sre.ASSERT_NOT):
                walk(av[1], False, inside)

    walk(tree.data, False, False)
    if tree.data[:1] == [(sre.AT, sre.AT_BEGINNING)]:
        return problems
    alternatives = tree.data[0][1][1] if len(tree.data) == 1 and tree.data[0][0] == sre.BRANCH else [tree.data]
    for alt in alternatives:
        for i, (op, av) in enumerate(alt):
            if op not in REPEATS or av[1] <= 1 or not alt[i + 1:]:
                continue  # a trailing repeat never fails, so it never scans twice
            first = alt[0]
            if first[0] == sre.LITERAL:
                openers = [chr(first[1])]
            elif first[0] == sre.IN and all(kind == sre.LITERAL for kind, _ in first[1]):
                openers = [chr(c) for _, c in first[1]]
            else:
                problems.append("unanchored and does not start with a fixed character: every start rescans")
                continue
            body = sre_compile.compile(av[2])
            if any(body.fullmatch(c) for c in openers):
                problems.append(f"unanchored repeat runs over {openers!r}, where the next match may start")
    return problems


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_every_pattern_has_a_shape_the_regex_engine_runs_in_linear_time(module):
    found = {name: shape_problems(p) for name, p in module_patterns(module).items() if name not in BOUNDED_INPUT}
    assert {name: why for name, why in found.items() if why} == {}


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_no_regex_is_compiled_inline_where_the_shape_check_cannot_see_it(module):
    assert not re.findall(r"\bre\.(?:sub|subn|search|match|fullmatch|findall|finditer|split)\(", inspect.getsource(module))


@pytest.mark.parametrize("pattern, why", [
    (r"^(?:@(?P<f>[^(^]+?)|(?P<n>[A-Z0-9][A-Z0-9 ._'\-]*?))\s*(?P<e>(?:\([^)]*\)\s*)*)\^?$", "give"),
    (r"^(第[0-9]+[幕场])\s*(?P<cont>[（(]续[）)])?\s*$", "give"),
    (r"\[\[[^\]]*\]\]", "where the next match"),
    (r"\s*#[^#]*#\s*$", "fixed character"),
], ids=["fountain cue", "zh scene", "fountain note", "scene number"])
def test_the_shape_check_catches_the_patterns_the_audit_found(pattern, why):
    assert any(why in problem for problem in shape_problems(re.compile(pattern)))


# --- the characters handed to patterns grow linearly --------------------------------

class Counted:
    """A compiled pattern that adds the length of every string it is handed to ``work``."""

    METHODS = {"match", "fullmatch", "search", "sub", "subn", "findall", "finditer", "split"}

    def __init__(self, pattern: re.Pattern, work: list[int]) -> None:
        self._pattern, self._work = pattern, work

    def __getattr__(self, name):
        method = getattr(self._pattern, name)
        if name not in self.METHODS:
            return method

        def counted(*args, **kwargs):
            self._work[0] += len(args[1] if name in ("sub", "subn") else args[0])
            return method(*args, **kwargs)
        return counted


def counting(monkeypatch) -> list[int]:
    """Count the characters every parser pattern, and every string scanner of the parsers, is handed.

    Each parser module holds its own names, so each is patched where it is
    used (the formats facade only re-exports them).
    """
    work = [0]

    def counted(scan):
        def scan_counted(text, *args):
            work[0] += len(text)
            return scan(text, *args)
        return scan_counted

    for module in PARSER_MODULES:
        for name, pattern in module_patterns(module).items():
            monkeypatch.setattr(module, name, Counted(pattern, work))
        for name in ("_cut", "_strip_notes", "_strip_scene_number"):
            if name in vars(module):
                monkeypatch.setattr(module, name, counted(getattr(module, name)))
    return work


AUDIT = {  # the inputs issue 10 reports, as functions of their size
    "cue name then spaces (40 KB: 43 s to detect)": lambda n: "MARA" + " " * n + "x\nHello there.\n",
    '"[[" repeated (7 s)': lambda n: "[[" * n,
    "INT. then spaces (2.2 s)": lambda n: "INT." + " " * n + "x",
}
FAMILIES = {
    **AUDIT,
    "boneyard never closed": lambda n: "/*" * n,
    "scene numbers": lambda n: "INT. HOUSE" + " #" * n + "\n\nBOB\nHi.",
    "cue extensions never closed": lambda n: "BOB " + "(" * n + "\nHello.",
    "forced cue then spaces": lambda n: "@bob" + " " * n + "x\nHello.",
    "zh speaker then spaces": lambda n: "甄嬛" + " " * n + "x",
    "zh scene then spaces": lambda n: "第1幕" + " " * n + "x",
    "act then spaces": lambda n: "ACT I" + " " * n + "x",
    "quotes in one paragraph": lambda n: '"Aye," said Tom. ' * n,
    "quote then spaces": lambda n: '"a"' + " " * n + "x",
    "opening quotes": lambda n: "“「\"" * n,
    "many short speeches": lambda n: "BOB:\nHello.\n\n甄嬛：你好。\n\n" * n,
    "inline cues": lambda n: "MARLOWE (aside): Let it sit. (beat) [to Finch]\n" * n,
    "cue name words then spaces": lambda n: "Man in the" + " " * n + "Hat x",
    "asides never closed": lambda n: "MARLOWE " + "(" * n + ": x",
    "bracketed speakers": lambda n: "【甄嬛】「臣妾告退。」\n甄嬛：「是。」\n" * n,
    "zh scene place then spaces": lambda n: "第1场" + " " * n + "养心殿",
    "slug lines": lambda n: "INT. DECK – NIGHT\n[Scene: Deck, night.]\nSCENE 2.\n" * n,
}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("parse", PARSERS, ids=lambda f: f.__name__)
def test_doubling_the_input_at_most_doubles_the_characters_patterns_are_handed(monkeypatch, parse, family):
    work = counting(monkeypatch)
    counts = []
    for n in (2000, 4000):
        work[0] = 0
        parse(FAMILIES[family](n))
        counts.append(work[0])
    assert counts[0] > 0, "no pattern was counted: the patching missed where the parser looks them up"
    assert counts[1] <= 2.1 * counts[0] + 64, counts


@pytest.mark.parametrize("family", AUDIT)
def test_the_audit_inputs_at_full_size_are_read_as_before(family):
    text = AUDIT[family](40_000)
    scores = X.detect(text)
    assert set(scores) == set(X.FORMATS[1:]) and all(0 <= s <= 1 for s in scores.values())
    play, fountain = F.parse_stageplay(text), F.parse_fountain(text)
    if family.startswith("cue"):  # not a cue (it ends in "x"): one action paragraph, as before
        assert fountain.utterances == [] and [u.text[-14:] for u in fountain.narration] == ["x Hello there."]
    elif family.startswith('"[['):  # an unclosed note is text, not a note
        assert [u.text for u in fountain.narration] == [text] and play.utterances == []
    else:
        assert fountain.utterances == fountain.narration == []  # one heading line


def test_the_95k_key_lorebook_is_refused_before_any_automaton_is_built(monkeypatch):
    built = []
    monkeypatch.setattr(lore_book, "Matcher", lambda *a, **k: built.append(a))
    book = {"entries": [{"keys": [f"w{i:06d}" for i in range(95_000)], "content": "A fact."}]}
    assert len(json.dumps(book)) > 900 * 1024
    with pytest.raises(lore_book.LoreLimitError, match="95000 keys, more than 64"):
        lore_book.parse(book)
    assert built == []
