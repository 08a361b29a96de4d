"""The ``persona`` command. Errors print ``error:`` and ``hint:`` and exit 2."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from persona import __version__
from persona.errors import PersonaError

log = logging.getLogger("persona")


class _StderrHandler(logging.Handler):
    """``warning: …`` lines on whatever sys.stderr is at the time."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"{record.levelname.lower()}: {record.getMessage()}", file=sys.stderr)


def _setup_logging(debug: bool) -> None:
    log.handlers[:] = [_StderrHandler()]
    log.setLevel(logging.DEBUG if debug else logging.WARNING)


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def _table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())


# -- commands ------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    from persona.packs import discover

    packs = [p.summary() for p in discover().values()]
    if args.json:
        _print_json(packs)
        return 0
    _table([[p["id"], p["name"], p["language"], p["base"], "yes" if p["adapter"] else "no"] for p in packs],
           ["ID", "NAME", "LANG", "BASE", "ADAPTER"])
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from persona.packs import get_pack

    pack = get_pack(args.persona)
    data = {**pack.summary(), "greetings": pack.greetings, "system": pack.system_prompt(),
            "examples": len(pack.examples), "sampling": pack.sampling, "tools": pack.tools,
            "extensions": pack.extensions, "provenance": pack.provenance}
    if args.json:
        _print_json(data)
        return 0
    print(f"{pack.name} ({pack.id}) — {pack.description}")
    for key in ("language", "base", "adapter", "path", "source", "examples"):
        print(f"  {key}: {data[key]}")
    print("  sampling: " + ", ".join(f"{k}={v}" for k, v in pack.sampling.items()))
    for g in pack.greetings:
        print(f"  greeting: {g}")
    print("\n" + data["system"])
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from persona.errors import ModelError
    from persona.models import resolve
    from persona.packs import load_pack

    pack = load_pack(args.path)
    try:
        resolve(pack.base)
    except ModelError as exc:
        if "not installed" not in exc.message:
            raise
        log.warning("%s (hint: %s)", exc.message, exc.hint)
    print(f"ok: {pack.id} ({pack.name}) — {len(pack.greetings)} greetings, "
          f"{len(pack.examples)} example dialogues, base {pack.base}, adapter {'yes' if pack.adapter else 'no'}")
    return 0


def cmd_new(args: argparse.Namespace) -> int:
    from persona.scaffold import scaffold

    folder = scaffold(args.name, args.dir, language=args.language)
    print(f"created {folder}")
    print(f"edit {folder / 'system.md'}, then: persona validate {folder} && persona chat {folder.name}")
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
        _print_json(rows)
        return 0
    for r in rows:
        state = ("cache built" if r["cached"] else "cache not built yet") if r["installed"] else "not installed"
        print(f"{r['alias']}: {r['description']}\n  {state}")
        for f in r["files"][:1]:
            print(f"  file: {f}" + (f" (+{len(r['files']) - 1} parts)" if len(r["files"]) > 1 else ""))
        if not r["installed"]:
            print(f"  install: {r['install']}")
    return 0


def _read_message(arg: str) -> str:
    return sys.stdin.read() if arg == "-" else arg


def cmd_ask(args: argparse.Namespace) -> int:
    from persona.engine import Engine, check_message
    from persona.packs import get_pack

    text = _read_message(args.message)
    check_message(text)  # before anything loads or is stored
    pack = get_pack(args.persona)
    engine = Engine(progress=_progress)
    chat = engine.resume(args.session, pack) if args.session else engine.new_chat(pack)
    stream = not args.json
    from persona.notices import tool_line, turn_notices

    result = engine.turn(chat, text, on_token=(lambda t: print(t, end="", flush=True)) if stream else None,
                         on_tool=(lambda m: print(tool_line(m), flush=True)) if stream else None,
                         **_overrides(args))
    if args.json:
        _print_json({
            "session": chat.session_id,
            "persona": pack.id,
            "messages": [m.to_dict() for m in chat.conversation.messages],
            "reply": result.reply,
            "timings": result.timings,
            "context": result.context.to_dict() if result.context else None,
        })
    else:
        if result.stopped == "blocked":
            print(result.reply, end="")
        print()
        for notice in turn_notices(result.messages):
            print(f"notice: {notice}", file=sys.stderr)
        print(f"session: {chat.session_id}  (continue with --session {chat.session_id})", file=sys.stderr)
    return 0


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {"seed": args.seed, "max_new_tokens": args.max_tokens, "temperature": args.temperature}


def cmd_chat(args: argparse.Namespace) -> int:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise PersonaError("persona chat needs a terminal", "use `persona repl` over a pipe or in scripts")
    from persona.packs import get_pack
    from persona.store import Store

    session = None
    if args.resume is not None:
        store = Store()
        if args.resume == "":
            recent = store.sessions(1)
            if not recent:
                raise PersonaError("there is no saved session to resume", "start one with `persona chat`")
            session = recent[0].id
        else:
            session = store.info(args.resume).id
    else:
        get_pack(args.persona)  # a clear error before the screen switches
    from persona.tui.app import run

    return run(args.persona, session)


