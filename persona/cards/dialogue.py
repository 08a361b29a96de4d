"""A card's ``mes_example`` ⇄ the pack's example dialogues (ShareGPT records).

``mes_example`` is blocks that each start with ``<START>``; in a block a line
``{{user}}: ...`` begins a user turn and ``{{char}}: ...`` a character turn
(``<USER>``/``<BOT>`` too, as old cards write them); other lines continue the
turn above them. Text before the first speaker of a block is dropped (and
counted for the report). The macros stay in the text: the pack expands them.
"""

from __future__ import annotations

import re
from typing import Any

_START = re.compile(r"^\s*<START>\s*$", re.IGNORECASE | re.MULTILINE)
_SPEAKER = re.compile(r"^\s*(\{\{\s*user\s*\}\}|<USER>|\{\{\s*char\s*\}\}|<BOT>)\s*:\s?", re.IGNORECASE)


def parse(mes_example: str) -> tuple[list[dict[str, Any]], int]:
    """(ShareGPT records, how many lines had no speaker and were dropped)."""
    text = mes_example.replace("\r\n", "\n").replace("\r", "\n")
    records, dropped = [], 0
    for block in _START.split(text):
        turns: list[dict[str, str]] = []
        for line in block.split("\n"):
            match = _SPEAKER.match(line)
            if match:
                who = "human" if "user" in match.group(1).lower() else "gpt"
                turns.append({"from": who, "value": line[match.end():]})
            elif turns:
                turns[-1]["value"] += "\n" + line
            elif line.strip():
                dropped += 1
        for turn in turns:
            turn["value"] = turn["value"].strip()
        turns = [t for t in turns if t["value"]]
        if turns:
            records.append({"conversations": turns})
    return records, dropped


def render(records: list[dict[str, Any]]) -> str:
    """ShareGPT records as ``mes_example`` text, the way SillyTavern writes it."""
    blocks = []
    for record in records:
        lines = ["<START>"]
        for turn in record.get("conversations", []):
            speaker = {"human": "{{user}}", "gpt": "{{char}}"}.get(turn.get("from"))
            if speaker:
                lines.append(f"{speaker}: {turn.get('value', '')}")
        if len(lines) > 1:
            blocks.append("\n".join(lines))
    return "\n".join(blocks)
