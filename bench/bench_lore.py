"""Lorebook key matching per turn: persona's Aho–Corasick matcher against a regex alternation per entry.

The baseline is what persona did before issue 10 (and what a straightforward
implementation does): one Python ``re`` alternation of the escaped keys per
entry, with word-edge lookarounds, searched over the scanned messages. Both run
in the same process on the same books and chat, one after the other, median of N runs
(Python's ``re`` caches compiled patterns, so the baseline's best build time can read 0).

    .venv/bin/python bench/bench_lore.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from persona.lore_match import KeyList, Matcher  # noqa: E402

WORDS = [w.strip() for w in """harbour gull lantern tide storm captain ledger rum anchor sail reef
    crew compass smuggler tavern dock beacon map chest rope cannon mast deck helm keel wave fog
    salt coin debt""".split()]


def book(entries: int, keys: int, rng: random.Random) -> list[list[str]]:
    """Keys as real books have them: names, two-word names, a few words made unique by a number."""
    return [[f"{rng.choice(WORDS)} {rng.choice(WORDS)}{e}" if k % 2 else f"{rng.choice(WORDS)}{e}-{k}"
             for k in range(keys)] for e in range(entries)]


def chat(rng: random.Random, keys: list[list[str]], messages: int = 4, words: int = 120) -> list[str]:
    flat = [k for ks in keys for k in ks]
    return [" ".join(rng.choice(WORDS) if rng.random() > 0.02 else rng.choice(flat) for _ in range(words))
            for _ in range(messages)]


def regex_baseline(keys: list[list[str]]) -> list[re.Pattern[str]]:
    edge, space = "[A-Za-z0-9]", r"\s+"
    return [re.compile("|".join(f"(?:(?<!{edge}){space.join(map(re.escape, k.split()))}(?!{edge}))" for k in ks),
                       re.IGNORECASE) for ks in keys]


def timed(fn, repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    rng = random.Random(0)
    load = os.getloadavg()[0]
    print("## Lorebook matching: regex alternation per entry vs one Aho–Corasick pass\n")
    print(f"- date: {time.strftime('%Y-%m-%dT%H:%M:%S%z')}")
    print(f"- python {sys.version.split()[0]}, 1-min load average at start: {load:.2f}")
    print(f"- chat: 4 scanned messages of 120 words; median of {args.repeats} runs (best in brackets)\n")
    print("| book | build: regex | build: automaton | one turn: regex | one turn: automaton | turn ratio |")
    print("|---|---|---|---|---|---|")
    for entries, per in ((20, 4), (500, 8), (4096, 16)):
        keys = book(entries, per, rng)
        texts = chat(rng, keys)
        lists = [KeyList(ks, False, True) for ks in keys]
        b_re = timed(lambda: regex_baseline(keys), max(1, args.repeats // 2))
        b_ac = timed(lambda: Matcher(lists), max(1, args.repeats // 2))
        patterns, matcher = regex_baseline(keys), Matcher(lists)
        found_re = {i for i, p in enumerate(patterns) if any(p.search(t) for t in texts)}
        assert found_re == matcher.found(texts), "the two matchers disagree"
        t_re = timed(lambda: [i for i, p in enumerate(patterns) if any(p.search(t) for t in texts)], args.repeats)
        t_ac = timed(lambda: matcher.found(texts), args.repeats)
        print(f"| {entries} entries × {per} keys | {b_re[0]:.3f} s ({b_re[1]:.3f}) | {b_ac[0]:.3f} s ({b_ac[1]:.3f}) "
              f"| {t_re[0] * 1e3:.2f} ms ({t_re[1] * 1e3:.2f}) | {t_ac[0] * 1e3:.3f} ms ({t_ac[1] * 1e3:.3f}) "
              f"| {t_re[0] / t_ac[0]:.0f}x faster |", flush=True)
    print("\nBoth give the same entries on every chat (checked before timing).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