def cmd_repl(args: argparse.Namespace) -> int:
    from persona.repl import run_repl

    return run_repl(args.persona, session=args.session, overrides=_overrides(args), progress=_progress)


def cmd_plugins(args: argparse.Namespace) -> int:
    from persona.plugins import make_manager

    infos = [p.to_dict() for p in make_manager().persona_plugins]
    if args.json:
        _print_json(infos)
        return 0
    for p in infos:
        state = f"FAILED: {p['error']}" if p["error"] else ", ".join(p["hooks"])
        print(f"{p['name']}  ({p['source']}: {p['location']})\n  {state}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from persona.export import export_text
    from persona.store import Store

    info, conv = Store().load(args.session)
    text = export_text(conv, args.format, title=info.persona)
    if args.output in (None, "-"):
        sys.stdout.write(text)
        return 0
    out = Path(args.output)
    if out.exists() and not args.force:
        raise PersonaError(f"{out} already exists", "choose another file name, or pass --force to overwrite it")
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)
    return 0


def cmd_sessions(args: argparse.Namespace) -> int:
    from persona.store import Store

    rows = [s.to_dict() for s in Store().sessions(args.limit)]
    if args.json:
        _print_json(rows)
        return 0
    import datetime as dt

    _table([[r["id"], r["persona"], dt.datetime.fromtimestamp(r["updated"]).strftime("%Y-%m-%d %H:%M"),
             str(r["messages"]), r["title"][:50]] for r in rows], ["ID", "PERSONA", "UPDATED", "MSGS", "FIRST LINE"])
    return 0


# -- parser --------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks and debug logs")
    parser = argparse.ArgumentParser(prog="persona", parents=[common],
                                     description="Chat with characters in the terminal.")
    parser.add_argument("--version", action="version", version=f"persona {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, func, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help, description=help)
        p.set_defaults(func=func)
        return p

    def gen_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--session", metavar="ID", help="continue a stored conversation")
        p.add_argument("--seed", type=int, help="make sampling reproducible")
        p.add_argument("--max-tokens", type=int, metavar="N", help="longest reply, in tokens")
        p.add_argument("--temperature", type=float, metavar="T", help="override the pack's temperature")

    p = add("list", cmd_list, "list persona packs")
    p.add_argument("--json", action="store_true")
    p = add("show", cmd_show, "show one pack")
    p.add_argument("persona", help="pack id or folder")
    p.add_argument("--json", action="store_true")
    p = add("validate", cmd_validate, "check a pack folder")
    p.add_argument("path")
    p = add("new", cmd_new, "scaffold a new pack")
    p.add_argument("name", help="the character's name")
    p.add_argument("--dir", help="parent folder (default: $PERSONA_HOME/personas)")
    p.add_argument("--language", default="en")
    p = add("models", cmd_models, "list model aliases and their cache")
    p.add_argument("--json", action="store_true")
    p = add("ask", cmd_ask, "send one message and print the reply")
    p.add_argument("persona", help="pack id or folder")
    p.add_argument("message", help="the message; - reads it from stdin")
    p.add_argument("--json", action="store_true", help="print the whole turn record as JSON")
    gen_options(p)
    p = add("repl", cmd_repl, "line-based chat (works over a pipe)")
    p.add_argument("persona", nargs="?", default="captain-mara")
    gen_options(p)
    p = add("chat", cmd_chat, "chat with a character in the terminal UI")
    p.add_argument("persona", nargs="?", default="captain-mara")
    p.add_argument("--resume", nargs="?", const="", metavar="ID",
                   help="resume a saved session (the latest without an ID)")
    p = add("export", cmd_export, "write a stored conversation as ShareGPT JSON or Markdown")
    p.add_argument("session", help="session id (see `persona sessions`)")
    p.add_argument("--format", choices=["sharegpt", "markdown"], default="sharegpt")
    p.add_argument("-o", "--output", help="file to write (default: stdout)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p = add("plugins", cmd_plugins, "list plugins, where they come from and their hooks")
    p.add_argument("--json", action="store_true")
    p = add("sessions", cmd_sessions, "list stored conversations")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    from persona import cli_data
    from persona.plugins import make_manager

    cli_data.register(add)

    # Plugins add sub-commands: cli.add_parser(...).set_defaults(func=handler).
    make_manager().hook.register_commands(cli=sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    _setup_logging(debug)
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except PersonaError as exc:
        if debug:
            raise
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug, not bad input: still one line unless --debug
        if debug:
            raise
        print(f"error: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("hint: run again with --debug for the traceback, and report it", file=sys.stderr)
        return 1

