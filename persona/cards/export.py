"""``persona export ID --format card-v2|card-v3|charx``: a pack as a card SillyTavern reads.

The card starts from the one the pack was imported from (``card.json``), so
every field it had goes back out; only the parts of the pack that changed are
rewritten (persona/cards/mapping.py). What a card has no field for goes under
``data.extensions.persona``. A PNG carries the card as SillyTavern's writer
does: ``chara`` (base64 of the V2 JSON) and ``ccv3`` (the same JSON as V3).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
from pathlib import Path
from typing import Any

from persona.cards import CardError, charx, mapping

FORMATS = ("card-v2", "card-v3", "charx")
EMPTY_KEPT = ("post_history", "nickname", "greetings")
MAX_CARD_JSON = 16 * 2**20


def original_card(pack) -> dict[str, Any] | None:
    """The card the pack came from, if it has one (``card = "card.json"``)."""
    rel = pack.manifest.get("card")
    if not isinstance(rel, str):
        return None
    from persona.cards.read import parse_json, read_bounded
    from persona.pack_files import inside

    path = inside(pack.path, rel, pack.path / "persona.toml", "card")
    if not path.is_file():
        return None
    return parse_json(read_bounded(path, MAX_CARD_JSON, "card.json"), str(path))


def pack_view(pack) -> mapping.View:
    """The pack as the mapping sees it."""
    lore = None
    if pack.lorebook is not None:
        lore = book_of(pack.lorebook)
    return mapping.View(name=pack.name, system=mapping.nl(pack.system), greetings=list(pack.greetings),
                        examples=[c.to_sharegpt() for c in pack.examples], lore=lore,
                        post_history=str(pack.manifest.get("post_history", "")),
                        nickname=str(pack.manifest.get("nickname", "")))


def book_of(path: Path) -> dict[str, Any]:
    """A pack's lore file as a character book, whichever shape the lorebook accepts it in."""
    from persona import jsonlimits
    from persona.cards.read import read_bounded
    from persona.cards.worldinfo import to_book

    try:
        obj = jsonlimits.loads(read_bounded(path, MAX_CARD_JSON, "a lorebook"))
    except (ValueError, RecursionError) as exc:
        raise CardError(f"{path} is not valid JSON ({str(exc)[:120]})", "`persona validate` says what is wrong") from None
    if isinstance(obj, list):
        return {"entries": obj}
    if isinstance(obj, dict) and isinstance(obj.get("data"), dict) and "character_book" in obj["data"]:
        obj = obj["data"]["character_book"]  # a whole card's {"data": {"character_book": ...}}
    if isinstance(obj, dict) and isinstance(obj.get("entries"), dict):
        return to_book(obj, path.stem)  # SillyTavern's world-info shape
    if isinstance(obj, dict) and (obj.get("spec") == "lorebook_v3" or isinstance(obj.get("entries"), list)):
        return to_book(obj, path.stem) if obj.get("spec") == "lorebook_v3" else obj
    raise CardError(f"{path} is not a lorebook", "`persona validate` says what is wrong")


def manifest_rest(pack) -> dict[str, Any]:
    """persona.toml minus what the card's own fields carry."""
    from persona.cards.install import RESERVED

    rest = {k: copy.deepcopy(v) for k, v in pack.manifest.items() if k not in RESERVED or k == "id"}
    if "examples" in pack.manifest and not pack.examples:
        rest["examples"] = pack.manifest["examples"]  # an empty file: no mes_example says so
    for key in EMPTY_KEPT:  # `post_history = ""` and the like: an empty card field cannot say it was there
        if key in pack.manifest and not pack.manifest[key]:
            rest[key] = pack.manifest[key]
    if isinstance(rest.get("lorebook"), dict):
        rest["lorebook"] = {k: v for k, v in rest["lorebook"].items() if k != "entries"}
        if not rest["lorebook"]:
            del rest["lorebook"]
    return rest


def card_json(pack, spec: str = "chara_card_v2") -> dict[str, Any]:
    """The pack as a V2 or V3 card object."""
    original = original_card(pack)
    view = pack_view(pack)
    before = None
    if original is not None:
        src_spec, data = mapping.card_data(original, "json")
        try:
            before = mapping.view_of_card(src_spec, data)
        except CardError:
            before = None
        card = copy.deepcopy(original)
        if src_spec not in ("chara_card_v2", "chara_card_v3"):
            card = {k: v for k, v in card.items()}  # V1 fields stay at the top, as SillyTavern keeps them
            card["data"] = copy.deepcopy(data)
    else:
        card = {"data": {"name": "", "description": "", "personality": "", "scenario": "", "first_mes": "",
                         "mes_example": "", "creator_notes": "", "system_prompt": "", "post_history_instructions": "",
                         "alternate_greetings": [], "tags": [], "creator": "", "character_version": "",
                         "extensions": {}}}
    data = card["data"]
    data.update(mapping.card_fields(view, before))
    if view.lore is None and before is not None and before.lore is not None:
        data.pop("character_book", None)
    if not isinstance(data.get("extensions"), dict):
        data["extensions"] = {}
    ext = mapping.persona_extension(view, before, manifest_rest(pack))
    if pack.manifest.get("avatar") is None:
        ext["avatar"] = False  # the picture is a placeholder: importing it gives no avatar
    data["extensions"]["persona"] = ext
    return with_spec(card, spec)


