"""``persona import`` (cards, world info) and the card formats of ``persona export``."""

from __future__ import annotations

import argparse
import sys

from persona.cli.common import echo, print_json

CARD_FORMATS = ("card-v2", "card-v3", "charx")


def register(add) -> None:
    p = add("import", cmd_import, "import a character card (Tavern V1/V2/V3 JSON or PNG, CHARX, "
                                  "text-generation-webui YAML) as a pack, or attach world info with --to")
    p.add_argument("file", help="the card, CHARX, YAML or world-info JSON")
    p.add_argument("--id", help="the new pack's id (default: from the character's name)")
    p.add_argument("--to", metavar="ID", help="attach a world-info / lorebook_v3 file to this pack as its lore")
    p.add_argument("--force", action="store_true", help="replace an existing pack (or, with --to, its lore)")
    p.add_argument("--json", action="store_true", help="print the import report as JSON")


def cmd_import(args: argparse.Namespace) -> int:
    from persona.errors import PersonaError

    if args.to is not None:
        if args.id is not None:
            raise PersonaError("--id and --to do not go together", "--to names the existing pack the lore joins")
        from persona.cards.worldinfo import attach

        report = attach(args.file, args.to, force=args.force)
    else:
        from persona.cards.install import import_card

        report = import_card(args.file, args.id, force=args.force)
    if args.json:
        print_json(report.to_dict())
    else:
        for line in report.lines():
            echo(line)
        if args.to is None:
            echo(f"chat with it: persona chat {report.pack}")
    return 0


def cmd_export_card(args: argparse.Namespace) -> int:
    """``persona export ID --format card-v2|card-v3|charx [-o FILE]``: the positional is a pack."""
    from pathlib import Path

    from persona.cards.export import card_json, default_name, export
    from persona.errors import PersonaError
    from persona.packs import get_pack

    pack = get_pack(args.session)
    if args.output == "-":
        if args.format == "charx":
            raise PersonaError("a CHARX is a zip and is not written to standard output", "name a file with -o")
        spec = "chara_card_v2" if args.format == "card-v2" else "chara_card_v3"
        print_json(card_json(pack, spec))
        return 0
    out = Path(args.output) if args.output else default_name(pack.id, args.format)
    written = export(pack, args.format, out, force=args.force)
    echo(f"wrote {written}", file=sys.stderr)
    return 0
