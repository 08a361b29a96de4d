"""Which lorebook entries fire this turn, and why: SillyTavern's world-info activation, bounded.

Per step (the chat first, then up to MAX_RECURSION_STEPS recursive scans of what
fired): an entry fires by being sticky, constant, or by a primary key found
within its scan depth and its optional filter passing (``selectiveLogic``).
The step's new entries then go through inclusion groups (one winner a group:
sticky first, then the highest order with ``groupOverride``, else a weighted
draw), the probability roll (sticky entries skip it), and the token budget
(constants first, then higher priority and higher order; once one does not fit
it and everything after it is dropped). Delay, cooldown and disabled entries
never fire. Random draws use the turn's seed, so a seed reproduces them.

Recursion scans the content of the fired entries that do not
``preventRecursion``; an ``excludeRecursion`` entry cannot be fired by it; a
``delayUntilRecursion`` entry (true, or a level N) never fires in the first
scan: the lowest level is open in recursive scans, and each time a scan leaves
nothing to recurse on, the next level opens for one more scan (as SillyTavern
steps through them; a single level with nothing else recursing never opens). Each
content is scanned once and the recursion text is capped, so the work of a
turn stays linear in the chat plus MAX_RECURSION_CHARS.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from persona.lore_book import MAX_RECURSION_STEPS, Book, Entry
from persona.lore_timed import Timed

MAX_RECURSION_CHARS = 64 * 1024


@dataclass
class Fired:
    book: Book
    entry: Entry
    rule: str  # "key", "constant", "sticky"
    step: int  # 0: the chat; 1..: recursion
    key: str | None = None  # the primary key that matched

    def record(self) -> dict:
        out = {"entry": self.entry.name, "rule": self.rule, "step": self.step}
        if self.key is not None:
            out["key"] = self.key
        if self.book.name != "pack":
            out["book"] = self.book.name
        return out


@dataclass
class Activation:
    kept: list[Fired] = field(default_factory=list)
    dropped: list[Fired] = field(default_factory=list)  # over the token budget
    skipped: list[dict] = field(default_factory=list)  # matched, then out: probability, group, cooldown, delay


def roll(seed: object, *parts: object) -> random.Random:
    """A generator for one decision, the same for the same seed and parts (str seeds hash stably)."""
    return random.Random(":".join(map(str, (seed, *parts))))


def activate(books: Sequence[Book], texts: Sequence[str], timed: Timed, seed: object,
             budget: int) -> Activation:
    """The entries of ``books`` that fire on ``texts`` (oldest first) this turn."""
    out = Activation()
    done: set[int] = set()  # id(entry) of entries fired, failed or filtered out: decided once
    chat_hits = [_nearest(book, texts) for book in books]
    rec_hits: list[set[int]] = [set() for _ in books]
    group_won: set[str] = set()
    used, overflow, rec_chars = 0, False, 0
    # delayUntilRecursion levels (true is 1), as SillyTavern steps through them: the lowest is
    # open in the first recursive scan; when a scan adds nothing to recurse on, the next opens.
    levels = sorted({e.delay_until_recursion for book in books for e in book.entries if e.delay_until_recursion})
    level = levels.pop(0) if levels else 0
    for step in range(MAX_RECURSION_STEPS + 1):
        new: list[Fired] = []
        for b, book in enumerate(books):
            for entry in book.entries:
                if id(entry) in done:
                    continue
                fired = _fires(book, entry, step, level, chat_hits[b], rec_hits[b], timed)
                if isinstance(fired, str):  # matched, but a delay or a cooldown keeps it out: once
                    out.skipped.append({"entry": entry.name, "rule": fired, "step": step})
                    done.add(id(entry))
                elif fired:
                    new.append(fired)
                    done.add(id(entry))
        new = _groups(new, group_won, seed, timed.position, out)
        kept_now: list[Fired] = []
        for f in sorted(new, key=lambda f: (f.rule != "sticky" and not f.entry.constant,
                                            -f.entry.priority, -f.entry.order)):
            if f.rule != "sticky" and f.entry.probability < 100 and \
                    roll(seed, timed.position, f.book.name, f.entry.uid, "p").random() * 100 >= f.entry.probability:
                out.skipped.append({"entry": f.entry.name, "rule": "probability", "step": step})
                continue
            if overflow or used + f.entry.tokens > budget:
                overflow = True
                out.dropped.append(f)
                continue
            used += f.entry.tokens
            kept_now.append(f)
        out.kept += kept_now
        if step == MAX_RECURSION_STEPS or overflow:  # SillyTavern stops recursing once over budget too
            break
        text = "\n".join(f.entry.content for f in kept_now if not f.entry.prevent_recursion)
        text = text[:max(0, MAX_RECURSION_CHARS - rec_chars)] if any(book.recursive for book in books) else ""
        rec_chars += len(text)
        if not text:
            if not levels:
                break
            level = levels.pop(0)  # SillyTavern opens the next level even with recursion off
        for b, book in enumerate(books):
            if book.recursive and text:
                rec_hits[b] |= set(_nearest(book, [text]))
    return out


def _nearest(book: Book, texts: Sequence[str]) -> dict[int, int]:
    hits = book.matcher.nearest(texts)
    for slot, distance in book.regexes.nearest(texts).items():
        hits.setdefault(slot, distance)
    return hits


def _fires(book: Book, entry: Entry, step: int, level: int, chat: dict[int, int], rec: set[int],
           timed: Timed) -> Fired | str | None:
    """Fired(...) if ``entry`` fires in this step, "delay" or "cooldown" if it would but may not."""
    if entry.delay_until_recursion and (step == 0 or entry.delay_until_recursion > level) \
            and not timed.sticky(book, entry):
        return None
    if step and (entry.exclude_recursion and not entry.delay_until_recursion):
        return None  # the chat was scanned in step 0; recursion may not fire it
    sticky = timed.sticky(book, entry)
    if sticky:
        return Fired(book, entry, "sticky", step)
    depth = book.scan_depth if entry.scan_depth is None else entry.scan_depth

    def hit(slot: int) -> bool:
        return chat.get(slot, depth) < depth or (slot in rec and not entry.exclude_recursion)

    if entry.constant:
        fired = Fired(book, entry, "constant", step)
    else:
        key = next((s for s in entry.keys if hit(s)), None)
        if key is None or not _filter(entry, hit):
            return None
        fired = Fired(book, entry, "key", step, book.keys[key])
    if timed.delayed(entry):
        return "delay"
    return "cooldown" if timed.cooling(book, entry) else fired


def _filter(entry: Entry, hit) -> bool:
    if not entry.secondary:
        return True
    found = [hit(s) for s in entry.secondary]
    return {"AND ANY": any(found), "AND ALL": all(found),
            "NOT ANY": not any(found), "NOT ALL": not all(found)}[entry.logic]


def _groups(new: list[Fired], won: set[str], seed: object, position: int, out: Activation) -> list[Fired]:
    """One entry a group: a group that already has a winner this turn takes no more."""
    losers: set[int] = set()
    names = sorted({g for f in new for g in f.entry.groups})
    for group in names:
        members = [f for f in new if group in f.entry.groups and id(f) not in losers]
        if not members:
            continue
        if group in won:
            winner = None
        elif any(f.rule == "sticky" for f in members):
            winner = next(f for f in members if f.rule == "sticky")
        elif any(f.entry.group_override for f in members):
            winner = max((f for f in members if f.entry.group_override), key=lambda f: f.entry.order)
        else:
            pick = roll(seed, position, "group", group).random() * sum(f.entry.group_weight for f in members)
            winner = members[-1]
            for f in members:
                pick -= f.entry.group_weight
                if pick < 0:
                    winner = f
                    break
        won.add(group)
        for f in members:
            if f is not winner:
                losers.add(id(f))
                out.skipped.append({"entry": f.entry.name, "rule": "group", "group": group, "step": f.step})
    return [f for f in new if id(f) not in losers]
