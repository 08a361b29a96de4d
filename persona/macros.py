"""SillyTavern's ``{{macros}}`` in card text, expanded in one bounded, linear pass."""

from __future__ import annotations

import contextlib
import hashlib
import random
import re
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import datetime

# Packs are untrusted: a render does at most this much work, whatever the text holds.
MAX_MACROS = 10_000  # macros evaluated per render; later ones stay as written
MAX_GROWTH = 100_000  # characters macros may add per render; past that they stay as written
MAX_DEPTH = 8  # {{ nesting }}; a deeper {{ is plain text
MAX_CHOICES = 1_000  # items of a {{random}} / {{pick}} list; the rest are ignored
MAX_DICE, MAX_SIDES, MAX_BONUS = 100, 1_000_000, 1_000_000

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_NAME = re.compile(r"[A-Za-z_]\w*")
_DICE = re.compile(r"(\d{0,3})d(\d{1,7})(?:([+-])(\d{1,7}))?")
_LEGACY = re.compile(r"<(USER|BOT|CHAR)>", re.IGNORECASE)  # pre-macro Tavern cards
_SYSTEM_RANDOM = random.SystemRandom()


@dataclass(frozen=True)
class MacroContext:
    """What macros expand to. The engine builds one per chat and turn (Engine.macro_context)."""

    char: str = ""  # {{char}}; empty: the pack's nickname or name (Persona.render fills it)
    user: str = "User"  # {{user}}: the active user persona's name
    chat_id: str = ""  # seeds {{pick}}: the same pick for the whole chat (and its branches)
    seed: int | None = None  # seeds {{random}} and {{roll}} (--seed); None: fresh randomness
    turn: int = 0  # with a seed, {{random}} still differs from turn to turn, reproducibly
    clock: Callable[[], datetime] = datetime.now  # {{time}}, {{date}}, {{weekday}}
    last_message: str = ""  # {{lastMessage}}
    last_user_message: str = ""
    last_char_message: str = ""
    idle_seconds: float | None = None  # since the user's previous message; None: "just now"


@dataclass
class Stats:
    """Work done by one render: for bounds checks and for `persona validate`."""

    steps: int = 0  # tokens and characters handled; linear in the text
    macros: int = 0  # macros evaluated
    grown: int = 0  # characters added
    unknown: list[str] = field(default_factory=list)  # as written, at most 50


_active: ContextVar[MacroContext | None] = ContextVar("persona_macros", default=None)


@contextlib.contextmanager
def using(ctx: MacroContext) -> Iterator[MacroContext]:
    """Make ``ctx`` the one renders without an explicit context use (plugins' lore, during a turn)."""
    token = _active.set(ctx)
    try:
        yield ctx
    finally:
        _active.reset(token)


def active() -> MacroContext | None:
    return _active.get()


def render(persona, text: str, user: str = "User", context: MacroContext | None = None) -> str:
    """``text`` of ``persona``'s with its macros expanded: the given context, else the turn's, else ``user``."""
    ctx = context or active() or MacroContext(user=user)
    if not ctx.char:
        ctx = replace(ctx, char=getattr(persona, "nickname", None) or persona.name)
    return expand(text, ctx)


def unknown(text: str) -> list[str]:
    """The macros of ``text`` that are not understood (left as written), for `persona validate`."""
    stats = Stats()
    expand(text, MacroContext(char="char"), stats)
    return stats.unknown


def expand(text: str, ctx: MacroContext, stats: Stats | None = None) -> str:
    """Expand every macro; unknown ones stay as written. Inner macros first: ``{{random:{{char}},x}}``."""
    stats = stats if stats is not None else Stats()
    text = _LEGACY.sub(lambda m: ctx.user if m.group(1).lower() == "user" else ctx.char, text)
    if "{{" not in text:
        return text
    ev = _Evaluator(text, ctx, stats)
    n = len(text)
    frames: list[list[str]] = [[]]  # text of each open macro; frames[0] is the output
    starts: list[int] = []
    literal_opens = pos = 0
    next_open, next_close = text.find("{{"), text.find("}}")
    while next_open != -1 or next_close != -1:
        stats.steps += 1
        if next_close == -1 or next_open != -1 and next_open < next_close:
            i = next_open + 2
            while i < n and text[i] == "{":  # "{{{x}}": the macro opens at the last two braces
                i += 1
            stats.steps += i - next_open
            frames[-1].append(text[pos:i - 2])
            if len(starts) < MAX_DEPTH:
                starts.append(i - 2)
                frames.append([])
            else:
                frames[-1].append("{{")
                literal_opens += 1
            pos, next_open = i, text.find("{{", i)
        else:
            frames[-1].append(text[pos:next_close])
            pos = next_close + 2
            if literal_opens:
                frames[-1].append("}}")
                literal_opens -= 1
            elif starts:
                body = "".join(frames.pop())
                stats.steps += len(body)
                value = ev.evaluate(body, starts.pop())
                frames[-1].append("{{" + body + "}}" if value is None else value)
            else:
                frames[-1].append("}}")
            next_close = text.find("}}", pos)
    frames[-1].append(text[pos:])
    while len(frames) > 1:  # never closed: plain text
        inner = "".join(frames.pop())
        frames[-1].append("{{" + inner)
    return "".join(frames[0])


