"""What a front end should tell the user about a turn besides the reply."""

from __future__ import annotations

from persona.conversation import Message
from persona.textsafe import sanitize


def tool_line(message: Message) -> str:
    """One line for a tool result, e.g. ``[roll_dice] 2d6: 3 + 4 = 7``, its control characters shown.

    Only for display (front ends sanitise what they write as well; doing it twice changes nothing).
    """
    name = (message.tool_call or {}).get("name", "tool")
    return sanitize(f"[{name}] {message.content}")


def turn_notices(messages: list[Message]) -> list[str]:
    """Safety verdicts, tool errors and other notices recorded on a turn's messages."""
    out = []
    for msg in messages:
        safety = msg.metadata.get("safety") or {}
        # An input block is recorded on the user message and on the canned reply: say it once.
        if safety.get("verdict", "allow") != "allow" and (msg.role == "user" or safety.get("rail") == "output"):
            verb = {"block": "blocked", "redact": "redacted"}.get(safety["verdict"], safety["verdict"])
            what = "your message" if safety["rail"] == "input" else "the reply"
            why = safety.get("category") or "policy"
            if safety.get("view") not in (None, "written"):
                why += f", read as {safety['view']}"
            if why == "moderation_error" and safety.get("reason"):
                why += f": {safety['reason']}"  # a broken rail says what broke
            out.append(f"safety: {what} was {verb} ({why})")
        out.extend(msg.metadata.get("notices", []))
        lore = msg.metadata.get("lore")
        if lore and lore.get("dropped"):
            out.append(f"lore: {len(lore['dropped'])} entries left out for the lore budget")
    return out
