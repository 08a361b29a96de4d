"""JSON from untrusted text (packs, datasets, model output): nesting bounded before anyone walks it.

``json.loads`` itself stops at Python's recursion limit (about 1000 levels) with a
RecursionError, and whatever walks the result next (jsonschema, ``copy``, a
tool's code) recurses with several frames a level, so it can fail far below
that. :func:`loads` turns both into :class:`JSONLimitError` (a ValueError, so
callers that already catch malformed JSON catch this too) and checks the depth
of the result iteratively, in linear time.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64  # a ShareGPT record is 4 levels deep, a tool call's arguments a few more


class JSONLimitError(ValueError):
    """The JSON nests deeper than the limit."""


def depth(value: Any) -> int:
    """How deeply lists and objects nest in ``value`` (a scalar is 0); no recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that raises JSONLimitError past ``max_depth`` levels (and ValueError as usual)."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise JSONLimitError(f"JSON nests more than {max_depth} levels deep") from None
    if depth(value) > max_depth:
        raise JSONLimitError(f"JSON nests more than {max_depth} levels deep")
    return value
