"""``persona ask``, ``repl``, ``chat`` (the TUI), ``sessions`` and ``export``: talking and stored talks."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from persona.cli.common import echo, print_json, progress, table
from persona.errors import InputError, PersonaError


def add_generation_options(p: argparse.ArgumentParser) -> None:
    """The options of ``ask`` and ``repl``; :func:`overrides` reads them."""
    p.add_argument("--session", metavar="ID", help="continue a stored conversation")
    p.add_argument("--seed", type=int, help="make sampling reproducible")
    p.add_argument("--max-tokens", type=int, metavar="N", help="longest reply, in tokens")
    p.add_argument("--temperature", type=float, metavar="T", help="override the pack's temperature")
    add_backend_option(p)
    add_user_option(p)
    add_note_options(p)


def add_note_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--note", metavar="TEXT", help="the chat's author's note (as /note TEXT); kept with the session")
    p.add_argument("--note-depth", type=int, metavar="N",
                   help="where the author's note goes: N messages from the end (default 4; 0: after the newest)")


def note_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--note`` / ``--note-depth`` as Engine.set_note arguments (empty if neither is given)."""
    if getattr(args, "note", None) is None and getattr(args, "note_depth", None) is None:
        return {}
    return {"text": args.note, "depth": args.note_depth}


def add_user_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--as", dest="as_user", metavar="NAME",
                   help="speak as this user persona (`persona me list`); default: `persona me use`'s")


def user_persona(args: argparse.Namespace):
    """``--as NAME``'s user persona (InputError if there is none), or None for the default."""
    from persona.user_personas import get

    return get(args.as_user) if getattr(args, "as_user", None) else None


def add_backend_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=["auto", "llama", "hf", "openai"],
                   help="model backend (default auto: llama for GGUF models, hf otherwise; "
                        "openai: an OpenAI-compatible server)")


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The set generation options, checked before any model loads (InputError if out of range)."""
    from persona.models.base import check_overrides

    given = {"seed": args.seed, "max_new_tokens": args.max_tokens, "temperature": args.temperature}
    check_overrides(given)
    return given


def _read_message(arg: str) -> str:
    if arg != "-":
        return arg
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"standard input is not valid UTF-8 (byte {exc.start}: {data[exc.start:exc.start + 1]!r})",
                         "send the message as UTF-8 text") from None


def cmd_ask(args: argparse.Namespace) -> int:
    from persona.engine import Engine, check_message
    from persona.packs import get_pack

    text = _read_message(args.message)
    check_message(text)  # before anything loads or is stored
    given = overrides(args)
    user = user_persona(args)
    pack = get_pack(args.persona)
    engine = Engine(progress=progress, user=user)
    chat = engine.resume(args.session, pack, user=user) if args.session else engine.new_chat(pack)
    if note_options(args):
        engine.set_note(chat, **note_options(args))
    stream = not args.json
    from persona.notices import tool_line, turn_notices

    # Each streamed chunk is sanitised on its own: the mapping is per character, so an
    # escape sequence split across tokens is caught as surely as a whole one.
    result = engine.turn(chat, text, on_token=(lambda t: echo(t, end="", flush=True)) if stream else None,
                         on_tool=(lambda m: echo(tool_line(m), flush=True)) if stream else None,
                         **given)
    if args.json:
        print_json({
            "session": chat.session_id,
            "persona": pack.id,
            "messages": [m.to_dict() for m in chat.conversation.messages],
            "reply": result.reply,
            "timings": result.timings,
            "context": result.context.to_dict() if result.context else None,
        })
    else:
        if result.stopped == "blocked":
            echo(result.reply, end="")
        print()
        for notice in turn_notices(result.messages):
            echo(f"notice: {notice}", file=sys.stderr)
        echo(f"session: {chat.session_id}  (continue with --session {chat.session_id})", file=sys.stderr)
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise PersonaError("persona chat needs a terminal", "use `persona repl` over a pipe or in scripts")
    from persona.packs import get_pack
    from persona.store import Store

    session = None
    user = user_persona(args)
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

    return run(args.persona, session, user=user)


def cmd_repl(args: argparse.Namespace) -> int:
    from persona.repl import run_repl

    return run_repl(args.persona, session=args.session, overrides=overrides(args), progress=progress,
                    user=user_persona(args), note=note_options(args))


def cmd_export(args: argparse.Namespace) -> int:
    from persona.cli.cards import CARD_FORMATS, cmd_export_card

    if args.format in CARD_FORMATS:
        return cmd_export_card(args)
    from persona import outfile
    from persona.export import export_text
    from persona.store import Store
    from persona.textsafe import sanitize

    info, conv = Store(readonly=True).load(args.session)
    text = export_text(conv, args.format, title=info.persona)
    if args.output in (None, "-"):
        # stdout is usually a terminal or a pager (`| less -R` passes escapes through), so
        # Markdown is sanitised there. A file written with -o is data and keeps the stored
        # text exactly. ShareGPT is JSON, which escapes every control character anyway.
        sys.stdout.write(text if args.format == "sharegpt" else sanitize(text))
        return 0
    out = outfile.write(args.output, text, force=args.force)
    echo(f"wrote {out}", file=sys.stderr)
    return 0


def cmd_sessions(args: argparse.Namespace) -> int:
    from persona.store import Store

    rows = [s.to_dict() for s in Store(readonly=True).sessions(args.limit)]
    if args.json:
        print_json(rows)
        return 0
    import datetime as dt

    table([[r["id"], r["persona"], dt.datetime.fromtimestamp(r["updated"]).strftime("%Y-%m-%d %H:%M"),
            str(r["messages"]), r["title"][:50]] for r in rows], ["ID", "PERSONA", "UPDATED", "MSGS", "FIRST LINE"])
    return 0
