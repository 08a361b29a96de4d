"""``persona import FILE``: a card becomes a pack folder that appears whole, checked, or not at all.

The pack is built in a hidden folder beside its final place (discovery skips
hidden folders), loaded with :func:`persona.packs.load_checked`, then renamed.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from persona.cards import CardError, mapping
from persona.cards.read import Source, load
from persona.cards.report import Report, kept, lore_features, macros

RESERVED = {"spec", "spec_version", "id", "name", "greetings", "system", "examples", "post_history", "avatar", "card",
            "nickname"}
ID_PATTERN = r"[a-z0-9][a-z0-9_-]{0,63}"


def is_worldinfo(obj: dict[str, Any]) -> bool:
    return obj.get("spec") == "lorebook_v3" or ("entries" in obj and "spec" not in obj and "name" not in obj
                                                 and "char_name" not in obj and "data" not in obj)


def import_card(path: str, pack_id: str | None = None, force: bool = False) -> Report:
    """Import the card at ``path`` into ``$PERSONA_HOME/personas/<id>``; returns the report."""
    src = load(path)
    if is_worldinfo(src.obj):
        raise CardError(f"{src.path} is a world-info (lorebook) file, not a character card",
                        f"attach it to a pack: persona import {src.path} --to PACK_ID")
    spec, data = mapping.card_data(src.obj, src.kind)
    view = mapping.view_of_card(spec, data)
    label = f"{src.kind}, {spec}" + (f", '{src.chunk}' chunk" if src.chunk else "")
    report = Report(source=str(src.path), format=label)
    manifest, files = build(src, data, view, report)
    stored_id = view.persona.get("manifest", {}).get("id") if isinstance(view.persona.get("manifest"), dict) else None
    if pack_id is None and isinstance(stored_id, str) and re.fullmatch(ID_PATTERN, stored_id):
        pack_id = stored_id  # a persona export: the pack comes back under its own id
    pack_id = choose_id(pack_id, view.name, src.path)
    manifest["id"] = pack_id
    from persona import paths

    folder = install(paths.writable_home() / "personas", pack_id, manifest, files, src, report, force)
    report.pack, report.path = pack_id, str(folder)
    return report


def choose_id(given: str | None, name: str, path: Path) -> str:
    if given is not None:
        if not re.fullmatch(ID_PATTERN, given):
            raise CardError(f"{given!r} is not a pack id", "use lowercase letters, digits, '-' and '_' (--id mara)")
        return given
    from persona.scaffold import slugify

    for candidate in (name, path.stem.split(".")[0]):
        slug = slugify(candidate)
        if slug != "persona" or candidate.lower() == "persona":
            return slug
    import hashlib

    return "card-" + hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]  # a name with no Latin letters


def build(src: Source, data: dict[str, Any], view: mapping.View, report: Report):
    """(persona.toml as a dict, {file in the pack: text, bytes or ("zip", member)})."""
    stored = view.persona.get("manifest") if isinstance(view.persona.get("manifest"), dict) else {}
    manifest: dict[str, Any] = {"spec": "persona-pack", "spec_version": "1", "id": ""}  # id: set by the caller
    manifest.update({k: v for k, v in stored.items() if k not in RESERVED})
    manifest["name"] = view.name
    if not view.persona:  # a persona export brings its own description, or none
        manifest.setdefault("description", f"{view.name}, imported from {src.path.name}"[:400])
    if not stored and _mostly_cjk(str(data.get("description") or "") + "".join(view.greetings)):
        manifest["language"] = "zh"
    files: dict[str, Any] = {"system.md": view.system, "card.json": _card_text(src.obj)}
    manifest["system"], manifest["card"] = "system.md", "card.json"
    used = [k for k in ("system_prompt", "description", "personality", "scenario") if str(data.get(k) or "").strip()]
    report.mapped.append(f"{', '.join(used) or 'nothing'} → system prompt (system.md, SillyTavern's story-string "
                         f"order{'; empty system_prompt: SillyTavern default' if 'system_prompt' not in used else ''})")
    if view.greetings:
        manifest["greetings"] = view.greetings
        report.mapped.append(f"first_mes + alternate_greetings → greetings ({len(view.greetings)})")
    if view.examples:
        manifest["examples"] = "examples.jsonl"
        files["examples.jsonl"] = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in view.examples)
        report.mapped.append(f"mes_example → examples.jsonl ({len(view.examples)} dialogues)")
    elif isinstance(stored.get("examples"), str):  # the exported pack named an empty examples file
        manifest["examples"], files["examples.jsonl"] = "examples.jsonl", ""
    if view.dropped_example_lines:
        report.not_honoured.append(f"mes_example: {view.dropped_example_lines} lines before any "
                                   "{{user}}:/{{char}}: speaker were dropped")
    if view.nickname:
        manifest["nickname"] = view.nickname
        report.mapped.append("nickname → nickname (what {{char}} becomes)")
    if view.post_history:
        manifest["post_history"] = view.post_history
        report.mapped.append("post_history_instructions → post_history (after the chat history)")
    for key in ("post_history", "nickname", "greetings"):  # present but empty in the exported pack
        if key not in manifest and key in stored and stored[key] in ("", []):
            manifest[key] = stored[key]
    lore_table = manifest.pop("lorebook", None)
    lore_table = dict(lore_table) if isinstance(lore_table, dict) else {}
    lore_table.pop("entries", None)
    if view.lore is not None:
        manifest["lorebook"] = {**lore_table, "entries": "lore.json"}
        files["lore.json"] = json.dumps(view.lore, ensure_ascii=False, indent=1)
        report.mapped.append(f"character_book → lore.json ({len(view.lore['entries'])} entries"
                             + (f", token_budget {mapping.DEFAULT_LORE_BUDGET} added"
                                if data["character_book"].get("token_budget") is None else "") + ")")
        report.not_honoured += lore_features(view.lore)
    elif data.get("character_book") is not None:
        report.not_honoured.append("character_book: not a book with an entries list; kept in card.json only")
    elif lore_table:
        manifest["lorebook"] = lore_table
    if str(data.get("creator_notes") or "").strip():
        report.mapped.append("creator_notes → shown by `persona show`, never in the prompt")
    _assets(src, data, view, manifest, files, report)
    kept(src.kind, src.obj, data, report)
    fields = {k: data.get(k) for k in ("description", "personality", "scenario", "system_prompt", "first_mes",
                                       "mes_example", "post_history_instructions") if isinstance(data.get(k), str)}
    fields.update({f"alternate_greetings[{i}]": g for i, g in enumerate(mapping.strings(data, "alternate_greetings"))})
    if view.lore:
        fields.update({f"character_book entry {i}": e.get("content") for i, e in enumerate(view.lore["entries"])
                       if isinstance(e, dict) and isinstance(e.get("content"), str)})
    report.not_honoured += macros(fields)
    if stored:
        report.mapped.append("extensions.persona → " + ", ".join(sorted(k for k in stored if k not in RESERVED)))
        model = stored.get("model") if isinstance(stored.get("model"), dict) else {}
        safety = (stored.get("extensions") or {}).get("safety") if isinstance(stored.get("extensions"), dict) else None
        if "base" in model:  # the card chooses the model: say so, it may be one to download
            report.mapped.append(f"  [model] base = {str(model['base'])[:80]}")
        if isinstance(safety, dict) and "level" in safety:
            report.mapped.append(f"  [extensions.safety] level = {str(safety['level'])[:20]}")
    return manifest, files


def _card_text(obj: dict[str, Any]) -> str:
    """The original card as JSON; YAML dates become strings, lone surrogates stay escaped."""
    text = json.dumps(obj, ensure_ascii=False, default=str)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(obj, default=str)
    return text


def _mostly_cjk(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum("\u3400" <= c <= "\u9fff" for c in letters) > len(letters) * 0.3


def _assets(src: Source, data, view, manifest, files, report) -> None:
    """The avatar (the PNG's picture or the CHARX icon), the CHARX adapter and the CHARX's other members."""
    wants_avatar = view.persona.get("avatar", True) is not False  # False: the export drew a placeholder
    if src.image is not None and wants_avatar:
        files["avatar.png"], manifest["avatar"] = src.image, "avatar.png"
        report.mapped.append("the PNG's picture → avatar.png")
    model = manifest.get("model")
    had_adapter = isinstance(model, dict) and "adapter" in model
    if isinstance(model, dict):
        model = manifest["model"] = {k: v for k, v in model.items() if k != "adapter"}
    if src.charx is None:
        if had_adapter:
            report.not_honoured.append("the exported pack had a LoRA adapter, which only a CHARX carries "
                                       "(persona export ID --format charx)")
        return
    from persona.cards import charx
    from persona.cards.read import open_image, plain_png

    members = dict(src.charx.members)
    assets = data.get("assets") if isinstance(data.get("assets"), list) else []
    icons = [a for a in assets if isinstance(a, dict) and a.get("type") == "icon"]
    icons.sort(key=lambda a: a.get("name") != "main")
    for asset in icons:
        name = charx.embedded_path(asset.get("uri"))
        if name in members and not wants_avatar:
            members.pop(name)  # our placeholder: export draws it again
            break
        if name in members:
            image = open_image(src.charx.read(name, 32 * 2**20), f"{src.path}: {name}", ("PNG", "JPEG", "WEBP", "GIF"))
            files["avatar.png"], manifest["avatar"] = plain_png(image), "avatar.png"
            report.mapped.append(f"icon asset {name} → avatar.png")
            members.pop(name)
            break
    adapter = {n.rsplit("/", 1)[-1]: n for n in members if n.startswith(charx.ADAPTER_DIR + "/")}
    if all(f in adapter for f in charx.ADAPTER_FILES):
        for file in charx.ADAPTER_FILES:
            members.pop(adapter[file])
            files[f"adapter/{file}"] = ("zip", adapter[file])
        manifest["model"] = {**(model or {}), "adapter": "adapter"}
        report.mapped.append("LoRA adapter asset → adapter/ (safetensors + adapter_config.json)")
    for name in members:
        files[f"charx/{name}"] = ("zip", name)
    if members:
        report.kept.append(f"{len(members)} other CHARX members → charx/ (unused; written back on CHARX export)")


def install(base: Path, pack_id: str, manifest: dict[str, Any], files: dict[str, Any], src: Source,
            report: Report, force: bool) -> Path:
    """Write the pack aside, check it, and rename it into ``base / pack_id``."""
    import tomli_w

    from persona.errors import PackError
    from persona.pack_files import MAX_MANIFEST_BYTES
    from persona.packs import load_checked

    folder = base / pack_id
    if (folder.exists() or folder.is_symlink()) and not force:
        raise CardError(f"a pack named {pack_id} already exists ({folder})",
                        "pass --force to replace it, or --id NEW_ID to import it beside it")
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{pack_id}-import-", dir=base))
    try:
        for rel, content in files.items():
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, tuple):
                src.charx.extract(content[1], target)
            else:
                target.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        if "lore.json" in files:
            _check_lore(tmp, manifest, report)
        try:
            toml = tomli_w.dumps(manifest)
        except (TypeError, ValueError) as exc:  # JSON's null and friends have no TOML form
            raise CardError(f"the card's extensions.persona cannot be written as persona.toml ({str(exc)[:120]})",
                            "remove data.extensions.persona from the card to import its card fields alone") from None
        if len(toml.encode("utf-8")) > MAX_MANIFEST_BYTES:
            raise CardError(f"the card's greetings make persona.toml larger than {MAX_MANIFEST_BYTES // 1024} KiB",
                            "shorten or drop some alternate greetings in the card")
        (tmp / "persona.toml").write_text(toml, encoding="utf-8")
        try:
            load_checked(tmp)
        except PackError as exc:
            raise CardError(exc.message.replace(str(tmp.resolve()), str(folder)).replace(str(tmp), str(folder)),
                            exc.hint) from None
        if folder.exists() or folder.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=f".{pack_id}-old-", dir=base))
            folder.rename(old / pack_id)
            try:
                tmp.rename(folder)
            except OSError:
                (old / pack_id).rename(folder)  # the old pack goes back: replaced whole or not at all
                raise
            finally:
                shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _check_lore(tmp: Path, manifest: dict[str, Any], report: Report) -> None:
    """A book the lorebook cannot use is left out (and said so), so the pack still passes validate."""
    from persona.errors import PackError
    from persona.lore_book import check

    try:
        check(tmp / "lore.json")
    except PackError as exc:
        (tmp / "lore.json").unlink()
        table = {k: v for k, v in manifest["lorebook"].items() if k != "entries"}
        manifest.pop("lorebook")
        if table:
            manifest["lorebook"] = table
        report.not_honoured.append(f"character_book left out, kept in card.json only: {exc.message}")
