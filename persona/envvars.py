"""Numeric PERSONA_* environment variables: read when used, not at import, and checked.

A bad value (``PERSONA_TOKEN_TIMEOUT=abc``, ``-1``) is the user's to fix, so it
raises a :class:`PersonaError` naming the variable, its range and its default.
"""

from __future__ import annotations

import math
import os

from persona.errors import PersonaError


def number(name: str, default: float, *, low: float = 0.0, high: float = math.inf,
           integer: bool = False, allow_low: bool = False) -> float:
    """``$name`` as a number in (low, high] (``allow_low``: [low, high]); ``default`` when unset or empty."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    kind = "a whole number" if integer else "a number"
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        value = math.nan
    above = value >= low if allow_low else value > low
    if not (above and value <= high):  # NaN fails both
        bound = f"{'at least' if allow_low else 'above'} {low:g}" + (f" and at most {high:g}" if high < math.inf else "")
        raise PersonaError(f"{name}={raw!r} is not {kind} {bound}",
                           f"set it to such a number, or unset it for the default ({default:g})")
    return value
