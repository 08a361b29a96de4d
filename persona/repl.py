"""A plain line-based chat loop: works over a pipe, in CI, and in any terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from persona.errors import PersonaError
from persona.notices import tool_line, turn_notices
from persona.textsafe import sanitize

HELP = ("commands: /help  /reset (new conversation)  /session (show id)  /as NAME (speak as a user persona)"
        "  /note TEXT|depth N|off (author's note)  /quit; tools: /roll 2d6, /clock, /calc 2*3 …")


def run_repl(persona_ref: str, session: str | None = None, overrides: dict[str, Any] | None = None,
             progress: Callable[[str], None] | None = None, stdin=None, stdout=None, user=None,
             note: dict[str, Any] | None = None) -> int:
    """The loop; ``user`` is the user persona (--as), None for `persona me use`'s."""
    from persona.engine import Engine
    from persona.packs import get_pack

    stdin = stdin or sys.stdin
    out = stdout or sys.stdout
    interactive = stdin.isatty() and out.isatty()
    pack = get_pack(persona_ref)
    engine = Engine(progress=progress, user=user)
    chat = engine.resume(session, pack, user=user) if session else engine.new_chat(pack)
    if note:  # --note / --note-depth, as /note would
        engine.set_note(chat, **note)

    def say(text: str = "", end: str = "\n") -> None:
        # Everything the loop writes goes through here. Streamed tokens are sanitised one
        # chunk at a time, which is safe: each control character is replaced on its own.
        out.write(sanitize(text) + end)
        out.flush()

    name = sanitize(pack.name, one_line=True)  # the speaker label: one line, whatever the pack says
    if session:
        for msg in chat.conversation.messages:
            if msg.role in ("user", "assistant"):
                say(f"{'you' if msg.role == 'user' else name}: {msg.content}")
    else:
        greeting = chat.conversation.last("assistant")
        say(f"{name}: {greeting.content}" if greeting else f"[{name}]")
    if interactive:
        say(f"({HELP})")
    while True:
        if interactive:
            say("you> ", end="")
        line = stdin.readline()
        if not line:
            break
        text = line.rstrip("\n")
        if not text.strip():
            continue
        command = text.strip().lower()
        if command in ("/quit", "/exit"):
            break
        if command == "/help":
            say(HELP)
            continue
        if command == "/session":
            say(f"session: {chat.session_id}")
            continue
        if command == "/as" or command.startswith("/as "):
            chat = _switch_user(engine, chat, text.strip()[3:].strip(), say)
            continue
        if command == "/note" or command.startswith("/note "):
            _note(engine, chat, text.strip()[5:], say)
            continue
        if command == "/reset":
            chat = engine.new_chat(pack, user=engine.user_of(chat))
            say(f"{name}: {chat.conversation.last('assistant').content if pack.greetings else ''}")
            continue
        started = [False]

        def on_token(t: str) -> None:
            if not started[0]:
                say(f"{name}: ", end="")
                started[0] = True
            say(t, end="")

        try:
            result = engine.turn(chat, text, on_token=on_token, on_tool=lambda m: say(tool_line(m)),
                                 **(overrides or {}))
        except KeyboardInterrupt:
            say(" [stopped]")
            continue
        except PersonaError as exc:
            say()
            print(sanitize(f"error: {exc.message}" + (f"\nhint: {exc.hint}" if exc.hint else "")), file=sys.stderr)
            continue
        if not started[0]:
            say(f"{name}: {result.reply}", end="")
        say()
        for notice in turn_notices(result.messages):
            say(f"notice: {notice}")
    if chat.stored:
        print(sanitize(f"session: {chat.session_id}  (resume with: persona repl {pack.id} --session {chat.session_id})",
                       one_line=True), file=sys.stderr)
    return 0


def _switch_user(engine, chat, name: str, say):
    """``/as NAME``: speak as another user persona; before the first message the greeting is redone."""
    from persona import user_personas

    if not name:
        personas, _ = user_personas.all_personas()
        say(f"you are {engine.user_of(chat).name}; yours: {', '.join(p.name for p in personas) or 'none'}"
            " (persona me set NAME to add one)")
        return chat
    try:
        user = user_personas.get(name)
    except PersonaError as exc:
        print(sanitize(f"error: {exc.message}\nhint: {exc.hint}"), file=sys.stderr)
        return chat
    if chat.stored or chat.conversation.last("user"):
        engine.set_user(chat, user)
    else:
        chat = engine.new_chat(chat.persona, user=user)
        greeting = chat.conversation.last("assistant")
        if greeting:
            say(f"{sanitize(chat.persona.name, one_line=True)}: {greeting.content}")
    say(f"(you are now {user.name})")
    return chat


def _note(engine, chat, rest: str, say) -> None:
    """``/note``: show the author's note; ``/note TEXT``, ``/note depth N``, ``/note off`` change it."""
    from persona import authors_note

    try:
        action, arg = authors_note.parse_command(rest)
        if action != "show":
            engine.set_note(chat, text=arg if action == "text" else None,
                            depth=arg if action == "depth" else None, off=action == "off")
    except PersonaError as exc:
        print(sanitize(f"error: {exc.message}" + (f"\nhint: {exc.hint}" if exc.hint else "")), file=sys.stderr)
        return
    say(authors_note.describe(authors_note.current(chat)))
