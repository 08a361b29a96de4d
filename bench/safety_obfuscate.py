"""Mechanical obfuscations of a prompt, the kinds attackers use to slip past keyword rails.

The safety benchmark rewrites each held-out attack every way and counts what is
still blocked; the rails' views (plugins/_safety_views.py) are what should fold
them back. Deterministic given the random generator passed in.
"""

from __future__ import annotations

import base64
import json
import random
import unicodedata
from functools import lru_cache
from pathlib import Path

LEET = str.maketrans({"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"})


@lru_cache(maxsize=1)
def _homoglyphs() -> dict[str, list[str]]:
    """For each ASCII lower-case letter, the letters of other scripts that the Unicode confusables
    table says look like it, leaving out those NFKC alone folds back (mathematical, full-width)."""
    import confusable_homoglyphs

    table = json.loads((Path(confusable_homoglyphs.__file__).parent / "confusables.json").read_text("utf-8"))
    out = {}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        glyphs = {g["c"] for g in table.get(letter, []) if len(g["c"]) == 1 and g["c"].isalpha()
                  and not g["c"].isascii() and unicodedata.normalize("NFKC", g["c"]).lower() != letter}
        if glyphs:
            out[letter] = sorted(glyphs)
    return out


def homoglyph(text: str, rng: random.Random) -> str:
    table = _homoglyphs()
    return "".join(rng.choice(table[c]) if c in table and rng.random() < 0.6 else c for c in text)


def spaced(text: str) -> str:
    if any("\u3400" <= c <= "\u9fff" for c in text):
        return "·".join(c for c in text if not c.isspace())
    return "  ".join(" ".join(word) for word in text.split())


def encoded(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


KINDS = {
    "base64": lambda text, rng: encoded(text),
    "spaced": lambda text, rng: spaced(text),
    "homoglyph": homoglyph,
    "full-width": lambda text, rng: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text),
    "leet": lambda text, rng: text.lower().translate(LEET),
    "reversed": lambda text, rng: text[::-1],
}


def obfuscate(text: str, kind: str, rng: random.Random) -> str:
    return KINDS[kind](text, rng)
