"""``persona me set|list|use``: the user's own personas (who ``{{user}}`` is, and their description)."""

from __future__ import annotations

import argparse

from persona.cli.common import echo, group, print_json, table


def register(add) -> None:
    """Add ``persona me``; ``add(name, func, help)`` returns a parser."""
    add_me = group(add, "me", "your own user personas: the name {{user}} stands for, and a description")

    q = add_me("set", cmd_set, "create or update a user persona (the first one is used at once)")
    q.add_argument("name", help="the name characters call you ({{user}})")
    q.add_argument("--description", metavar="TEXT",
                   help="who you are, for the prompt (kept as it was if not given); macros work")
    q = add_me("list", cmd_list, "list your user personas; * marks the one in use")
    q.add_argument("--json", action="store_true")
    q = add_me("use", cmd_use, "speak as this user persona from now on (`--as NAME` for one run)")
    q.add_argument("name")


def cmd_set(args: argparse.Namespace) -> int:
    from persona.user_personas import save

    persona, in_use = save(args.name, args.description)
    echo(f"saved user persona {persona.name}" + (" (in use)" if in_use else
                                                  f"; speak as it with `persona me use {persona.name}`"))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from persona.user_personas import all_personas

    personas, active = all_personas()
    rows = [{**p.to_dict(), "active": p.name == active} for p in personas]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        echo("no user personas yet; you are \"User\". Create one: persona me set NAME --description TEXT")
        return 0
    table([["*" if r["active"] else "", r["name"], r["description"][:60]] for r in rows], ["", "NAME", "DESCRIPTION"])
    return 0


def cmd_use(args: argparse.Namespace) -> int:
    from persona.user_personas import use

    echo(f"you are now {use(args.name).name} in new chats")
    return 0
