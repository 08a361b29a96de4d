"""What an extracted script holds: who speaks how much, scenes, narration, what was skipped.

``stats()`` returns a plain JSON-serialisable dict (for ``--json``);
``format_stats()`` renders it as a small text table for people choosing a
``--character``.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable
from typing import Any

from persona.data.records import Utterance


def stats(utterances: Iterable[Utterance], narration: Iterable[Any] = (),
          skipped: Iterable[Any] = ()) -> dict[str, Any]:
    """Count speakers, scenes, narration and skipped input.

    Args:
        utterances: the extracted records; any with ``kind="narration"`` are
            counted as narration, not speech.
        narration: narration kept apart from ``utterances`` (counted only).
        skipped: what the extractor passed over. Each item is a reason string,
            a mapping with a ``"reason"`` key, an object with a ``.reason``
            attribute, or a ``(line, reason)`` pair.
    """
    lines: Counter[str] = Counter()
    chars: Counter[str] = Counter()
    scenes_of: dict[str, set[str]] = {}
    scenes: dict[str, None] = {}  # a dict keeps first-seen order, a set would not
    narration_count = 0
    for u in utterances:
        scenes.setdefault(u.scene)
        if u.kind == "narration":
            narration_count += 1
            continue
        lines[u.speaker] += 1
        chars[u.speaker] += len(u.text)
        scenes_of.setdefault(u.speaker, set()).add(u.scene)
    narration_count += sum(1 for _ in narration)
    reasons = Counter(_reason(item) for item in skipped)

    # Ties break on the name so the table (and --json) is the same on every run.
    by_lines = sorted(lines, key=lambda s: (-lines[s], s))
    by_chars = sorted(lines, key=lambda s: (-chars[s], s))
    char_rank = {s: i for i, s in enumerate(by_chars, 1)}
    return {
        "utterances": sum(lines.values()),
        "speakers": [{"name": s, "lines": lines[s], "chars": chars[s], "scenes": len(scenes_of[s]),
                      "rank_by_lines": i, "rank_by_chars": char_rank[s]}
                     for i, s in enumerate(by_lines, 1)],
        "speakers_by_chars": by_chars,
        "scenes": len(scenes),
        "narration": narration_count,
        "skipped": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        "skipped_total": sum(reasons.values()),
    }


def _reason(item: Any) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        return str(item.get("reason", "unknown"))
    if hasattr(item, "reason"):
        return str(item.reason)
    if isinstance(item, (tuple, list)) and item:
        return str(item[-1])
    return "unknown"


def format_stats(d: dict[str, Any], top: int = 20) -> str:
    """A text table of ``stats()`` output, the ``top`` speakers by lines."""
    rows = [("#", "speaker", "lines", "chars", "by chars", "scenes")]
    for sp in d["speakers"][:top]:
        rows.append((str(sp["rank_by_lines"]), sp["name"], str(sp["lines"]), str(sp["chars"]),
                     str(sp["rank_by_chars"]), str(sp["scenes"])))
    widths = [max(_width(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [_pad(c, w, right=i != 1) for i, (c, w) in enumerate(zip(r, widths))]
        out.append("  ".join(cells).rstrip())
    more = len(d["speakers"]) - top
    if more > 0:
        out.append(f"... and {more} more speaker{'s' if more != 1 else ''}")
    out.append("")
    out.append(f"{d['utterances']} lines of speech from {len(d['speakers'])} speakers "
               f"in {d['scenes']} scenes; {d['narration']} narration")
    if d["skipped_total"]:
        out.append(f"skipped {d['skipped_total']}: "
                   + ", ".join(f"{reason} {n}" for reason, n in d["skipped"].items()))
    return "\n".join(out)


def _width(text: str) -> int:
    # CJK names take two terminal columns each; without this a 甄嬛 table is ragged.
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, right: bool) -> str:
    fill = " " * (width - _width(text))
    return fill + text if right else text + fill
