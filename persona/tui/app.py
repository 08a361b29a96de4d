"""``persona chat``: a Textual app on the engine. It adds no logic the CLI lacks:
every turn goes through Engine.turn, every session through the store."""

from __future__ import annotations

import threading
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message as TextualMessage
from textual.widgets import Footer

from persona.branching import MOVED_NOTICE
from persona.engine import Chat, Engine, TurnResult
from persona.errors import PersonaError
from persona.notices import tool_line, turn_notices
from persona.progress import milestones
from persona.textsafe import sanitize
from persona.user_personas import UserPersona
from persona.tui.screens import HelpScreen, PersonaPicker, SessionBrowser
from persona.tui.widgets import ChatMessage, Composer, Notice, StatusBar


class Token(TextualMessage):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class ToolResult(TextualMessage):
    def __init__(self, line: str) -> None:
        super().__init__()
        self.line = line


class TurnDone(TextualMessage):
    def __init__(self, result: TurnResult | None, error: str = "") -> None:
        super().__init__()
        self.result, self.error = result, error


class PersonaApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "persona"
    ENABLE_COMMAND_PALETTE = False  # ctrl+p opens the persona picker instead
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("f1", "help", "Help"),
        Binding("ctrl+p", "pick_persona", "Personas"),
        Binding("ctrl+o", "sessions", "Sessions"),
        Binding("ctrl+r", "regenerate", "Regenerate"),
        Binding("ctrl+e", "edit", "Edit", priority=True),  # over the input box's line-end
        Binding("ctrl+b", "branches", "Branches"),
        Binding("ctrl+u", "undo", "Undo", priority=True),  # over delete-to-line-start
        Binding("escape", "stop", "Stop", show=False),
    ]
    APP_COMMANDS = ("help", "persona", "reset", "undo", "regen", "export", "system", "as", "note")

    def __init__(self, persona: str = "captain-mara", session: str | None = None,
                 engine: Engine | None = None, user=None) -> None:
        super().__init__()
        self.persona_ref, self.session_ref = persona, session
        self.engine = engine
        self.user = user  # the user persona (--as); None: the session's, else `persona me use`'s
        self.chat: Chat | None = None
        self.cancel = threading.Event()
        self.busy = False
        self.greeting = 0
        self._reply: ChatMessage | None = None
        self._stream = None
        self._last_speed: float | None = None
        self.editing: int | None = None  # index of the user message being edited (a fork)

    def compose(self) -> ComposeResult:
        yield VerticalScroll(id="transcript")
        yield Composer(id="composer", soft_wrap=True, show_line_numbers=False)
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        if self.engine is None:
            self.engine = Engine(progress=milestones(
                lambda msg: self.call_later(self.notify, sanitize(msg), markup=False)), user=self.user)
        try:
            self.start_chat(self.persona_ref, self.session_ref)
        except PersonaError as exc:
            self.exit(return_code=2, message=Text(sanitize(f"error: {exc.message}\nhint: {exc.hint}")))
            return
        self.query_one(Composer).focus()

    # -- conversation ----------------------------------------------------------------

    def start_chat(self, persona_ref: str, session: str | None = None) -> None:
        from persona.packs import get_pack

        if session:
            info = self.engine.store.info(session)
            self.chat = self.engine.resume(session, get_pack(info.persona), user=self.user)
        else:
            self.greeting = 0
            self.chat = self.engine.new_chat(get_pack(persona_ref), user=self.user)
        self.redraw()

    def redraw(self, messages=None) -> None:
        transcript = self.query_one("#transcript", VerticalScroll)
        transcript.remove_children()
        widgets = []
        for msg in self.chat.conversation.messages if messages is None else messages:
            if msg.role in ("user", "assistant"):
                widgets.append(self._bubble(msg.role, msg.content))
                if msg.metadata.get("stopped"):
                    widgets.append(Notice("(stopped)", "notice"))
            elif msg.role == "observation":
                widgets.append(Notice(tool_line(msg), "tool"))
        last = self.chat.conversation.messages[-1] if self.chat.conversation.messages else None
        alternatives = last.metadata.get("alternatives") if last is not None else None
        if alternatives and widgets and isinstance(widgets[-1], ChatMessage):
            widgets[-1].border_subtitle = f"←/→ {last.metadata.get('swipe', 0) + 1}/{len(alternatives)}"
        transcript.mount_all(widgets)
        transcript.scroll_end(animate=False)
        self.update_status()

    def _bubble(self, role: str, text: str) -> ChatMessage:
        author = "You" if role == "user" else self.chat.persona.name
        return ChatMessage(role, text, author)

    def update_status(self, result: TurnResult | None = None) -> None:
        persona = self.chat.persona
        model = persona.base + (f" + {persona.id} adapter" if persona.adapter else "")
        user = self.chat.conversation.last("user")
        lore = (user.metadata.get("lore") or {}).get("fired") if user else None
        safety = ""
        if result is not None:
            notes = [n for n in turn_notices(result.messages) if n.startswith("safety")]
            safety = notes[0] if notes else ""
            self._last_speed = result.timings.get("tokens_per_s") or self._last_speed
        you = self.engine.user_of(self.chat)
        who = persona.name + (f" │ you: {you.name}" if you != UserPersona() else "")  # none chosen: as before
        self.query_one(StatusBar).show(who, model, self._last_speed,
                                       user.metadata.get("sentiment") if user else None, lore, safety)

    def notice(self, text: str, kind: str = "notice") -> None:
        transcript = self.query_one("#transcript", VerticalScroll)
        transcript.mount(Notice(text, kind))
        transcript.scroll_end(animate=False)

    # -- sending ---------------------------------------------------------------------

    def on_composer_browse(self, event: Composer.Browse) -> None:
        if self.busy:
            return
        try:
            swiped = self.chat.stored and self.engine.swipe(self.chat, event.step)
        except PersonaError as exc:  # e.g. another process changed the session (it was reloaded)
            self._reloaded(exc.message)
            return
        if swiped:
            self.redraw()
        else:
            self.action_greeting(event.step)

    async def on_composer_submitted(self, event: Composer.Submitted) -> None:
        text = event.text.strip("\n")
        if text.startswith("/") and self.slash_command(text):
            return
        if self.busy:
            self.notice("wait for the reply, or press Esc to stop it")
            return
        if self.editing is not None:
            index, self.editing = self.editing, None
            original = self.chat
            self.redraw(original.conversation.messages[:index])  # the branch's history, on screen
            await self._start_reply(text)
            self.generate(text, fork_from=(original, index))
            return
        await self._start_reply(text)
        self.generate(text)

    async def _start_reply(self, user_text: str | None) -> None:
        transcript = self.query_one("#transcript", VerticalScroll)
        if user_text is not None:
            await transcript.mount(self._bubble("user", user_text))
        self._reply = self._bubble("assistant", "")
        await transcript.mount(self._reply)
        transcript.scroll_end(animate=False)
        self._stream = ChatMessage.get_stream(self._reply)
        self.busy = True
        self.cancel = threading.Event()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def generate(self, text: str | None, fork_from=None) -> None:
        hooks = dict(on_token=lambda t: self.post_message(Token(t)),
                     on_tool=lambda m: self.post_message(ToolResult(tool_line(m))), cancel=self.cancel)
        try:
            if fork_from is not None:
                original, index = fork_from
                self.chat, result = self.engine.fork(original, index, text, **hooks)
            elif text is None:
                result = self.engine.regenerate(self.chat, **hooks)
            else:
                result = self.engine.turn(self.chat, text, **hooks)
        except PersonaError as exc:
            self.post_message(TurnDone(None, f"error: {exc.message}" + (f" (hint: {exc.hint})" if exc.hint else "")))
        except Exception as exc:  # a crash in generation: say so, keep the app usable
            self.post_message(TurnDone(None, f"error: {type(exc).__name__}: {exc}"))
        else:
            self.post_message(TurnDone(result))

    async def on_token(self, message: Token) -> None:
        if self._stream is not None:
            await self._stream.write(sanitize(message.text))  # per chunk: each character on its own
            self.query_one("#transcript", VerticalScroll).scroll_end(animate=False)

    def on_tool_result(self, message: ToolResult) -> None:
        if self._reply is not None:
            self.query_one("#transcript", VerticalScroll).mount(Notice(message.line, "tool"), before=self._reply)

    async def on_turn_done(self, message: TurnDone) -> None:
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        self.busy = False
        reply, self._reply = self._reply, None
        if message.result is None:
            self.redraw()  # a failed turn leaves the chat as it was; so does the screen
            self.notice(message.error, "error")
            return
        reply.set_text(message.result.reply)  # the final text: trimmed, redacted or blocked
        alternatives = self.chat.conversation.messages[-1].metadata.get("alternatives")
        if alternatives:
            reply.border_subtitle = f"←/→ {len(alternatives)}/{len(alternatives)}"
        if message.result.stopped == "cancelled":
            self.notice("(stopped)")
        if message.result.concurrent:  # another process wrote to the session: show the store's order
            self._reloaded(MOVED_NOTICE)
        for line in turn_notices(message.result.messages):
            if line != MOVED_NOTICE:  # that one is the toast
                self.notice(line)
        self.update_status(message.result)

    def _reloaded(self, why: str) -> None:
        """The engine re-read the session from the store; redraw it and say why."""
        self.redraw()
        self.notify(sanitize(why), severity="warning", timeout=8, markup=False)

    # -- commands and actions ------------------------------------------------------------

    def slash_command(self, text: str) -> bool:
        """Handle an app command; False lets tool commands (/roll …) go to the engine."""
        word, _, rest = text[1:].partition(" ")
        word, rest = word.lower(), rest.strip()
        if word not in self.APP_COMMANDS:
            if self.engine.parse_command(self.chat.persona, text) is None:
                self.notice(f"unknown command /{word}; /help lists them")
                return True
            return False
        if self.busy and word != "help":
            self.notice("wait for the reply, or press Esc to stop it")
            return True
        if word == "help":
            self.action_help()
        elif word == "persona":
            self._switch(rest) if rest else self.action_pick_persona()
        elif word == "reset":
            self.start_chat(self.chat.persona.id)
        elif word == "undo":
            self.action_undo()
        elif word == "regen":
            self.action_regenerate()
        elif word == "system":
            self.notice(self.chat.conversation.system or "(no system prompt)")
        elif word == "export":
            self.export(rest or "markdown")
        elif word == "as":
            self.switch_user(rest)
        elif word == "note":
            self.set_note(rest)
        return True

    def set_note(self, rest: str) -> None:
        """``/note``: show the author's note; ``/note TEXT``, ``/note depth N``, ``/note off`` change it."""
        from persona import authors_note

        try:
            action, arg = authors_note.parse_command(rest)
            if action != "show":
                self.engine.set_note(self.chat, text=arg if action == "text" else None,
                                     depth=arg if action == "depth" else None, off=action == "off")
        except PersonaError as exc:
            self.notice(f"error: {exc.message} ({exc.hint})", "error")
            return
        self.notice(authors_note.describe(authors_note.current(self.chat)))

    def switch_user(self, name: str) -> None:
        """``/as NAME``: speak as another user persona from now on; before the first message the
        greeting is rendered again for the new name."""
        from persona import user_personas

        if not name:
            mine = ", ".join(p.name for p in user_personas.all_personas()[0]) or "none yet (persona me set NAME)"
            self.notice(f"you are {self.engine.user_of(self.chat).name}; your personas: {mine}")
            return
        try:
            self.user = user_personas.get(name)
        except PersonaError as exc:
            self.notice(f"error: {exc.message} ({exc.hint})", "error")
            return
        if self.chat.stored or self.chat.conversation.last("user"):
            self.engine.set_user(self.chat, self.user)
            self.update_status()
        else:
            self.chat = self.engine.new_chat(self.chat.persona, greeting=self.greeting, user=self.user)
            self.redraw()
        self.notice(f"you are now {self.user.name}")

    def _switch(self, persona_id: str | None) -> None:
        if not persona_id:
            return
        try:
            self.start_chat(persona_id)
        except PersonaError as exc:
            self.notice(f"error: {exc.message} ({exc.hint})", "error")

    def export(self, fmt: str) -> None:
        from persona.export import FORMATS, export_text

        if fmt not in FORMATS:
            self.notice(f"unknown format {fmt!r}; use {' or '.join(FORMATS)}", "error")
            return
        if not self.chat.stored:
            self.notice("nothing saved yet to export")
            return
        path = Path.cwd() / f"persona-{self.chat.session_id}.{'json' if fmt == 'sharegpt' else 'md'}"
        path.write_text(export_text(self.chat.conversation, fmt, self.chat.persona.name), encoding="utf-8")
        self.notice(f"exported to {path}")

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_stop(self) -> None:
        if self.busy:
            self.cancel.set()

    def action_regenerate(self) -> None:
        if self.busy:
            return
        try:
            self.engine._last_turn(self.chat)
        except PersonaError as exc:
            self.notice(exc.message)
            return
        self.redraw()  # the old reply is replaced on screen by the new one as it streams
        last = self.query("#transcript ChatMessage").last()
        last.remove()
        self.call_after_refresh(self._regenerate)

    async def _regenerate(self) -> None:
        await self._start_reply(None)
        self.generate(None)

    def action_edit(self) -> None:
        if self.busy:
            return
        from persona.tui.screens import EditPicker

        def chosen(index: str | None) -> None:
            if index is None:
                return
            self.editing = int(index)
            composer = self.query_one(Composer)
            composer.text = self.chat.conversation.messages[self.editing].content
            composer.focus()
            self.notice("editing: Enter sends it as a new branch (the original stays, ctrl+b lists branches)")

        self.push_screen(EditPicker(self.chat.conversation.messages), chosen)

    def action_branches(self) -> None:
        if self.busy:
            return

        def chosen(session_id: str | None) -> None:
            if session_id and session_id != self.chat.session_id:
                self.start_chat(self.chat.persona.id, session_id)

        self.push_screen(SessionBrowser(self.engine.store, branches_of=self.chat.session_id), chosen)

    def on_unmount(self) -> None:
        self.cancel.set()  # quitting mid-reply: the turn ends now and is saved as stopped

    def action_undo(self) -> None:
        if self.busy:
            return
        try:
            undone = self.engine.undo(self.chat)
        except PersonaError as exc:  # e.g. another process changed the session (it was reloaded)
            self._reloaded(exc.message)
            return
        if undone:
            self.redraw()
        else:
            self.notice("nothing to undo")

    def action_greeting(self, step: int) -> None:
        if self.busy or self.chat.stored or len(self.chat.persona.greetings) < 2:
            return
        self.greeting += step
        self.chat = self.engine.new_chat(self.chat.persona, greeting=self.greeting, user=self.user)
        self.redraw()
        n = len(self.chat.persona.greetings)
        self.notify(f"greeting {self.greeting % n + 1}/{n}", timeout=1.5)

    def action_pick_persona(self) -> None:
        if not self.busy:
            self.push_screen(PersonaPicker(), self._switch)

    def action_sessions(self) -> None:
        if self.busy:
            return

        def chosen(session_id: str | None) -> None:
            if session_id:
                self.start_chat(self.chat.persona.id, session_id)

        self.push_screen(SessionBrowser(self.engine.store), chosen)


def run(persona: str, session: str | None = None, user=None) -> int:
    app = PersonaApp(persona, session, user=user)
    app.run()  # an error at start-up exits with code 2 and prints error/hint after
    return app.return_code or 0
