"""``persona import WORLDINFO.json --to ID``: a SillyTavern world-info or ``lorebook_v3`` file as a pack's lore.

SillyTavern's world info keys its entries by uid with its own field names
(``key``, ``keysecondary``, ``order``, ``disable``, ``position`` 0/1/..., camelCase
options); the pack's lore is a character book (``keys``, ``secondary_keys``,
``insertion_order``, ``enabled``, options under ``extensions``), as SillyTavern
itself writes one into a card. Unknown fields go under ``extensions`` unchanged.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from persona.cards import CardError
from persona.cards.report import Report, lore_features

TOP = {"uid": "id", "key": "keys", "keysecondary": "secondary_keys", "comment": "comment", "content": "content",
       "constant": "constant", "selective": "selective", "order": "insertion_order"}
EXTENSION_NAMES = {"excludeRecursion": "exclude_recursion", "displayIndex": "display_index",
                   "groupOverride": "group_override", "groupWeight": "group_weight",
                   "preventRecursion": "prevent_recursion", "delayUntilRecursion": "delay_until_recursion",
                   "scanDepth": "scan_depth", "matchWholeWords": "match_whole_words",
                   "useGroupScoring": "use_group_scoring", "caseSensitive": "case_sensitive",
                   "automationId": "automation_id"}


def to_entry(wi: dict[str, Any]) -> dict[str, Any]:
    """One world-info entry as a character-book entry; every field it had is still there."""
    entry: dict[str, Any] = {new: wi[old] for old, new in TOP.items() if old in wi}
    entry.setdefault("keys", [])
    entry.setdefault("content", "")
    entry["enabled"] = not wi.get("disable", False)
    position = wi.get("position", 0)
    entry["position"] = "before_char" if position == 0 else "after_char"
    ext = {"position": position}
    for old, value in wi.items():
        if old in TOP or old == "disable":
            continue
        ext[EXTENSION_NAMES.get(old, old)] = value
    entry["extensions"] = ext
    return entry


def to_book(obj: dict[str, Any], name: str) -> dict[str, Any]:
    """A character book from world info (SillyTavern's shape, ``lorebook_v3``, or already a book)."""
    if obj.get("spec") == "lorebook_v3":
        obj = obj.get("data")
        if not isinstance(obj, dict):
            raise CardError("the lorebook_v3 file has no 'data' object", "a lorebook_v3 file is {spec, data: {entries}}")
    entries = obj.get("entries")
    if isinstance(entries, list):
        book = dict(obj)
    elif isinstance(entries, dict):
        if not all(isinstance(e, dict) for e in entries.values()):
            raise CardError("a world-info entry is not an object", "each entry is a JSON object keyed by its uid")
        book = {k: v for k, v in obj.items() if k != "entries"}
        book["entries"] = [to_entry(e) for e in entries.values()]
    else:
        raise CardError("the world-info file has no entries", "world info is {\"entries\": {\"0\": {...}, ...}}")
    book.setdefault("name", name)
    from persona.cards.mapping import lore_of

    return lore_of(book)  # with SillyTavern's budget when the file names none


def attach(path: str, pack_ref: str, force: bool = False) -> Report:
    """Make the world info at ``path`` the lore of pack ``pack_ref``: the lore file and manifest change together."""
    from persona.cards.read import MAX_FILE_BYTES, decode_text, parse_json, read_bounded
    from persona.errors import PackError
    from persona.lore_book import check
    from persona.pack_files import check_schema, newlines, read_manifest
    from persona.packs import get_pack

    src = Path(path)
    obj = parse_json(decode_text(read_bounded(src, MAX_FILE_BYTES, "a world-info file"), src), str(src))
    from persona.cards.install import is_worldinfo

    if not is_worldinfo(obj):
        raise CardError(f"{src} is not a world-info file", f"import a character card without --to: persona import {src}")
    book = to_book(obj, src.stem.split(".")[0])
    pack = get_pack(pack_ref)
    if pack.source == "shipped":
        raise CardError(f"{pack.id} is a pack that ships with persona and is not changed in place",
                        f"copy {pack.path} into $PERSONA_HOME/personas under another id first")
    manifest_path = pack.path / "persona.toml"
    manifest = read_manifest(manifest_path)
    table = manifest.get("lorebook") if isinstance(manifest.get("lorebook"), dict) else None
    rel = (table or {}).get("entries", "lore.json")
    lore = pack.lorebook or (pack.path / rel)
    if (pack.lorebook is not None or lore.exists()) and not force:
        raise CardError(f"{pack.id} already has a lorebook ({lore.name})", "pass --force to replace it")
    text = manifest_path.read_text(encoding="utf-8")
    if table is None:
        text = text.rstrip("\n") + f'\n\n[lorebook]\nentries = "{rel}"\n'
    elif "entries" not in table:
        import tomli_w

        manifest["lorebook"] = {**table, "entries": rel}
        text = tomli_w.dumps(manifest)
    import tomllib

    check_schema(tomllib.loads(newlines(text)), manifest_path)
    fd, tmp = tempfile.mkstemp(prefix=".lore-", suffix=".json", dir=pack.path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(book, fh, ensure_ascii=False, indent=1)
        try:
            check(Path(tmp))
        except PackError as exc:
            raise CardError(exc.message.replace(tmp, str(src)), exc.hint) from None
        os.replace(tmp, lore)
        tmp = None
        if text != manifest_path.read_text(encoding="utf-8"):
            _replace_text(manifest_path, text)
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    report = Report(source=str(src), format="world info", pack=pack.id, path=str(lore))
    report.mapped.append(f"{len(book['entries'])} world-info entries → {lore.name} ([lorebook] entries)")
    if obj.get("token_budget") is None and not isinstance(obj.get("data"), dict):
        report.mapped.append(f"token_budget {book['token_budget']} added (SillyTavern's 25% of the context)")
    report.not_honoured += lore_features(book)
    return report


def _replace_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".persona-", suffix=".toml", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
