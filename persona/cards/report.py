"""The import report: what was mapped, what was kept only for round-trips, what persona cannot honour yet."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

_MACRO = re.compile(r"\{\{\s*([^{}]{0,80}?)\s*\}\}")
_HONOURED_MACROS = {"char", "user"}
MAX_LINES = 12  # per section in the text form; --json has them all

# Lorebook features a card can ask for, and how to see that an entry asks: the
# list of what the lorebook plugin does not do (yet). Its docstring is the truth.
LORE_FEATURES: list[tuple[str, Any]] = [
    ("regex keys (use_regex or /pattern/flags)",
     lambda e: e.get("use_regex") is True and any(re.fullmatch(r"/.+/[a-z]*", k or "", re.S)
                                                   for k in e.get("keys") or [] if isinstance(k, str))),
    ("position other than after the character definitions",
     lambda e: e.get("position") == "before_char" or (_ext(e).get("position") not in (None, 1))),
    ("selectiveLogic other than AND ANY", lambda e: _ext(e).get("selectiveLogic") not in (None, 0)),
    ("probability", lambda e: _ext(e).get("useProbability") and _ext(e).get("probability") not in (None, 100)),
    ("sticky / cooldown / delay", lambda e: any(_ext(e).get(k) for k in ("sticky", "cooldown", "delay"))),
    ("inclusion groups", lambda e: bool(_ext(e).get("group"))),
    ("recursion controls", lambda e: any(_ext(e).get(k) for k in
                                         ("exclude_recursion", "prevent_recursion", "delay_until_recursion"))),
    ("per-entry scan depth", lambda e: _ext(e).get("scan_depth") is not None),
    ("decorators (@@...)", lambda e: isinstance(e.get("content"), str) and e["content"].lstrip().startswith("@@")),
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
    """Macros other than {{char}} and {{user}}, with the fields they are in ({{original}} is handled)."""
    found: dict[str, list[str]] = {}
    for where, value in fields.items():
        for match in _MACRO.finditer(value or ""):
            name = match.group(1).strip()
            key = name.split(":", 1)[0].split(" ", 1)[0].lower()
            if key in _HONOURED_MACROS or (key == "original" and where == "system_prompt"):
                continue
            found.setdefault("{{" + name[:40] + "}}", []).append(where)
        if re.search(r"<(USER|BOT)>", value or "", re.IGNORECASE):
            found.setdefault("<USER>/<BOT>", []).append(where)
    return [f"macro {m} (in {', '.join(sorted(set(w)))}): left as written" for m, w in found.items()]


def lore_features(book: dict[str, Any] | None) -> list[str]:
    if not book:
        return []
    entries = [e for e in book.get("entries", []) if isinstance(e, dict)]
    out = [f"lorebook: {n} of {len(entries)} entries ask for {what}"
           for what, test in LORE_FEATURES if (n := sum(1 for e in entries if _safe(test, e)))]
    if book.get("recursive_scanning"):
        out.append("lorebook: recursive scanning")
    return out


def _safe(test, entry) -> bool:
    try:
        return bool(test(entry))
    except (TypeError, AttributeError):
        return False
