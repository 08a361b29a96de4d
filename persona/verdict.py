"""What a moderation hook returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Verdict:
    """``allow``; ``block`` (with an in-character or supportive ``reply`` to show
    instead); ``rewrite`` / ``redact`` (with the replacement ``text``). ``view``
    names the reading of the text that triggered it ("written", "base64",
    "spacing", ...), ``reason`` what did (a rule, a classifier score, an error)."""

    action: str
    category: str = ""
    reply: str | None = None
    text: str | None = None
    reason: str = ""
    view: str = ""

    def record(self, rail: str) -> dict[str, Any]:
        verdict = {"rewrite": "redact"}.get(self.action, self.action)
        out = {"verdict": verdict, "category": self.category, "rail": rail}
        if self.reason:
            out["reason"] = self.reason
        if self.view:
            out["view"] = self.view
        return out
