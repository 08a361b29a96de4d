"""The ``persona`` command: the parser and ``main``. Errors print ``error:`` and ``hint:`` and exit 2."""

from __future__ import annotations

import argparse
import os
import sys

from persona import __version__
from persona.cli import build, cards, chat, data, evaluate, me, packs, scale, serve
from persona.cli.boundary import Parser, check_argv, report
from persona.cli.common import setup_logging


def build_parser() -> argparse.ArgumentParser:
    common = Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks and debug logs")
    parser = Parser(prog="persona", parents=[common],
                                     description="Chat with characters in the terminal.")
    parser.add_argument("--version", action="version", version=f"persona {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, func, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help, description=help)
        p.set_defaults(func=func)
        return p

    p = add("list", packs.cmd_list, "list persona packs")
    p.add_argument("--json", action="store_true")
    p = add("show", packs.cmd_show, "show one pack")
    p.add_argument("persona", help="pack id or folder")
    p.add_argument("--json", action="store_true")
    p = add("validate", packs.cmd_validate, "check a pack folder")
    p.add_argument("path")
    p = add("new", packs.cmd_new, "scaffold a new pack")
    p.add_argument("name", help="the character's name")
    p.add_argument("--dir", help="parent folder (default: $PERSONA_HOME/personas)")
    p.add_argument("--language", default="en")
    p = add("models", packs.cmd_models, "list model aliases and their cache")
    p.add_argument("--json", action="store_true")
    p = add("ask", chat.cmd_ask, "send one message and print the reply")
    p.add_argument("persona", help="pack id or folder")
    p.add_argument("message", help="the message; - reads it from stdin")
    p.add_argument("--json", action="store_true", help="print the whole turn record as JSON")
    chat.add_generation_options(p)
    p = add("repl", chat.cmd_repl, "line-based chat (works over a pipe)")
    p.add_argument("persona", nargs="?", default="captain-mara")
    chat.add_generation_options(p)
    p = add("chat", chat.cmd_chat, "chat with a character in the terminal UI")
    p.add_argument("persona", nargs="?", default="captain-mara")
    p.add_argument("--resume", nargs="?", const="", metavar="ID",
                   help="resume a saved session (the latest without an ID)")
    chat.add_backend_option(p)
    chat.add_user_option(p)
    p = add("export", chat.cmd_export, "write a stored conversation as ShareGPT JSON or Markdown, "
                                       "or a pack as a character card")
    p.add_argument("session", help="session id (see `persona sessions`); a pack id for the card formats")
    p.add_argument("--format", choices=["sharegpt", "markdown", *cards.CARD_FORMATS], default="sharegpt")
    p.add_argument("-o", "--output", help="file to write (default: stdout; for cards ID.png or ID.charx)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p = add("plugins", packs.cmd_plugins, "list plugins, where they come from and their hooks")
    p.add_argument("--json", action="store_true")
    p = add("sessions", chat.cmd_sessions, "list stored conversations")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    from persona.plugins import make_manager

    data.register(add)
    build.register(add)
    evaluate.register(add)
    cards.register(add)
    me.register(add)
    scale.register(add)
    serve.register(add)

    # Plugins add sub-commands: cli.add_parser(...).set_defaults(func=handler).
    make_manager().hook.register_commands(cli=sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    setup_logging(debug)
    try:
        check_argv(argv)
        args = build_parser().parse_args(argv)
        if getattr(args, "backend", None):  # every engine this process makes, TUI included
            os.environ["PERSONA_BACKEND"] = args.backend
        return args.func(args)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # every other exception: the table in persona/cli/boundary.py
        return report(exc, debug)
