"""What a moderation hook returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Verdict:
    """``allow``; ``block`` (with an in-character or supportive ``reply`` to show
    instead); ``rewrite`` / ``redact`` (with the replacement ``text``)."""

    action: str
    category: str = ""
    reply: str | None = None
    text: str | None = None
    reason: str = ""

    def record(self, rail: str) -> dict[str, Any]:
        verdict = {"rewrite": "redact"}.get(self.action, self.action)
        out = {"verdict": verdict, "category": self.category, "rail": rail}
        if self.reason:
            out["reason"] = self.reason
        return out
