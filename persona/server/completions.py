"""POST /v1/chat/completions: persona mode (the whole engine turn), raw mode, and OpenAI's response shapes."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from persona.conversation import Message
from persona.engine import Chat, Engine, TurnResult
from persona.packs import Persona
from persona.server.errors import ApiError, from_exception
from persona.server.queue import Job
from persona.server.schema import ChatRequest
from persona.tools import Tool, describe

RAW = ":raw"
BASE = "base:"


@dataclass
class Target:
    """What ``model`` names: a pack in persona or raw mode, or a bare base (always raw)."""

    persona: Persona
    raw: bool


def resolve(model: str, packs: dict[str, Persona], aliases: list[str]) -> Target:
    if model.startswith(BASE) and model[len(BASE):] in aliases:
        alias = model[len(BASE):]
        return Target(Persona(id=model, name=alias, path=Path("."), base=alias), raw=True)
    name = model[:-len(RAW)] if model.endswith(RAW) else model
    if name not in packs:
        raise ApiError(404, f"The model '{model}' does not exist (GET /v1/models lists them)",
                       param="model", code="model_not_found")
    return Target(packs[name], raw=model.endswith(RAW))


def _client_tools_note(tools: list[dict[str, Any]]) -> str:
    """The client's tools, described to the model the way the pack's own are (persona/tools.py)."""
    return describe([Tool(t["name"], t["description"], t["parameters"], function=lambda a, c: "")
                     for t in tools])


def _history(chat: Chat, messages: list[dict[str, Any]]) -> None:
    """The client's messages into the chat, in order, after the pack's system prompt."""
    names: dict[str, str] = {}
    for m in messages:
        if m["role"] == "assistant" and m.get("tool_calls"):
            if m["content"].strip():
                chat.conversation.add("assistant", m["content"])
            for call in m["tool_calls"]:
                names[call["id"]] = call["name"]
                chat.conversation.messages.append(Message.function_call(call["name"], call["arguments"], call["id"]))
        elif m["role"] == "tool":
            call_id = m.get("tool_call_id", "")
            chat.conversation.add("observation", m["content"],
                                  tool_call={"name": names.get(call_id, ""), "id": call_id})
        else:
            chat.conversation.add(m["role"], m["content"])


def persona_work(engine: Engine, pack: Persona, req: ChatRequest, session: str | None):
    """The job for a persona-mode request: the full turn, in a Chat of its own."""
    tools = {t["name"] for t in req.tools}
    end = len(req.messages)
    while end > 1 and req.messages[end - 1]["role"] == "system":
        end -= 1  # SillyTavern's post-history instructions: kept, just before the new message
    last, trailing = req.messages[end - 1], req.messages[end:]
    if last["role"] not in ("user", "tool"):
        raise ApiError(400, "the last message must be from the user (or a tool result)", param="messages")
    history = req.messages[:end - 1] + trailing if last["role"] == "user" else req.messages

    def work(on_token: Callable[[str], None], cancel) -> TurnResult:
        if session is not None and _stored(engine, session):
            chat = engine.resume(session, pack)
            if last["role"] != "user":
                raise ApiError(400, "a stored session continues with a user message", param="messages")
        else:
            chat = engine.new_chat(pack)
            del chat.conversation.messages[1:]  # the client sends the greeting it showed, if any
            if session is not None:
                chat.session_id = session
            if req.tools:
                chat.conversation.add("system", _client_tools_note(req.tools))
            _history(chat, history)
        if last["role"] == "user":
            return engine.turn(chat, last["content"], on_token=on_token, cancel=cancel, client_tools=tools,
                               **req.overrides)
        return engine.respond(chat, on_token=on_token, cancel=cancel, client_tools=tools, **req.overrides)

    return work


def _stored(engine: Engine, session: str) -> bool:
    from persona.errors import StoreError

    try:
        engine.store.info(session)
    except StoreError:
        return False
    return True


def raw_work(engine: Engine, persona: Persona, req: ChatRequest):
    """The job for a raw-mode request: the client's messages are the prompt."""
    messages = [_raw_message(m) for m in req.messages]
    if req.tools:  # the client's tools are described as the pack's would be, in the first system message
        note = _client_tools_note(req.tools)
        if messages[0]["role"] == "system":
            messages[0] = {"role": "system", "content": messages[0]["content"] + "\n\n" + note}
        else:
            messages.insert(0, {"role": "system", "content": note})
    tools = {t["name"] for t in req.tools}

    def work(on_token: Callable[[str], None], cancel) -> TurnResult:
        return engine.raw_turn(persona, messages, on_token=on_token, cancel=cancel, client_tools=tools,
                               **req.overrides)

    return work


