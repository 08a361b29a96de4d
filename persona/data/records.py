"""The records that flow through the data pipeline (``dialogues.jsonl``)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from persona.errors import PersonaError


class DataError(PersonaError):
    """An input file or dataset cannot be used as it is."""


@dataclass
class Utterance:
    """One line of speech (or, with ``kind="narration"``, a stage direction / narration).

    ``scene`` names the scene it belongs to (episode/scene headers, INT./EXT.
    headings, ACT/SCENE, or a running number); ``line`` is the 1-based line in
    the source file where it starts; ``confidence`` is below 1.0 only where the
    speaker was guessed (prose attribution); ``speaker`` is ``"?"`` when unknown.
    """

    scene: str
    speaker: str
    text: str
    line: int
    kind: str = "speech"  # "speech" or "narration"
    confidence: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. {"action": "闻得雷声"}

    def to_json(self) -> str:
        data = asdict(self)
        if not data["extra"]:
            del data["extra"]
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Utterance:
        return cls(scene=str(data["scene"]), speaker=str(data["speaker"]), text=str(data["text"]),
                   line=int(data.get("line", 0)), kind=data.get("kind", "speech"),
                   confidence=float(data.get("confidence", 1.0)), extra=dict(data.get("extra") or {}))


def read_jsonl(path: str | Path) -> list[Utterance]:
    """Read a ``dialogues.jsonl`` written by ``persona data extract``."""
    path = Path(path)
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}", "pass a dialogues.jsonl written by `persona data extract`") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append(Utterance.from_dict(json.loads(line)))
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{path}:{n}: not an utterance record ({exc})",
                            'each line is {"scene", "speaker", "text", "line"} as written by `persona data extract`') from None
    return out


def to_jsonl(records: list[Utterance]) -> str:
    return "".join(r.to_json() + "\n" for r in records)
