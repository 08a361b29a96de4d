"""An entry's world-info fields read alike from both shapes: SillyTavern's world info and the card's character book.

SillyTavern's world-info file keys entries by uid and names fields its own way
(``key``, ``keysecondary``, ``order``, ``disable``, ``selectiveLogic``, ...); a
character book (character-card-spec v2/v3) has ``keys``, ``secondary_keys``,
``insertion_order``, ``enabled`` and keeps SillyTavern's other fields under
``extensions`` in snake case, as SillyTavern's exporter writes them. Each field
is read from the first place that has it: the entry, its world-info name,
then its extensions name.
"""

from __future__ import annotations

import math
from typing import Any

# SillyTavern's enums (public/scripts/world-info.js).
LOGIC = {0: "AND ANY", 1: "NOT ALL", 2: "NOT ANY", 3: "AND ALL"}
POSITIONS = {0: "before", 1: "after", 2: "an_top", 3: "an_bottom", 4: "depth", 5: "em_top", 6: "em_bottom",
             7: "outlet"}
ROLES = {0: "system", 1: "user", 2: "assistant"}
DEFAULT_DEPTH = 4  # SillyTavern's default for "@ D" entries
MAX_DEPTH = 1000

# canonical name -> (names on the entry, names under extensions)
_NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "keys": (("keys", "key"), ()),
    "secondary": (("secondary_keys", "keysecondary"), ()),
    "logic": (("selectiveLogic", "selective_logic"), ("selectiveLogic", "selective_logic")),
    "order": (("insertion_order", "order"), ()),
    "depth": (("depth",), ("depth",)),
    "role": (("role",), ("role",)),
    "probability": (("probability",), ("probability",)),
    "use_probability": (("useProbability", "use_probability"), ("useProbability", "use_probability")),
    "group": (("group",), ("group",)),
    "group_override": (("groupOverride", "group_override"), ("group_override", "groupOverride")),
    "group_weight": (("groupWeight", "group_weight"), ("group_weight", "groupWeight")),
    "sticky": (("sticky",), ("sticky",)),
    "cooldown": (("cooldown",), ("cooldown",)),
    "delay": (("delay",), ("delay",)),
    "exclude_recursion": (("excludeRecursion", "exclude_recursion"), ("exclude_recursion", "excludeRecursion")),
    "prevent_recursion": (("preventRecursion", "prevent_recursion"), ("prevent_recursion", "preventRecursion")),
    "delay_until_recursion": (("delayUntilRecursion", "delay_until_recursion"),
                              ("delay_until_recursion", "delayUntilRecursion")),
    "scan_depth": (("scanDepth", "scan_depth"), ("scan_depth", "scanDepth")),
    "case_sensitive": (("case_sensitive", "caseSensitive"), ("case_sensitive", "caseSensitive")),
    "whole_words": (("match_whole_words", "matchWholeWords"), ("match_whole_words", "matchWholeWords")),
}


def get(item: dict[str, Any], name: str) -> Any:
    """The first non-null value of field ``name`` on the entry or in its extensions."""
    ext = item.get("extensions") if isinstance(item.get("extensions"), dict) else {}
    top, under = _NAMES[name]
    for key in top:
        if item.get(key) is not None:
            return item[key]
    for key in under:
        if ext.get(key) is not None:
            return ext[key]
    return None


def position(item: dict[str, Any]) -> str:
    """Where the entry goes: one of :data:`POSITIONS`' values. SillyTavern's number wins over the
    card spec's ``"before_char"`` / ``"after_char"`` (its exporter writes both)."""
    ext = item.get("extensions") if isinstance(item.get("extensions"), dict) else {}
    for value in (item.get("position"), ext.get("position")):
        if value is not None and not isinstance(value, str):
            return POSITIONS.get(integer(value, 1), "after")
    return "before" if item.get("position") == "before_char" else "after"


def enabled(item: dict[str, Any]) -> bool:
    return flag(item.get("enabled"), True) and not flag(item.get("disable"), False)


def role(item: dict[str, Any]) -> str:
    value = get(item, "role")
    if isinstance(value, str) and value in ROLES.values():
        return value
    return ROLES.get(integer(value, 0), "system")


def groups(item: dict[str, Any]) -> tuple[str, ...]:
    value = get(item, "group")
    if not value:
        return ()
    if not isinstance(value, str):
        raise ValueError(f"group must be text, not {value!r:.80}")
    return tuple(g.strip() for g in value.split(",") if g.strip())


def strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):  # V3 describes secondary_keys as comma-separated text
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"keys must be a list of strings, not {value!r:.80}")
    return [v.strip() for v in value if v.strip()]


def flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, (bool, int)):
        raise ValueError(f"expected true or false, not {value!r:.80}")
    return bool(value)


def integer(value: Any, default: int) -> int:
    if value is None or value == "":  # SillyTavern leaves some numbers as "" in its files
        return default
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"expected a number, not {value!r:.80}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected a number, not {value!r:.80}")
    return int(value)


def bounded(value: Any, default: int, low: int, high: int) -> int:
    return min(max(integer(value, default), low), high)
