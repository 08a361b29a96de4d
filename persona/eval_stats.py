"""Percentile bootstrap intervals (95 %, fixed seed) for the eval's figures, alone or as a paired difference."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

RESAMPLES = 1000  # enough for a stable 2.5/97.5 percentile; the statistics are cheap
LEVEL = 0.95


def _percentiles(values: list[float], level: float) -> tuple[float, float]:
    values = sorted(values)
    tail = (1 - level) / 2
    lo = values[int(tail * (len(values) - 1))]
    hi = values[int(round((1 - tail) * (len(values) - 1)))]
    return lo, hi


def _draws(n: int, resamples: int, seed: int, groups: Sequence | None) -> list[list[int]]:
    """Index lists of resamples; with ``groups``, whole groups are drawn (a cluster bootstrap)."""
    rng = random.Random(seed)
    if groups is None:
        return [[rng.randrange(n) for _ in range(n)] for _ in range(resamples)]
    members: dict = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    clusters = list(members.values())
    return [[i for _ in clusters for i in clusters[rng.randrange(len(clusters))]] for _ in range(resamples)]


def bootstrap(items: Sequence, stat: Callable[[list], float] | None = None, *, groups: Sequence | None = None,
              resamples: int = RESAMPLES, seed: int = 0, level: float = LEVEL) -> list[float] | None:
    """``[low, high]`` of ``stat`` (default: the mean) over resamples of ``items``; None for no items.

    A resample on which ``stat`` raises ValueError (an AUC drawn with one class only) is skipped.
    """
    stat = stat or mean
    if not len(items):
        return None
    values = []
    for idx in _draws(len(items), resamples, seed, groups):
        try:
            values.append(float(stat([items[i] for i in idx])))
        except (ValueError, ZeroDivisionError):
            continue
    if not values:
        return None
    return [round(v, 4) for v in _percentiles(values, level)]


def paired_difference(a: Sequence, b: Sequence, stat: Callable[[list], float] | None = None, *,
                      groups: Sequence | None = None, resamples: int = RESAMPLES, seed: int = 0,
                      level: float = LEVEL) -> dict:
    """``stat(b) - stat(a)`` on the same resampled indices (``a[i]`` and ``b[i]`` answer the same item)."""
    stat = stat or mean
    if len(a) != len(b):
        raise ValueError("a paired bootstrap needs the same items on both sides")
    if not len(a):
        return {"difference": None, "interval": None}
    values = []
    for idx in _draws(len(a), resamples, seed, groups):
        try:
            values.append(stat([b[i] for i in idx]) - stat([a[i] for i in idx]))
        except (ValueError, ZeroDivisionError):
            continue
    point = stat(list(b)) - stat(list(a))
    lo, hi = _percentiles(values, level) if values else (None, None)
    return {"difference": round(point, 4), "interval": None if lo is None else [round(lo, 4), round(hi, 4)]}


def mean(values: Sequence) -> float:
    return sum(values) / len(values)


def figure(items: Sequence, stat: Callable[[list], float] | None = None, digits: int = 3, **kwargs) -> dict:
    """A figure as the eval reports it: ``{"value": stat(items), "ci95": [low, high]}``."""
    stat = stat or mean
    if not len(items):
        return {"value": None, "ci95": None}
    return {"value": round(float(stat(list(items))), digits), "ci95": bootstrap(items, stat, **kwargs)}