def with_spec(card: dict[str, Any], spec: str) -> dict[str, Any]:
    out = {"spec": spec, "spec_version": "3.0" if spec == "chara_card_v3" else "2.0"}
    out.update({k: v for k, v in card.items() if k not in ("spec", "spec_version")})
    if spec == "chara_card_v3":
        out["data"] = {**out["data"]}
        out["data"].setdefault("group_only_greetings", [])  # required in V3
    return out


def avatar_image(pack):
    """The pack's avatar as a Pillow image, or a placeholder with the name drawn on it."""
    from PIL import Image, ImageDraw, ImageFont

    rel = pack.manifest.get("avatar")
    if isinstance(rel, str):
        from persona.cards.read import open_image, read_bounded
        from persona.pack_files import inside

        path = inside(pack.path, rel, pack.path / "persona.toml", "avatar")
        if path.is_file():
            return open_image(read_bounded(path, 32 * 2**20, "an avatar"), path, ("PNG", "JPEG", "WEBP"))
    hue = hashlib.sha256(pack.name.encode("utf-8")).digest()
    im = Image.new("RGB", (400, 600), (40 + hue[0] % 80, 40 + hue[1] % 80, 60 + hue[2] % 100))
    draw = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=36)
    draw.multiline_text((200, 300), _wrap(pack.name), fill=(245, 240, 230), font=font, anchor="mm", align="center")
    return im


def _wrap(name: str, width: int = 16) -> str:
    lines, line = [], ""
    for word in name.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join([*lines, line][:6])


def png_bytes(pack, spec: str) -> bytes:
    """A PNG card: tEXt ``chara`` (V2) and ``ccv3`` (V3), both base64 of UTF-8 JSON."""
    from PIL.PngImagePlugin import PngInfo

    v2 = card_json(pack, "chara_card_v2")
    v3 = with_spec(v2, "chara_card_v3") if spec == "chara_card_v2" else card_json(pack, "chara_card_v3")
    info = PngInfo()
    for keyword, card in (("chara", v2), ("ccv3", v3)):
        info.add_text(keyword, base64.b64encode(json.dumps(card, ensure_ascii=False).encode("utf-8")).decode("ascii"))
    from persona.cards.read import pngable

    out = io.BytesIO()
    pngable(avatar_image(pack)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def charx_files(pack, card: dict[str, Any]) -> dict[str, bytes | Path]:
    """The members of a CHARX besides card.json; adds their assets to ``card``."""
    files: dict[str, bytes | Path] = {}
    kept = pack.path / "charx"
    if kept.is_dir():
        for path in sorted(p for p in kept.rglob("*") if p.is_file()):
            files[path.relative_to(kept).as_posix()] = path
    assets = [a for a in card["data"].get("assets") or [] if isinstance(a, dict)
              and a.get("type") != charx.ADAPTER_TYPE]
    icon = next((a for a in assets if a.get("type") == "icon" and a.get("name") == "main"
                 and charx.embedded_path(a.get("uri"))), None)
    if icon is None or not charx.embedded_path(icon.get("uri")).lower().endswith(".png"):
        # the avatar is PNG (import re-encodes it): the main icon asset says so
        icon = {**(icon or {"type": "icon", "name": "main"}), "uri": "embeded://assets/icon/images/main.png",
                "ext": "png"}
        assets = [a for a in assets if not (a.get("type") == "icon" and a.get("name") == "main")] + [icon]
    from persona.cards.read import plain_png

    files[charx.embedded_path(icon["uri"])] = plain_png(avatar_image(pack))
    if pack.adapter is not None:
        for file in charx.ADAPTER_FILES:
            name = f"{charx.ADAPTER_DIR}/{file}"
            files[name] = Path(pack.adapter) / file
            assets.append({"type": charx.ADAPTER_TYPE, "uri": f"embeded://{name}", "name": file.split(".")[0],
                           "ext": file.rsplit(".", 1)[1]})
    card["data"]["assets"] = assets
    return files


def export(pack, fmt: str, out: Path, force: bool = False) -> Path:
    """Write ``pack`` as ``fmt`` to ``out`` (whole or not at all); ``.json`` writes the card's JSON."""
    from persona import outfile

    if fmt not in FORMATS:
        raise CardError(f"unknown card format {fmt!r}", f"use one of {', '.join(FORMATS)}")
    spec = "chara_card_v2" if fmt == "card-v2" else "chara_card_v3"
    if out.suffix.lower() == ".json" and fmt != "charx":
        return outfile.write(out, json.dumps(card_json(pack, spec), ensure_ascii=False, indent=2) + "\n", force)
    if fmt == "charx":
        card = card_json(pack, "chara_card_v3")
        files = charx_files(pack, card)
        return outfile.write_with(out, lambda fh: charx.write_charx(fh, card, files), force)
    return outfile.write_bytes(out, png_bytes(pack, spec), force)


def default_name(pack_id: str, fmt: str) -> Path:
    return Path(f"{pack_id}.charx" if fmt == "charx" else f"{pack_id}.png")


def creator_notes(pack) -> str:
    """The card's creator_notes for `persona show` (never part of the prompt); "" without a card."""
    try:
        card = original_card(pack)
    except CardError:
        return ""
    if card is None:
        return ""
    data = card.get("data") if isinstance(card.get("data"), dict) else card
    notes = data.get("creator_notes", data.get("creatorcomment", ""))
    return notes if isinstance(notes, str) else ""
