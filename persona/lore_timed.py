"""Lorebook timed effects (sticky, cooldown, delay), counted in chat messages as SillyTavern counts them.

The clock is the chat's length: its user and assistant messages, the greeting
and this turn's user message included, so each turn moves it by two. An entry
that fires with ``sticky: N`` stays active (it fires whatever the keys, and
skips the probability roll) while the chat is shorter than where it fired + N;
with ``cooldown: N`` it cannot fire until the chat is N longer, counted from
when it fired and again from when its sticky spell ends; with ``delay: N`` it
cannot fire while the chat is shorter than N.

The state is ``{"sticky": {"book.uid": [start, end]}, "cooldown": {...}}``. It
is kept in the turn record (the user message's ``lore.timed``), so it is saved
in the same transaction as the turn, comes back with a resumed session, and an
undone or regenerated turn takes its state with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from persona.lore_book import Book, Entry

KINDS = ("sticky", "cooldown")


def key(book: Book, entry: Entry) -> str:
    return f"{book.name}.{entry.uid}"


def read(value: Any) -> dict[str, dict[str, list[int]]]:
    """A stored state, with anything malformed left out (the store may have been edited)."""
    out: dict[str, dict[str, list[int]]] = {k: {} for k in KINDS}
    if not isinstance(value, dict):
        return out
    for kind in KINDS:
        table = value.get(kind)
        if not isinstance(table, dict):
            continue
        for name, span in table.items():
            if isinstance(span, list) and len(span) == 2 and all(type(v) is int for v in span):
                out[kind][str(name)] = list(span)
    return out


class Timed:
    """The timed effects as of this turn, at chat length ``position``."""

    def __init__(self, state: Any, position: int, books: Sequence[Book]) -> None:
        self.position = position
        self.state = read(state)
        entries = {key(b, e): e for b in books for e in b.entries}
        for name, (_, end) in list(self.state["sticky"].items()):
            entry = entries.get(name)
            if entry is None or not entry.sticky:
                if entry is not None or position >= end:
                    del self.state["sticky"][name]
            elif position >= end:  # the spell ended: a cooldown starts now
                del self.state["sticky"][name]
                if entry.cooldown:
                    self.state["cooldown"][name] = [position, position + entry.cooldown]
        for name, (_, end) in list(self.state["cooldown"].items()):
            entry = entries.get(name)
            if position >= end or (entry is not None and not entry.cooldown):
                del self.state["cooldown"][name]

    def sticky(self, book: Book, entry: Entry) -> bool:
        return bool(entry.sticky) and key(book, entry) in self.state["sticky"]

    def cooling(self, book: Book, entry: Entry) -> bool:
        return key(book, entry) in self.state["cooldown"]

    def delayed(self, entry: Entry) -> bool:
        return self.position < entry.delay

    def fired(self, pairs: Iterable[tuple[Book, Entry]]) -> None:
        """Start the sticky and cooldown spans of the entries that fired (if not already running)."""
        for book, entry in pairs:
            for kind in KINDS:
                length = getattr(entry, kind)
                if length:
                    self.state[kind].setdefault(key(book, entry), [self.position, self.position + length])

    def record(self) -> dict[str, dict[str, list[int]]]:
        return {k: dict(sorted(v.items())) for k, v in self.state.items()}


def uses_time(books: Sequence[Book]) -> bool:
    return any(e.sticky or e.cooldown for b in books for e in b.entries)
