"""Progress of long one-off work as one line of ours: a percentage, a spinner and an ETA.

Front ends receive plain ``str`` messages through a ``progress`` callback. A
:class:`Live` message replaces the one before it: a terminal rewrites its line
in place, a log or a TUI keeps only the first and the final one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


class Live(str):
    """A progress message that replaces the previous one."""

    first: bool = False
    final: bool = False


def live(text: str, *, first: bool = False, final: bool = False) -> Live:
    msg = Live(text)
    msg.first, msg.final = first, final
    return msg


def milestones(report: Callable[[str], None]) -> Callable[[str], None]:
    """Forward plain messages, and of each live line only its first and final state (logs, toasts)."""

    def forward(msg: str) -> None:
        if not isinstance(msg, Live) or msg.first or msg.final:
            report(msg)

    return forward


class Meter:
    """Fraction done over weighted stages, reported as one line, ticking while a stage has no bar.

    ``stages`` maps a stage name to its measured share of the time. A stage
    with a bar moves by ``update(name, n, total)``; one without (``total``
    None) moves with the clock against ``expected_s`` and stops short of its
    end until the next stage begins, so the line never claims more than is done.
    """

    def __init__(self, title: str, stages: dict[str, float], report: Callable[[str], None],
                 expected_s: float = 30.0, clock: Callable[[], float] = time.monotonic,
                 tick_s: float = 0.5) -> None:
        total = sum(stages.values()) or 1.0
        self.title, self.report, self.clock = title, report, clock
        self.order = list(stages)
        self.share = {k: v / total for k, v in stages.items()}
        self.expected_s = expected_s
        self.done_share = 0.0  # stages finished before the current one
        self.current: str | None = None
        self.within: float | None = 0.0  # None: no bar, estimate by time
        self.stage_start = self.start = clock()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._frame = 0
        self._tick_s = tick_s
        self._ticker: threading.Thread | None = None

    def fraction(self) -> float:
        if not self.current:
            return 0.0
        within = self.within
        if within is None:
            budget = self.share[self.current] * self.expected_s
            within = min(0.9, (self.clock() - self.stage_start) / budget) if budget > 0 else 0.0
        return min(1.0, self.done_share + self.share[self.current] * within)

    def line(self) -> str:
        f = self.fraction()
        elapsed = self.clock() - self.start
        if f >= 0.05 and elapsed >= 1.0:
            left = max(0, round(elapsed * (1 - f) / f))
            eta = f"about {left} s left"
        else:
            eta = "estimating time left"
        spin = SPINNER[self._frame % len(SPINNER)]
        return f"{spin} {self.title}: {f:4.0%} · {eta}"

    def update(self, stage: str, n: float = 0, total: float | None = None) -> None:
        with self._lock:
            if stage not in self.share:
                return
            if stage != self.current:
                # Stages run in order; jumping ahead completes the ones before.
                idx = self.order.index(stage)
                self.done_share = sum(self.share[s] for s in self.order[:idx])
                self.current, self.stage_start = stage, self.clock()
            self.within = min(1.0, n / total) if total else None
    def _emit(self, **flags: bool) -> None:
        self.report(live(self.line(), **flags))
        self._frame += 1

    def __enter__(self) -> Meter:
        self._emit(first=True)
        self._ticker = threading.Thread(target=self._tick, name="persona-progress", daemon=True)
        self._ticker.start()
        return self

    def _tick(self) -> None:
        while not self._stop.wait(self._tick_s):
            with self._lock:
                self._emit()

    def __exit__(self, exc_type, exc, tb) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        with self._lock:
            took = self.clock() - self.start
            outcome = f"done in {took:.0f} s" if exc_type is None else "failed"
            self.report(live(f"{self.title}: {outcome}", final=True))
