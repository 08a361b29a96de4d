"""A work bound in steps, not seconds: Python function calls counted by a profile hook.

Tests never assert on wall-clock time (2 noisy cores). Instead a call runs under
``sys.setprofile`` and every Python or C function call is a step; over the
budget, :class:`OverBudget` (a BaseException, so no ``except Exception`` in the
code under test can swallow it) stops it. A quadratic Python loop shows up as
steps; a regex backtracking inside one C call does not, which is why the
parsers also have doubling tests (tests/test_parser_complexity.py).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


class OverBudget(BaseException):
    """The call took more steps than its budget."""


def run(budget: int, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, int]:
    """``fn(*args, **kwargs)`` and the steps it took; OverBudget past ``budget``."""
    count = 0

    def profile(frame, event, arg):
        nonlocal count
        if event in ("call", "c_call"):
            count += 1
            if count > budget:
                sys.setprofile(None)
                raise OverBudget(f"over {budget} steps in {getattr(fn, '__name__', fn)}")

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        result = fn(*args, **kwargs)
    finally:
        sys.setprofile(previous)
    return result, count
