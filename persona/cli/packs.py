"""``persona list``, ``show``, ``validate``, ``new``, ``models`` and ``plugins``: what is installed."""

from __future__ import annotations

import argparse

from persona.cli.common import echo, log, print_json, table
from persona.textsafe import sanitize


def cmd_list(args: argparse.Namespace) -> int:
    """Every pack; a broken one is listed as broken with its error, and the rest still work."""
    from persona.packs import discover_all

    found, broken = discover_all()
    packs = [p.summary() for p in found.values()]
    if args.json:
        print_json(packs + [b.summary() for b in broken])
        return 0
    table([[p["id"], p["name"], p["language"], p["base"], "yes" if p["adapter"] else "no"] for p in packs]
          + [[b.path.name, "(broken)", "", "", ""] for b in broken],
          ["ID", "NAME", "LANG", "BASE", "ADAPTER"])
    for b in broken:
        log.warning("pack %s is broken: %s", b.path, b.error.message)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from persona.cards.export import creator_notes
    from persona.packs import get_pack

    pack = get_pack(args.persona)
    data = {**pack.summary(), "greetings": pack.greetings, "system": pack.system_prompt(),
            "examples": len(pack.examples), "sampling": pack.sampling, "tools": pack.tools,
            "extensions": pack.extensions, "provenance": pack.provenance, "creator_notes": creator_notes(pack)}
    if args.json:
        print_json(data)
        return 0
    # One-line fields stay on their line (a newline in a name cannot fake a `key: value` line);
    # greetings and the system prompt keep their line breaks. echo shows control characters.
    def one(value) -> str:
        return sanitize(value, one_line=True)

    echo(f"{one(pack.name)} ({one(pack.id)}) — {one(pack.description)}")
    for key in ("language", "base", "adapter", "path", "source", "examples"):
        echo(f"  {key}: {one(data[key])}")
    echo("  sampling: " + one(", ".join(f"{k}={v}" for k, v in pack.sampling.items())))
    for g in pack.greetings:
        echo(f"  greeting: {g}")
    if data["creator_notes"].strip():  # the card's notes to its users: shown, never in the prompt
        echo("  creator notes:\n" + "\n".join(f"    {line}" for line in data["creator_notes"].strip().splitlines()))
    echo("\n" + data["system"])
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from persona.errors import ModelError
    from persona.models import resolve
    from persona.packs import load_checked

    pack = load_checked(args.path)
    from persona.errors import PersonaError
    from persona.lore_book import check, shared_path

    lore = []
    if pack.lorebook is not None:
        # a chat skips a bad book with a warning; validate says what is wrong
        lore = [e.content for e in getattr(check(pack.lorebook), "entries", [])]
    for name in pack.manifest.get("lorebook", {}).get("books", []) or []:
        # shared books live in $PERSONA_HOME, not in the pack: a problem there is a warning
        path = shared_path(name)  # warns when missing or outside the folder
        try:
            lore += [e.content for e in check(path).entries] if path is not None else []
        except PersonaError as exc:
            log.warning("shared lorebook %s: %s (hint: %s)", name, exc.message, exc.hint)
    _warn_unknown_macros(pack, lore)
    try:
        resolve(pack.base)
    except ModelError as exc:
        if "not installed" not in exc.message:
            raise
        log.warning("%s (hint: %s)", exc.message, exc.hint)
    echo(sanitize(f"ok: {pack.id} ({pack.name}) — {len(pack.greetings)} greetings, {len(pack.examples)} example "
                  f"dialogues, base {pack.base}, adapter {'yes' if pack.adapter else 'no'}", one_line=True))
    return 0


def _warn_unknown_macros(pack, lore: list[str]) -> None:
    """One warning listing the macros a chat would leave as written (never an error)."""
    from persona.macros import unknown

    post = getattr(pack, "post_history", None) or pack.manifest.get("post_history") or ""
    texts = [pack.system, *pack.greetings, post, *lore, *(m.content for ex in pack.examples for m in ex.messages)]
    found: list[str] = []
    for text in texts:
        found.extend(m for m in unknown(text) if m not in found)
        if len(found) >= 20:
            break
    if found:
        log.warning("%s: unknown macros, left as written: %s", pack.id, ", ".join(found[:20]))


def cmd_new(args: argparse.Namespace) -> int:
    from persona.scaffold import scaffold

    folder = scaffold(args.name, args.dir, language=args.language)
    echo(f"created {folder}")
    echo(f"edit {folder / 'system.md'}, then: persona validate {folder} && persona chat {folder.name}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from persona.errors import ModelError
    from persona.models import ALIASES, resolve
    from persona.models.hf import is_cached

    rows = []
    for name, alias in ALIASES.items():
        try:
            spec = resolve(name)
            rows.append({"alias": name, "installed": True, "files": spec.parts or [spec.source],
                         "cached": is_cached(spec), "description": alias.description})
        except ModelError:
            rows.append({"alias": name, "installed": False, "files": [], "cached": False,
                         "description": alias.description, "install": alias.install})
    if args.json:
        print_json(rows)
        return 0
    for r in rows:
        state = ("cache built" if r["cached"] else "cache not built yet") if r["installed"] else "not installed"
        echo(f"{r['alias']}: {r['description']}\n  {state}")
        for f in r["files"][:1]:
            echo(f"  file: {f}" + (f" (+{len(r['files']) - 1} parts)" if len(r["files"]) > 1 else ""))
        if not r["installed"]:
            echo(f"  install: {r['install']}")
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from persona.plugins import make_manager

    infos = [p.to_dict() for p in make_manager().persona_plugins]
    if args.json:
        print_json(infos)
        return 0
    for p in infos:
        state = f"FAILED: {p['error']}" if p["error"] else ", ".join(p["hooks"])
        echo(f"{p['name']}  ({p['source']}: {p['location']})\n  {state}")
    return 0