def _raw_message(m: dict[str, Any]) -> dict[str, str]:
    """A client message as the model sees it: tool traffic in the Hermes tags the pack's own tools use."""
    from persona.context import to_model_message

    if m["role"] == "tool":
        return to_model_message(Message("observation", m["content"]))
    calls = [to_model_message(Message.function_call(c["name"], c["arguments"], c["id"]))["content"]
             for c in m.get("tool_calls") or []]
    return {"role": m["role"], "content": "\n".join(filter(None, [m["content"], *calls]))}


# -- the response shapes (openai/types/chat/chat_completion*.py) --------------------------

def _reply(result: TurnResult) -> Message:
    return next(m for m in reversed(result.messages) if m.role == "assistant")


def finish_reason(result: TurnResult) -> str:
    safety = _reply(result).metadata.get("safety") or {}
    if result.stopped == "blocked" or safety.get("verdict") == "block":
        return "content_filter"
    return {"tool_calls": "tool_calls", "length": "length"}.get(result.stopped, "stop")


def _tool_calls(result: TurnResult) -> list[dict[str, Any]]:
    return [{"id": c["id"], "type": "function",
             "function": {"name": c["name"], "arguments": json.dumps(c["arguments"], ensure_ascii=False)}}
            for c in _reply(result).metadata.get("tool_calls", [])]


def usage(result: TurnResult) -> dict[str, int]:
    prompt = int(result.timings.get("prompt_tokens") or 0)
    completion = int(result.timings.get("new_tokens") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def extra(result: TurnResult, target: Target, session: str | None) -> dict[str, Any]:
    """persona's own record of the turn, beside OpenAI's fields (clients ignore unknown keys)."""
    reply = _reply(result)
    return {"mode": "raw" if target.raw else "persona", "session": session, "model": reply.metadata.get("model"),
            "safety": reply.metadata.get("safety"), "sentiment": reply.metadata.get("sentiment")}


class Reply:
    """The id, timestamp and model name one response's objects share."""

    def __init__(self, model: str) -> None:
        self.id = "chatcmpl-" + uuid.uuid4().hex
        self.created = int(time.time())
        self.model = model

    def completion(self, result: TurnResult, target: Target, session: str | None) -> dict[str, Any]:
        calls = _tool_calls(result)
        message: dict[str, Any] = {"role": "assistant", "content": result.reply if result.reply or not calls else None,
                                   "refusal": None}
        if calls:
            message["tool_calls"] = calls
        return {"id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(result),
                             "logprobs": None}],
                "usage": usage(result), "persona": extra(result, target, session)}

    def chunk(self, delta: dict[str, Any] | None, finish: str | None = None, **more: Any) -> str:
        body: dict[str, Any] = {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                                "model": self.model,
                                "choices": [] if delta is None else
                                [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **more}
        return sse(body)

    async def stream(self, job: Job, req: ChatRequest, target: Target, session: str | None) -> AsyncIterator[str]:
        """SSE lines: role first, content deltas, tool-call deltas, finish_reason, usage if asked, [DONE]."""
        try:
            yield self.chunk({"role": "assistant", "content": ""})
            streamed = False
            while True:
                kind, value = await job.events.get()
                if kind == "token":
                    streamed = True
                    yield self.chunk({"content": value})
                    continue
                if kind == "error":
                    yield sse(from_exception(value).body())
                    break
                finish = finish_reason(value)
                if value.reply and (not streamed or finish == "content_filter"):
                    # a blocked turn's refusal (or a tool turn's text) was never streamed: send it whole
                    yield self.chunk({"content": value.reply})
                for i, call in enumerate(_tool_calls(value)):  # name first, then the arguments
                    yield self.chunk({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                                      "function": {"name": call["function"]["name"],
                                                                   "arguments": ""}}]})
                    yield self.chunk({"tool_calls": [{"index": i, "function": {"arguments":
                                                                               call["function"]["arguments"]}}]})
                yield self.chunk({}, finish, persona=extra(value, target, session))
                if req.include_usage:
                    yield self.chunk(None, usage=usage(value))
                break
            yield "data: [DONE]\n\n"
        finally:
            job.cancel.set()  # the client left mid-stream (or we are done): stop its generation


def sse(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"