_SIMPLE: dict[str, Callable[[MacroContext, datetime], str]] = {
    "char": lambda ctx, now: ctx.char,
    "user": lambda ctx, now: ctx.user,
    "newline": lambda ctx, now: "\n",
    "noop": lambda ctx, now: "",
    "time": lambda ctx, now: f"{now.hour % 12 or 12}:{now.minute:02d} {'AM' if now.hour < 12 else 'PM'}",
    "date": lambda ctx, now: f"{MONTHS[now.month - 1]} {now.day}, {now.year}",
    "weekday": lambda ctx, now: WEEKDAYS[now.weekday()],
    "isotime": lambda ctx, now: f"{now:%H:%M}",
    "isodate": lambda ctx, now: f"{now:%Y-%m-%d}",
    "idle_duration": lambda ctx, now: humanize(ctx.idle_seconds),
    "lastmessage": lambda ctx, now: ctx.last_message,
    "lastusermessage": lambda ctx, now: ctx.last_user_message,
    "lastcharmessage": lambda ctx, now: ctx.last_char_message,
}


class _Evaluator:
    def __init__(self, raw: str, ctx: MacroContext, stats: Stats) -> None:
        self.raw, self.ctx, self.stats = raw, ctx, stats
        self.now = ctx.clock()
        self._raw_hash = ""

    def evaluate(self, body: str, offset: int) -> str | None:
        stats = self.stats
        if stats.macros >= MAX_MACROS or stats.grown > MAX_GROWTH:
            return None
        stats.macros += 1
        value = self._value(body.strip(), offset)
        if value is None:
            label = "{{" + body[:60] + ("…}}" if len(body) > 60 else "}}")
            if len(stats.unknown) < 50 and label not in stats.unknown:
                stats.unknown.append(label)
            return None
        if stats.grown + len(value) > MAX_GROWTH:
            stats.grown = MAX_GROWTH + 1
            return None
        stats.grown += len(value)
        return value

    def _value(self, body: str, offset: int) -> str | None:
        if body.startswith("//"):
            return ""
        match = _NAME.match(body)
        if match is None:
            return None
        name, rest = match.group().lower(), body[match.end():]
        if not rest:
            simple = _SIMPLE.get(name)
            return simple(self.ctx, self.now) if simple else None
        # SillyTavern's spellings: random/pick take ":" or "::" (one space may come first), roll ":" or " ".
        arg = rest[1:] if rest[:2] == " :" else rest
        if name in ("random", "pick") and arg[:1] == ":":
            items = choices(arg[1:].removeprefix(":"))
            return self._rng(name, offset).choice(items) if items else ""
        if name == "roll" and rest[0] in " :":
            return roll(rest[1:].removeprefix(":").strip().lower(), self._rng("roll", offset))
        return None

    def _rng(self, kind: str, offset: int) -> random.Random:
        if kind != "pick" and self.ctx.seed is None:
            return _SYSTEM_RANDOM
        if not self._raw_hash:
            self._raw_hash = hashlib.sha256(self.raw.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        # As SillyTavern: a pick depends on the chat, the text and the macro's place in it.
        key = (f"pick|{self.ctx.chat_id}" if kind == "pick" else f"{kind}|{self.ctx.seed}|{self.ctx.turn}")
        digest = hashlib.sha256(f"{key}|{self._raw_hash}|{offset}".encode("utf-8", "surrogatepass")).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))


def choices(spec: str) -> list[str]:
    """SillyTavern's list forms: ``a::b::c`` as written, else ``a, b, c`` trimmed (``\\,`` a comma)."""
    if "::" in spec:
        return spec.split("::", MAX_CHOICES)[:MAX_CHOICES]
    marker = "\x00comma\x00"
    parts = spec.replace("\\,", marker).split(",", MAX_CHOICES)[:MAX_CHOICES]
    return [p.strip().replace(marker, ",") for p in parts]


def roll(formula: str, rng: random.Random) -> str | None:
    """``2d6``, ``d20``, ``3d6+2`` or ``20`` (one d20): the total; None (left as written) if invalid."""
    if formula.isdigit() and len(formula) <= 7:
        formula = "1d" + formula
    match = _DICE.fullmatch(formula) if len(formula) <= 24 else None
    if match is None:
        return None
    count, sides = int(match.group(1) or 1), int(match.group(2))
    bonus = int(match.group(4) or 0) * (-1 if match.group(3) == "-" else 1)
    if not (1 <= count <= MAX_DICE and 1 <= sides <= MAX_SIDES and abs(bonus) <= MAX_BONUS):
        return None
    return str(sum(rng.randint(1, sides) for _ in range(count)) + bonus)


# moment.js's humanize() thresholds, which SillyTavern's {{idle_duration}} shows.
_SPANS = ((45, "a few seconds", None), (90, "a minute", None), (45 * 60, "{} minutes", 60),
          (90 * 60, "an hour", None), (22 * 3600, "{} hours", 3600), (36 * 3600, "a day", None),
          (26 * 86400, "{} days", 86400), (45 * 86400, "a month", None), (320 * 86400, "{} months", 30 * 86400),
          (548 * 86400, "a year", None))


def humanize(seconds: float | None) -> str:
    if seconds is None:
        return "just now"
    seconds = max(0.0, seconds)
    for limit, words, unit in _SPANS:
        if seconds < limit:
            return words.format(max(2, round(seconds / unit))) if unit else words
    return f"{max(2, round(seconds / (365 * 86400)))} years"
