"""The turn pipeline: moderation, analysis, context, generation, storage.

See docs/architecture.md for the order of hook calls. The engine knows nothing
of terminals; the CLI, REPL and TUI all drive it the same way.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import pluggy

from persona import authors_note, macros, user_personas
from persona.branching import MOVED_NOTICE, BranchingMixin
from persona.chat import Chat, TurnResult
from persona.context import ContextReport, assemble, split_notes, split_placed, to_model_message
from persona.conversation import Conversation, Message
from persona.engine_api import BLOCKED_REPLY, ApiMixin
from persona.engine_user import UserMixin
from persona.errors import InputError, ModelError
from persona.models import BACKENDS, GenerationParams, Stats, load_backend
from persona.models.base import Backend
from persona.packs import Persona
from persona.store import Store, new_session_id
from persona.tools import Tool, ToolCall, ToolCallHider, ToolContext, ToolError, describe, parse_tool_calls, run_tool
from persona.user_personas import UserPersona
from persona.verdict import Verdict

log = logging.getLogger("persona")
MAX_MESSAGE_CHARS = 16_000
MAX_TOOL_ROUNDS = 3  # model tool calls per turn; then it must answer


class Engine(UserMixin, ApiMixin, BranchingMixin):
    def __init__(self, pm: pluggy.PluginManager | None = None, store: Store | None = None,
                 backend_loader: Callable[..., Backend] = load_backend,
                 progress: Callable[[str], None] | None = None, user_name: str = "User",
                 backend: str | None = None, user: UserPersona | None = None) -> None:
        if pm is None:
            from persona.plugins import make_manager

            pm = make_manager()
        self.pm = pm
        self._store = store
        self.backend_loader = backend_loader
        # --backend (PERSONA_BACKEND): overrides every pack's [model] backend
        self.backend_name = backend or os.environ.get("PERSONA_BACKEND") or None
        self.progress = progress
        # The user persona of new chats: given (--as), else `persona me use`'s, else user_name.
        self.user = user or (UserPersona(user_name) if user_name != "User" else user_personas.active())
        self.user_name = self.user.name
        self.clock = time.time  # {{idle_duration}}, {{time}}: tests set a fixed one
        self.load_seconds = 0.0  # model loading (from_pretrained) seen by this engine
        self._loaded: set[int] = set()
        self._on_tool: Callable[[Message], None] | None = None
        self._client_tools: set[str] = set()  # tools a client declared (persona serve): handed back, not run
        self.tools: dict[str, Tool] = {}
        self.backends: dict[str, Callable[..., Backend]] = {}
        pm.hook.register_tools(register=self.register_tool)
        pm.hook.register_backends(register=self.backends.__setitem__)
        pm.hook.startup.call_historic(kwargs={"engine": self})

    def register_tool(self, tool: Tool) -> None:
        if tool.name in self.tools:
            log.warning("tool %r registered twice; the later one wins", tool.name)
        self.tools[tool.name] = tool

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store()
        return self._store

    # -- sessions -------------------------------------------------------------------

    def new_chat(self, persona: Persona, greeting: int = 0, user: UserPersona | None = None) -> Chat:
        self.store  # fail on an unwritable PERSONA_HOME now, not after generating a reply
        chat = Chat(persona, Conversation(), new_session_id(), user=user or self.user)
        ctx = self.macro_context(chat)
        # The chat id seeds {{pick}}; recorded here, a branch (which copies this message) keeps its picks.
        chat.conversation.add("system", persona.system_prompt(context=ctx),
                              metadata={"user_persona": chat.user.name, "pick_seed": chat.session_id})
        if persona.greetings:
            text = persona.render(persona.greetings[greeting % len(persona.greetings)], context=ctx)
            chat.conversation.add("assistant", text, metadata={"greeting": True})
        return chat

    def resume(self, session_id: str, persona: Persona, user: UserPersona | None = None) -> Chat:
        """A stored chat; its user persona is ``user`` (--as), else the one it recorded last."""
        info, conv, head = self.store.snapshot(session_id)
        if info.persona != persona.id:
            raise InputError(f"session {session_id} belongs to persona {info.persona!r}, not {persona.id!r}",
                             f"continue it with `persona ask {info.persona} --session {session_id} ...`")
        return Chat(persona, conv, session_id, stored=len(conv.messages), head=head, user=user)

    # -- the user persona and macros ---------------------------------------------------

    # -- the turn --------------------------------------------------------------------

    def backend_for(self, persona: Persona) -> Backend:
        settings = persona.manifest.get("model", {})
        name = self.backend_name or settings.get("backend") or "auto"
        if name in BACKENDS:
            backend = self.backend_loader(persona.base, self.progress, backend=name, options=settings)
        elif name in self.backends:
            backend = self.backends[name](persona.base, self.progress)
        else:
            where = "--backend / PERSONA_BACKEND" if self.backend_name else f"{persona.id}'s [model] backend"
            raise ModelError(f"unknown backend {name!r} in {where}",
                             f"use one of {', '.join(BACKENDS)}, or install the plugin that provides it"
                             f"{' (plugins provide: ' + ', '.join(self.backends) + ')' if self.backends else ''}")
        if id(backend) not in self._loaded:
            self._loaded.add(id(backend))
            self.load_seconds += backend.load_seconds
        backend.use_adapter(persona.id if persona.adapter else None,
                            str(persona.adapter) if persona.adapter else None)
        return backend

    def turn(self, chat: Chat, text: str, on_token: Callable[[str], None] | None = None,
             cancel: threading.Event | None = None, on_tool: Callable[[Message], None] | None = None,
             client_tools: frozenset[str] | set[str] = frozenset(), **overrides: Any) -> TurnResult:
        """Run one user turn through the pipeline and commit it to the store.

        ``on_token`` gets reply text as it streams; ``on_tool`` gets each tool
        result (an ``observation`` message) as soon as it exists. If another
        process wrote to the session meanwhile, the turn is saved after its
        messages, the chat is reloaded and ``TurnResult.concurrent`` is set.
        A call of one of ``client_tools`` ends the turn with ``stopped ==
        "tool_calls"`` and the calls in the reply's ``metadata["tool_calls"]``.
        """
        check_message(text)
        before = len(chat.conversation.messages)
        self._on_tool = on_tool
        self._client_tools = set(client_tools)
        try:
            return self._turn(chat, text, on_token, cancel or threading.Event(), overrides)
        except BaseException:
            # Nothing of a failed turn is kept: the store and the chat stay as they were.
            del chat.conversation.messages[max(before, chat.stored):]
            raise
        finally:
            self._client_tools = set()  # regenerate and swipe run the pack's tools only

    def _turn(self, chat: Chat, text: str, on_token: Callable[[str], None] | None,
              cancel: threading.Event, overrides: dict[str, Any]) -> TurnResult:
        persona, conv = chat.persona, chat.conversation
        t_start = time.perf_counter()
        command = self.parse_command(persona, text)
        user = Message("user", text, metadata={"user_persona": self.user_of(chat).name,
                                               "sent": round(self.clock(), 3)})
        # The seed of this turn's random choices by plugins (lore probability, groups):
        # --seed, else one fixed per session, so a seed or a session reproduces them.
        seed = overrides.get("seed")
        if seed is None:
            seed = int(hashlib.sha256(chat.session_id.encode()).hexdigest()[:8], 16)
        user.metadata["seed"] = seed
        authors_note.record(chat, user)
        verdict = self._moderate("moderate_input", text, persona, conv)
        if verdict and verdict.action in ("rewrite", "redact") and verdict.text is not None:
            user.content = verdict.text
        if verdict and verdict.action != "allow":
            user.metadata["safety"] = verdict.record("input")
        self._annotate(user, persona, conv)
        conv.messages.append(user)

        if verdict and verdict.action == "block":
            user.metadata["context"] = False  # never shown to the model again
            reply = Message("assistant", verdict.reply or BLOCKED_REPLY,
                            metadata={"safety": verdict.record("input"), "generated": False})
            conv.messages.append(reply)
            return self._finish(chat, reply, {"total_s": time.perf_counter() - t_start}, None, "blocked")

        notices: list[str] = []
        if command is not None:  # the user called a tool: same messages as a model's call
            user.metadata["command"] = command.name
            self._run_calls(chat, [command], notices)
        reply, timings, report, stopped = self._respond(chat, on_token, cancel, overrides, notices, t_start)
        return self._finish(chat, reply, timings, report, stopped)

    def _respond(self, chat: Chat, on_token, cancel: threading.Event, overrides: dict[str, Any],
                 notices: list[str], t_start: float):
        """Generate the character's reply to the conversation so far (tool rounds
        included), moderate and annotate it, and append it to the chat."""
        persona, conv = chat.persona, chat.conversation
        backend = self.backend_for(persona)
        params = GenerationParams.from_sampling(persona.sampling, **overrides)
        rounds = 0
        handed: list[ToolCall] = []  # calls of the client's own tools: the client runs them
        while True:
            hider = ToolCallHider(on_token)
            text_out, stats, report = self._generate(chat, backend, params, hider, cancel)
            offered = self.allowed_tools(persona) or self._client_tools
            visible, calls = parse_tool_calls(text_out) if offered else (text_out, [])
            hider.finish(bool(calls))
            handed = [c for c in calls if c.name in self._client_tools]
            if not calls or stats.stopped == "cancelled" or handed:
                break
            if rounds >= MAX_TOOL_ROUNDS:
                notices.append(f"tool calls stopped after {MAX_TOOL_ROUNDS} rounds")
                break
            rounds += 1
            self._run_calls(chat, calls, notices)
        text_out = visible.strip() or ("…" if calls and not handed else "")
        if stats.stopped == "length":
            # Like SillyTavern's "trim incomplete sentences": a reply cut by the
            # token limit ends at its last full sentence, if it has one.
            text_out = trim_incomplete(text_out)
        reply = self._moderated_reply(text_out, persona, conv)
        if handed and "safety" not in reply.metadata:
            reply.metadata["tool_calls"] = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in handed]
            stats.stopped = "tool_calls"
        if stats.stopped == "cancelled":
            reply.metadata["stopped"] = True
        if notices:
            reply.metadata["notices"] = notices
        reply.metadata["model"] = {"base": backend.model_id, "adapter": persona.id if persona.adapter else None}
        self._annotate(reply, persona, conv)
        conv.messages.append(reply)
        timings = {
            "model_load_s": round(self.load_seconds, 3),
            "first_token_s": round(stats.first_token_s, 3) if stats.first_token_s is not None else None,
            "tokens_per_s": round(stats.tokens_per_s, 2) if stats.tokens_per_s else None,
            "prompt_tokens": stats.prompt_tokens,
            "cached_tokens": stats.cached_tokens,  # of prompt_tokens, read from the KV cache
            "prompt_eval_s": round(stats.prompt_eval_s, 3) if stats.prompt_eval_s is not None else None,
            "new_tokens": stats.new_tokens,
            "backend": getattr(backend, "name", "?"),
            "tool_rounds": rounds,
            "total_s": round(time.perf_counter() - t_start, 3),
        }
        return reply, timings, report, stats.stopped

    def _moderated_reply(self, text: str, persona: Persona, conv: Conversation) -> Message:
        """The reply message for ``text`` after the output rail (blocked: the rail's reply)."""
        reply = Message("assistant", text)
        verdict = self._moderate("moderate_output", text, persona, conv)
        if verdict and verdict.action != "allow":
            reply.metadata["safety"] = verdict.record("output")
            if verdict.action == "block":
                reply.content = verdict.reply or BLOCKED_REPLY
            elif verdict.text is not None:
                reply.content = verdict.text
        return reply

    def _generate(self, chat: Chat, backend: Backend, params: GenerationParams,
                  on_token: Callable[[str], None], cancel: threading.Event):
        with macros.using(self.macro_context(chat, params)):  # card text rendered for this turn
            messages, report = self._context(chat, backend, params)
        stats = Stats()
        parts: list[str] = []
        for chunk in backend.stream(messages, params, cancel, stats):
            parts.append(chunk)
            on_token(chunk)
        return "".join(parts).strip(), stats, report

    # -- tools -----------------------------------------------------------------------

    def allowed_tools(self, persona: Persona) -> dict[str, Tool]:
        """The registered tools this pack's ``[tools] allow`` list offers."""
        return {name: self.tools[name] for name in persona.tools if name in self.tools}

    def parse_command(self, persona: Persona, text: str) -> ToolCall | None:
        """``/roll 2d6`` → a call of the tool whose command is ``roll``, if the pack allows it."""
        if not text.startswith("/"):
            return None
        word, _, rest = text[1:].partition(" ")
        for tool in self.allowed_tools(persona).values():
            if word.lower() in (tool.command, tool.name):
                return ToolCall(tool.name, tool.parse_command(rest) if tool.parse_command else {})
        return None

    def _run_calls(self, chat: Chat, calls: list[ToolCall], notices: list[str]) -> None:
        persona, conv = chat.persona, chat.conversation
        tools = self.allowed_tools(persona)
        ctx = ToolContext(persona, conv, self.store)
        conv.tools = [t.schema() for t in tools.values()]
        for call in calls:
            conv.messages.append(Message.function_call(call.name, call.arguments, call.id))
            error = ""
            try:
                if call.name not in tools:
                    raise ToolError(f"unknown tool {call.name!r}; available: {', '.join(tools) or 'none'}")
                if self._approve(call, persona, conv) is False:
                    raise ToolError(f"the call to {call.name} was not approved")
                result = run_tool(tools[call.name], call.arguments, ctx)
            except ToolError as exc:
                error = result = f"error: {exc}"
                notices.append(f"tool {call.name}: {exc}")
            observation = Message("observation", result, tool_call={"name": call.name, "id": call.id},
                                  metadata={"error": True} if error else {})
            conv.messages.append(observation)
            if self._on_tool:
                self._on_tool(observation)

    def _approve(self, call: ToolCall, persona: Persona, conv: Conversation) -> bool | None:
        try:
            return self.pm.hook.approve_tool_call(call=call, persona=persona, conversation=conv)
        except Exception as exc:  # an approval hook that breaks denies (fail closed)
            log.warning("approve_tool_call failed (%s: %s); denying", type(exc).__name__, exc)
            return False

    def _finish(self, chat: Chat, reply: Message, timings: dict, report: ContextReport | None,
                stopped: str) -> TurnResult:
        self._call("response_complete", message=reply, persona=chat.persona, conversation=chat.conversation)
        new = chat.pending
        first_user = next((m.content for m in chat.conversation.messages if m.role == "user"), "")
        saved = self.store.commit_turn(chat.session_id, chat.persona.id, chat.persona.base, new, chat.stored,
                                       title=first_user[:80], parent=chat.parent, head=chat.head,
                                       moved_notice=MOVED_NOTICE)
        if saved.moved:  # the turn went after another writer's messages: show the store's order
            self.reload(chat)
        else:
            chat.stored, chat.head = len(chat.conversation.messages), saved.head
        return TurnResult(reply.content, new, timings, report, stopped, concurrent=saved.moved)

    def _context(self, chat: Chat, backend: Backend, params: GenerationParams):
        persona, conv = chat.persona, chat.conversation
        outgoing = [to_model_message(m) for m in conv.messages if m.metadata.get("context", True)]
        if outgoing and outgoing[0]["role"] == "system":  # rendered now: {{time}}, {{user}} as they are
            outgoing[0]["content"] = persona.system_prompt()
        tools = self.allowed_tools(persona)
        describe_tools = persona.manifest.get("tools", {}).get("prompt", True)
        if tools and describe_tools and outgoing and outgoing[0]["role"] == "system":
            outgoing[0]["content"] += "\n\n" + describe(list(tools.values()))
        self._call("prepare_messages", messages=outgoing, persona=persona, conversation=conv)
        outgoing, inserts, slots = split_placed(outgoing)
        outgoing, note = split_notes(outgoing)
        inserts += authors_note.inserts(chat, persona, slots, lambda text: persona.render(text, self.user_name))
        system = outgoing.pop(0) if outgoing and outgoing[0]["role"] == "system" else None
        system = self._user_description(chat, system)
        examples = [[to_model_message(Message(m.role, persona.render(m.content, self.user_name)))
                     for m in ex.messages if m.role != "system"] for ex in persona.examples]
        limit = backend.context_window - params.max_new_tokens
        return assemble(system, examples, outgoing, backend.count_tokens, limit, note, inserts)

    # -- hooks -----------------------------------------------------------------------

    def _moderate(self, hook: str, text: str, persona: Persona, conv: Conversation) -> Verdict | None:
        try:
            return getattr(self.pm.hook, hook)(text=text, persona=persona, conversation=conv)
        except Exception as exc:  # fail closed: a broken safety rail blocks the turn
            log.warning("%s failed (%s: %s); blocking the turn", hook, type(exc).__name__, exc)
            return Verdict("block", category="moderation_error", reason=f"{type(exc).__name__}: {exc}")

    def _annotate(self, message: Message, persona: Persona, conv: Conversation) -> None:
        for result in self._call("analyze_message", message=message, persona=persona, conversation=conv) or []:
            if isinstance(result, dict):
                message.metadata.update(result)

    def _call(self, hook: str, **kwargs: Any):
        try:
            return getattr(self.pm.hook, hook)(**kwargs)
        except Exception as exc:  # outside moderation, a broken plugin is reported and skipped
            log.warning("hook %s failed: %s: %s", hook, type(exc).__name__, exc)
            return None


_SENTENCE_END = re.compile(r"[.!?。！？…)\]\"”’*~]")


def trim_incomplete(text: str) -> str:
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    return text[:ends[-1]].rstrip() if ends and ends[-1] > len(text) // 3 else text


def check_message(text: str) -> None:
    if not text or not text.strip():
        raise InputError("the message is empty", "type something for the character to answer")
    if len(text) > MAX_MESSAGE_CHARS:
        raise InputError(f"the message is {len(text)} characters, over the {MAX_MESSAGE_CHARS} limit",
                         "split it into shorter messages")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # undecodable input bytes arrive as lone surrogates
        raise InputError(f"the message is not valid UTF-8 (at character {exc.start})",
                         "send the message as UTF-8 text") from None
