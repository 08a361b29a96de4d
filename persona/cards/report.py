"""The import report: what was mapped, what was kept only for round-trips, what persona cannot honour yet."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

KNOWN = {"name", "description", "personality", "scenario", "first_mes", "mes_example", "system_prompt",
         "post_history_instructions", "alternate_greetings", "character_book", "creator_notes", "extensions",
         "nickname"}
KEPT = ("tags", "creator", "character_version", "group_only_greetings", "source", "creation_date",
        "modification_date", "assets", "creator_notes_multilingual")
MAX_LINES = 12  # per section in the text form; --json has them all

# Lorebook features a card can ask for that the lorebook plugin does not do (its
# docstring and persona/lore_book.py are the truth), and how to see an entry asks.
LORE_FEATURES: list[tuple[str, Any]] = [
    ("decorators (@@...)", lambda e: isinstance(e.get("content"), str) and e["content"].lstrip().startswith("@@")),
    ("vector (embedding) matching", lambda e: _ext(e).get("vectorized") is True),
    ("group scoring", lambda e: _ext(e).get("use_group_scoring") is True or _ext(e).get("useGroupScoring") is True),
    ("automation ids (SillyTavern scripts)", lambda e: bool(_ext(e).get("automation_id"))),
]


def _ext(entry: dict[str, Any]) -> dict[str, Any]:
    ext = entry.get("extensions")
    return ext if isinstance(ext, dict) else {}


@dataclass
class Report:
    source: str
    format: str
    pack: str = ""
    path: str = ""
    mapped: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    not_honoured: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        out = [f"imported {self.source} ({self.format}) as {self.pack}: {self.path}"]
        for title, items in (("mapped", self.mapped), ("kept for round-trips only", self.kept),
                             ("not honoured", self.not_honoured)):
            if items:
                out.append(f"{title}:")
                out += [f"  {item}" for item in items[:MAX_LINES]]
                if len(items) > MAX_LINES:
                    out.append(f"  ... and {len(items) - MAX_LINES} more (--json lists them all)")
        return out


def macros(fields: dict[str, str]) -> list[str]:
    """Macros persona/macros.py leaves as written, with the fields they are in."""
    from persona.macros import unknown

    found: dict[str, list[str]] = {}
    for where, value in fields.items():
        for name in unknown(value or ""):
            if where == "system_prompt" and name.replace(" ", "").lower() == "{{original}}":
                continue  # the default system prompt (persona/cards/mapping.py)
            found.setdefault(name[:60], []).append(where)
    return [f"macro {m} (in {', '.join(sorted(set(w)))}): left as written" for m, w in found.items()]


def lore_features(book: dict[str, Any] | None) -> list[str]:
    if not book:
        return []
    entries = [e for e in book.get("entries", []) if isinstance(e, dict)]
    out = [f"lorebook: {n} of {len(entries)} entries ask for {what}"
           for what, test in LORE_FEATURES if (n := sum(1 for e in entries if _safe(test, e)))]
    return out


def _safe(test, entry) -> bool:
    try:
        return bool(test(entry))
    except (TypeError, AttributeError):
        return False


def kept(kind: str, obj: dict[str, Any], data: dict[str, Any], report: Report) -> None:
    """Fill in what a card keeps only for round-trips (in card.json) and what persona leaves undone."""
    present = [k for k in KEPT if data.get(k) not in (None, "", [], {})]
    report.kept += [f"{k} (card.json)" for k in present]
    ext = data.get("extensions") if isinstance(data.get("extensions"), dict) else {}
    report.kept += [f"extensions.{k}" for k in ext if k != "persona"]
    report.kept += [f"unknown field {k}" for k in data if k not in KNOWN and k not in KEPT]
    if obj.get("spec") in ("chara_card_v2", "chara_card_v3"):
        top = [k for k in obj if k not in ("spec", "spec_version", "data")]
        if top:
            report.kept.append(f"top-level fields ({', '.join(top[:8])}{', ...' if len(top) > 8 else ''})")
    depth = ext.get("depth_prompt")
    if isinstance(depth, dict) and str(depth.get("prompt") or "").strip():
        report.not_honoured.append("extensions.depth_prompt (character's note at a depth)")
    if data.get("group_only_greetings"):
        report.not_honoured.append("group_only_greetings: persona has no group chats")
    if kind == "yaml" and any(k in obj for k in ("your_name", "user")):
        report.not_honoured.append("your_name/user: the user's name comes from persona, not the character")
