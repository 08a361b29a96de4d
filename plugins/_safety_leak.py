"""The output rail's system-prompt leak check: does a reply reproduce a long span, or a large share, of the prompt?

Linear in the reply: the prompt is indexed once (cached), and the reply is
looked up window by window. Loaded by path from plugins/safety.py, which passes
in the level's limits; nothing here knows about hooks or packs.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# The leak check indexes at most this much of a system prompt: more than any
# context window we run holds, and it bounds the one-off indexing cost.
MAX_PROMPT_CHARS = 32_000

_TOKEN = re.compile(r"[\u3400-\u9fff]|[^\W_]+")  # one Chinese character, or a run of letters and digits


def _fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


@lru_cache(maxsize=32)
def _fold_prompt(prompt: str) -> str:
    return _fold(prompt[:MAX_PROMPT_CHARS])


@lru_cache(maxsize=32)
def _seed_index(prompt: str, k: int) -> dict[str, list[int]]:
    """Where each k-character piece of the prompt starts (at most 4 places each).
    Pieces of fewer than 6 distinct characters (rules, runs of dashes) are layout,
    not content, and are left out."""
    index: dict[str, list[int]] = {}
    for i in range(len(prompt) - k + 1):
        piece = prompt[i:i + k]
        if len(set(piece)) >= 6:
            places = index.setdefault(piece, [])
            if len(places) < 4:
                places.append(i)
    return index


def _common_run(a: str, i: int, b: str, j: int, limit: int, step: int) -> int:
    """How many characters a and b agree on walking from a[i], b[j] in direction
    ``step`` (+1 or -1), up to ``limit``: a binary search over slice comparisons."""
    if step < 0:
        limit = min(limit, i, j)
        same = lambda n: a[i - n:i] == b[j - n:j]  # noqa: E731
    else:
        limit = min(limit, len(a) - i, len(b) - j)
        same = lambda n: a[i:i + n] == b[j:j + n]  # noqa: E731
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if same(mid) else (lo, mid - 1)
    return lo


def _shared_spans(prompt: str, reply: str, min_len: int):
    """(start, end) of stretches of ``reply``, at least ``min_len`` long, that also occur in ``prompt``.

    Any such stretch contains a reply window that starts at a multiple of
    k = ceil(min_len / 2) and lies wholly inside it, so only those windows are
    looked up in the prompt's index; a hit is then grown both ways (at most
    4 * min_len ahead) and the scan resumes after it. Linear in the reply.
    """
    k = (min_len + 1) // 2
    index = _seed_index(prompt, k)
    p = 0
    while p + k <= len(reply):
        best = None
        for q in index.get(reply[p:p + k], ()):
            start = p - _common_run(reply, p, prompt, q, k - 1, -1)
            end = p + k + _common_run(reply, p + k, prompt, q + k, 4 * min_len, +1)
            if end - start >= min_len and (best is None or end > best[1]):
                best = (start, end)
        if best:
            yield best
        p = max(p + k, best[1] // k * k) if best else p + k


@lru_cache(maxsize=32)
def _prompt_ngrams(prompt: str, n: int) -> frozenset[tuple[str, ...]]:
    tokens = _TOKEN.findall(prompt)
    return frozenset(zip(*(tokens[i:] for i in range(n))))


def leaks_prompt(prompt: str, reply: str, limits: dict, second_person: re.Pattern[str], ngram: int,
                 min_ngrams: int, scan_chars: int) -> bool:
    """Whether ``reply`` reproduces a long span or a large share of ``prompt``.

    At standard a long span counts only when it keeps the prompt's instruction
    voice ("you ...", "你..."): a character restating its own backstory in the
    first person ("I'm Captain Mara, a retired smuggler who ...") is not a leak.
    """
    prompt, reply = _fold_prompt(prompt), _fold(reply)
    if not prompt or not reply:
        return False
    for start, end in _shared_spans(prompt, reply, limits["span"]):
        if not limits["second_person"] or second_person.search(reply, start, end):
            return True
    grams = _prompt_ngrams(prompt, ngram)
    if not grams:
        return False
    tokens = _TOKEN.findall(reply, 0, scan_chars)  # a reworded copy is looked for where the harm rules look
    shared = len(grams.intersection(zip(*(tokens[i:] for i in range(ngram)))))
    return shared >= min_ngrams and shared / len(grams) >= limits["share"]
