"""What every script parser returns (:class:`Parsed`) and the blank-line block splitter they share."""

from __future__ import annotations

from dataclasses import dataclass, field

from persona.data.records import Utterance


@dataclass
class Parsed:
    utterances: list[Utterance] = field(default_factory=list)
    narration: list[Utterance] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)

    def say(self, scene: str, speaker: str, text: str, line: int, **extra) -> None:
        self.utterances.append(Utterance(scene, speaker, text, line, extra={k: v for k, v in extra.items() if v}))

    def narrate(self, scene: str, text: str, line: int, **extra) -> None:
        self.narration.append(Utterance(scene, "", text, line, kind="narration",
                                        extra={k: v for k, v in extra.items() if v}))


def _blocks(text: str) -> list[list[tuple[int, str, str]]]:
    """Group non-blank lines into blank-separated blocks of ``(line_no, stripped, raw)``."""
    blocks, cur = [], []
    for n, raw in enumerate(text.split("\n"), 1):
        if raw.strip():
            cur.append((n, raw.strip(), raw))
        elif cur:
            blocks.append(cur)
            cur = []
    if cur:
        blocks.append(cur)
    return blocks
