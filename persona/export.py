"""Export a stored conversation: ShareGPT (as in persona.conversation) or Markdown."""

from __future__ import annotations

import json

from persona.conversation import Conversation

FORMATS = ("sharegpt", "markdown")


def export_text(conv: Conversation, fmt: str, title: str = "") -> str:
    if fmt == "sharegpt":
        return json.dumps(conv.to_sharegpt(), ensure_ascii=False, indent=2) + "\n"
    if fmt == "markdown":
        lines = [f"# {title}", ""] if title else []
        for msg in conv.messages:
            if msg.role == "system":
                lines += ["> " + line for line in msg.content.splitlines()] + [""]
            elif msg.role == "function_call":
                lines += [f"*tool call:* `{msg.content}`", ""]
            elif msg.role == "observation":
                lines += [f"*tool result:* `{msg.content}`", ""]
            else:
                who = "You" if msg.role == "user" else (title or "Character")
                lines += [f"**{who}:** {msg.content}", ""]
        return "\n".join(lines)
    raise ValueError(f"unknown format {fmt!r}")
