"""Turns for API front ends, mixed into the Engine (``persona serve``): a reply after a client's tool result, and raw mode."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from persona.chat import Chat, TurnResult
from persona.conversation import Conversation, Message
from persona.errors import InputError
from persona.models import GenerationParams, Stats
from persona.packs import Persona
from persona.tools import ToolCallHider, parse_tool_calls

BLOCKED_REPLY = "(This message was blocked by a safety rail.)"


class ApiMixin:
    def respond(self, chat: Chat, on_token: Callable[[str], None] | None = None,
                cancel: threading.Event | None = None, client_tools: frozenset[str] | set[str] = frozenset(),
                **overrides: Any) -> TurnResult:
        """Answer the chat as it stands, without a new user message (its last message is the
        result of a tool the client ran); stored like a turn."""
        before = len(chat.conversation.messages)
        self._on_tool, self._client_tools = None, set(client_tools)
        try:
            reply, timings, report, stopped = self._respond(chat, on_token, cancel or threading.Event(),
                                                            overrides, [], time.perf_counter())
            return self._finish(chat, reply, timings, report, stopped)
        except BaseException:
            del chat.conversation.messages[max(before, chat.stored):]
            raise
        finally:
            self._client_tools = set()

    def raw_turn(self, persona: Persona, messages: list[dict[str, str]], on_token: Callable[[str], None] | None = None,
                 cancel: threading.Event | None = None, client_tools: frozenset[str] | set[str] = frozenset(),
                 input_rail: bool = True, **overrides: Any) -> TurnResult:
        """Generate from a prompt the caller built (``persona serve``'s raw mode): only the pack's
        adapter and sampling apply, and both safety rails run. Nothing is stored. ``input_rail=False``
        is for persona's own pipeline prompts (``persona data synth``), which are not chat: the
        output rail still runs."""
        conv = Conversation([Message(m["role"], m["content"]) for m in messages
                             if m["role"] in ("system", "user", "assistant")])
        last_user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        verdict = (self._moderate("moderate_input", last_user, persona, conv)
                   if input_rail and last_user.strip() else None)
        if verdict and verdict.action == "block":
            reply = Message("assistant", verdict.reply or BLOCKED_REPLY,
                            metadata={"safety": verdict.record("input"), "generated": False})
            return TurnResult(reply.content, [reply], stopped="blocked")
        backend = self.backend_for(persona)
        params = GenerationParams.from_sampling(persona.sampling, **overrides)
        if backend.count_tokens(messages) > backend.context_window - params.max_new_tokens:
            raise InputError(f"the prompt does not fit {persona.base}'s context window of "
                             f"{backend.context_window} tokens with max_tokens {params.max_new_tokens}",
                             "send fewer or shorter messages, or a smaller max_tokens")
        stats, parts, hider = Stats(), [], ToolCallHider(on_token)
        for chunk in backend.stream(messages, params, cancel or threading.Event(), stats):
            parts.append(chunk)
            hider(chunk)
        text = "".join(parts).strip()
        visible, calls = parse_tool_calls(text) if client_tools else (text, [])
        calls = [c for c in calls if c.name in client_tools]
        hider.finish(bool(calls))
        reply = self._moderated_reply(visible.strip() if calls else text, persona, conv)
        if calls and "safety" not in reply.metadata:
            reply.metadata["tool_calls"] = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in calls]
            stats.stopped = "tool_calls"
        reply.metadata["model"] = {"base": backend.model_id, "adapter": persona.id if persona.adapter else None}
        timings = {"prompt_tokens": stats.prompt_tokens, "new_tokens": stats.new_tokens,
                   "backend": getattr(backend, "name", "?")}
        return TurnResult(reply.content, [reply], timings, stopped=stats.stopped)

