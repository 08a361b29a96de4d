"""A plain line-based chat loop: works over a pipe, in CI, and in any terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from persona.errors import PersonaError
from persona.notices import tool_line, turn_notices
from persona.textsafe import sanitize

HELP = "commands: /help  /reset (new conversation)  /session (show id)  /quit; tools: /roll 2d6, /clock, /calc 2*3 …"


def run_repl(persona_ref: str, session: str | None = None, overrides: dict[str, Any] | None = None,
             progress: Callable[[str], None] | None = None, stdin=None, stdout=None) -> int:
    from persona.engine import Engine
    from persona.packs import get_pack

    stdin = stdin or sys.stdin
    out = stdout or sys.stdout
    interactive = stdin.isatty() and out.isatty()
    pack = get_pack(persona_ref)
    engine = Engine(progress=progress)
    chat = engine.resume(session, pack) if session else engine.new_chat(pack)

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
        if command == "/reset":
            chat = engine.new_chat(pack)
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
