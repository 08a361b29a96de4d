"""A chat completion request, read and checked: OpenAI's field names, size limits, unknown fields ignored."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from persona.server.errors import ApiError

MAX_BODY_BYTES = 4 * 1024 * 1024  # a long SillyTavern prompt is well under 1 MiB
MAX_MESSAGES = 2000
MAX_TOOLS = 64
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
ROLES = ("system", "developer", "user", "assistant", "tool")


@dataclass
class ChatRequest:
    model: str
    messages: list[dict[str, Any]]  # {"role", "content", "tool_calls"?, "tool_call_id"?}, content as text
    stream: bool = False
    include_usage: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)  # GenerationParams names
    tools: list[dict[str, Any]] = field(default_factory=list)  # {"name", "description", "parameters"}


def _bad(message: str, param: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code="invalid_value")


def parse_json(body: bytes) -> dict[str, Any]:
    from persona import jsonlimits

    try:
        data = jsonlimits.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _bad(f"the body is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise _bad("the body must be a JSON object")
    return data


def _text(content: Any, where: str) -> str:
    """Message content: a string, or a list of text parts (images and audio are refused)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") not in ("text", "refusal"):
                raise _bad("only text content parts are supported", where)
            value = part.get("text", part.get("refusal"))
            if not isinstance(value, str):
                raise _bad("a text part needs a string 'text'", where)
            parts.append(value)
        return "\n".join(parts)
    raise _bad("content must be a string or a list of text parts", where)


def _tool_calls(value: Any, where: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad("tool_calls must be a list", where)
    calls = []
    for i, call in enumerate(value):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise _bad("a tool call needs function.name", f"{where}.{i}")
        try:
            args = json.loads(fn.get("arguments") or "{}")
        except (TypeError, ValueError):
            raise _bad("function.arguments must be a JSON string", f"{where}.{i}") from None
        calls.append({"id": str(call.get("id") or f"call_{i}"), "name": fn["name"],
                      "arguments": args if isinstance(args, dict) else {}})
    return calls


def _messages(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise _bad("messages must be a non-empty list", "messages")
    if len(value) > MAX_MESSAGES:
        raise _bad(f"at most {MAX_MESSAGES} messages", "messages")
    out = []
    for i, msg in enumerate(value):
        where = f"messages.{i}"
        if not isinstance(msg, dict) or msg.get("role") not in ROLES:
            raise _bad(f"each message needs a role, one of {', '.join(ROLES)}", where)
        role = "system" if msg["role"] == "developer" else msg["role"]
        item: dict[str, Any] = {"role": role, "content": _text(msg.get("content"), f"{where}.content")}
        if role == "assistant":
            item["tool_calls"] = _tool_calls(msg.get("tool_calls"), f"{where}.tool_calls")
        if role == "tool":
            item["tool_call_id"] = str(msg.get("tool_call_id") or "")
        out.append(item)
    return out


def _tools(value: Any, choice: Any) -> list[dict[str, Any]]:
    if value is None or choice == "none":
        return []
    if not isinstance(value, list) or len(value) > MAX_TOOLS:
        raise _bad(f"tools must be a list of at most {MAX_TOOLS}", "tools")
    tools = []
    for i, tool in enumerate(value):
        fn = tool.get("function") if isinstance(tool, dict) and tool.get("type", "function") == "function" else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise _bad("each tool needs type 'function' and function.name", f"tools.{i}")
        params = fn.get("parameters") if isinstance(fn.get("parameters"), dict) else {"type": "object"}
        tools.append({"name": fn["name"], "description": str(fn.get("description") or ""), "parameters": params})
    if isinstance(choice, dict):  # {"type": "function", "function": {"name": ...}}: only that one
        name = (choice.get("function") or {}).get("name")
        tools = [t for t in tools if t["name"] == name]
        if not tools:
            raise _bad(f"tool_choice names {name!r}, which is not in tools", "tool_choice")
    return tools


def _number(data: dict, key: str, kind: tuple[type, ...]) -> Any:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, kind):
        raise _bad(f"{key} must be a number", key)
    return value


def parse(data: dict[str, Any]) -> ChatRequest:
    """The request in ``data`` (a parsed JSON body); raises ApiError(400) naming the bad field."""
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("model is required", "model")
    if data.get("n") not in (None, 1):
        raise _bad("only n=1 is supported", "n")
    stop = data.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop is not None and not (isinstance(stop, list) and all(isinstance(s, str) and s for s in stop)
                                 and len(stop) <= 4):
        raise _bad("stop must be a string or a list of up to 4 non-empty strings", "stop")
    max_tokens = _number(data, "max_completion_tokens", (int,))
    if max_tokens is None:
        max_tokens = _number(data, "max_tokens", (int,))
    overrides = {"temperature": _number(data, "temperature", (int, float)),
                 "top_p": _number(data, "top_p", (int, float)),
                 "max_new_tokens": max_tokens, "stop": stop, "seed": _number(data, "seed", (int,))}
    options = data.get("stream_options") or {}
    return ChatRequest(model=model, messages=_messages(data.get("messages")), stream=data.get("stream") is True,
                       include_usage=isinstance(options, dict) and options.get("include_usage") is True,
                       overrides={k: v for k, v in overrides.items() if v is not None},
                       tools=_tools(data.get("tools"), data.get("tool_choice")))


def session_id(header: str | None) -> str | None:
    if header is None:
        return None
    if not SESSION_ID.fullmatch(header):
        raise _bad("X-Persona-Session must be 1-64 letters, digits, '-' or '_'", "X-Persona-Session")
    return header
