"""Messages and conversations, and their lossless ShareGPT and OpenAI forms.

ShareGPT here is the LLaMA-Factory shape: ``{"conversations": [{"from", "value"}],
"system": str, "tools": json-str}`` with roles ``human``, ``gpt``,
``function_call``, ``observation`` (and ``system`` for a system turn that is not
first). Our extra fields (``name``, ``metadata``, tool-call ids) ride along as
extra keys on each turn, which the usual readers ignore, so nothing is lost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from persona.errors import PersonaError

ROLES = ("system", "user", "assistant", "function_call", "observation")

_TO_SHAREGPT = {
    "system": "system",
    "user": "human",
    "assistant": "gpt",
    "function_call": "function_call",
    "observation": "observation",
}
_FROM_SHAREGPT = {v: k for k, v in _TO_SHAREGPT.items()}


@dataclass
class Message:
    """One message. ``tool_call`` carries structured call data for tool roles:
    ``{"name", "arguments", "id"?}`` on ``function_call``, ``{"name", "id"?}`` on
    ``observation``. ``content`` of a ``function_call`` is the call as JSON text."""

    role: str
    content: str
    name: str | None = None
    tool_call: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}; expected one of {', '.join(ROLES)}")

    @classmethod
    def function_call(cls, name: str, arguments: dict[str, Any], call_id: str | None = None) -> Message:
        call: dict[str, Any] = {"name": name, "arguments": arguments}
        if call_id:
            call["id"] = call_id
        content = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
        return cls("function_call", content, tool_call=call)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "content": self.content, "metadata": self.metadata}
        if self.name is not None:
            out["name"] = self.name
        if self.tool_call is not None:
            out["tool_call"] = self.tool_call
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        return cls(
            role=data["role"],
            content=data.get("content") or "",
            name=data.get("name"),
            tool_call=data.get("tool_call"),
            metadata=dict(data.get("metadata") or {}),
        )


@dataclass
class Conversation:
    messages: list[Message] = field(default_factory=list)
    tools: list[dict[str, Any]] = field(default_factory=list)

    def add(self, role: str, content: str, **kwargs: Any) -> Message:
        msg = Message(role, content, **kwargs)
        self.messages.append(msg)
        return msg

    @property
    def system(self) -> str | None:
        if self.messages and self.messages[0].role == "system":
            return self.messages[0].content
        return None

    def last(self, role: str) -> Message | None:
        for msg in reversed(self.messages):
            if msg.role == role:
                return msg
        return None

    # -- ShareGPT ---------------------------------------------------------

    def to_sharegpt(self) -> dict[str, Any]:
        out: dict[str, Any] = {"conversations": []}
        messages = self.messages
        if messages and messages[0].role == "system":
            out["system"] = messages[0].content
            if messages[0].metadata:
                out["system_metadata"] = messages[0].metadata
            if messages[0].name is not None:
                out["system_name"] = messages[0].name
            messages = messages[1:]
        for msg in messages:
            turn: dict[str, Any] = {"from": _TO_SHAREGPT[msg.role], "value": msg.content}
            if msg.name is not None:
                turn["name"] = msg.name
            if msg.tool_call is not None and msg.role == "observation":
                turn["tool_call"] = msg.tool_call
            if msg.tool_call is not None and msg.role == "function_call":
                if _parse_call(msg.content) != msg.tool_call:
                    turn["tool_call"] = msg.tool_call
            if msg.metadata:
                turn["metadata"] = msg.metadata
            out["conversations"].append(turn)
        if self.tools:
            out["tools"] = json.dumps(self.tools, ensure_ascii=False)
        return out

    @classmethod
    def from_sharegpt(cls, data: dict[str, Any]) -> Conversation:
        """The conversation of one ShareGPT record; FormatError (a ValueError) if it has the wrong shape."""
        conv = cls()
        _need(data, dict, "a ShareGPT record")
        if "system" in data:
            conv.add("system", _text(data["system"], "system"), name=_name(data.get("system_name"), "system_name"),
                     metadata=_meta(data.get("system_metadata"), "system_metadata"))
        for i, turn in enumerate(_need(data.get("conversations", []), list, "conversations")):
            where = f"conversations[{i}]"
            _need(turn, dict, where)
            source = turn.get("from")
            if not isinstance(source, str) or source not in _FROM_SHAREGPT:
                raise FormatError(f"{where}: unknown ShareGPT role {source!r}")
            role = _FROM_SHAREGPT[source]
            value = _text(turn.get("value"), f"{where}.value")
            tool_call = _opt(turn.get("tool_call"), dict, f"{where}.tool_call")
            if tool_call is None and role == "function_call":
                tool_call = _parse_call(value)
            conv.add(role, value, name=_name(turn.get("name"), f"{where}.name"), tool_call=tool_call,
                     metadata=_meta(turn.get("metadata"), f"{where}.metadata"))
        tools = data.get("tools")
        if tools:
            tools = _json(tools, "tools") if isinstance(tools, str) else tools
            conv.tools = list(_need(tools, list, "tools"))
        return conv

    # -- OpenAI chat messages ----------------------------------------------

    def to_openai(self, include_metadata: bool = True) -> list[dict[str, Any]]:
        out = []
        for msg in self.messages:
            item: dict[str, Any]
            if msg.role == "function_call":
                call = msg.tool_call or {}
                item = {
                    "role": "assistant",
                    "content": msg.content,
                    "tool_calls": [{
                        "id": call.get("id", ""),
                        "type": "function",
                        "function": {
                            "name": call.get("name", ""),
                            "arguments": json.dumps(call.get("arguments", {}), ensure_ascii=False),
                        },
                    }] if msg.tool_call is not None else [],
                }
            elif msg.role == "observation":
                item = {"role": "tool", "content": msg.content}
                if msg.tool_call is not None:
                    if "id" in msg.tool_call:
                        item["tool_call_id"] = msg.tool_call["id"]
                    if include_metadata:  # lossless form keeps the whole record
                        item["tool_call"] = msg.tool_call
            else:
                item = {"role": msg.role, "content": msg.content}
            if msg.name is not None:
                item["name"] = msg.name
            if include_metadata and msg.metadata:
                item["metadata"] = msg.metadata
            out.append(item)
        return out

    @classmethod
    def from_openai(cls, items: list[dict[str, Any]]) -> Conversation:
        """The conversation of OpenAI chat messages; FormatError (a ValueError) if they have the wrong shape."""
        conv = cls()
        for i, item in enumerate(_need(items, list, "messages")):
            where = f"messages[{i}]"
            role = _need(item, dict, where).get("role")
            meta = _meta(item.get("metadata"), f"{where}.metadata")
            content = _text(item.get("content"), f"{where}.content")
            name = _name(item.get("name"), f"{where}.name")
            if role == "assistant" and "tool_calls" in item:
                calls = _need(item["tool_calls"], list, f"{where}.tool_calls")
                tool_call = None
                if calls:
                    call = _need(calls[0], dict, f"{where}.tool_calls[0]")
                    fn = _need(call.get("function"), dict, f"{where}.tool_calls[0].function")
                    arguments = _json(_text(fn.get("arguments"), "arguments") or "{}", "arguments")
                    tool_call = {"name": _text(fn.get("name"), "function.name"), "arguments": arguments}
                    if call.get("id"):
                        tool_call["id"] = call["id"]
                conv.add("function_call", content, name=name, tool_call=tool_call, metadata=meta)
            elif role == "tool":
                tool_call = _opt(item.get("tool_call"), dict, f"{where}.tool_call")
                if tool_call is None and "tool_call_id" in item:
                    tool_call = {"id": item["tool_call_id"]}
                conv.add("observation", content, name=name, tool_call=tool_call, metadata=meta)
            elif role in ("system", "user", "assistant"):
                conv.add(role, content, name=name, metadata=meta)
            else:
                raise FormatError(f"{where}: unknown role {role!r}")
        return conv


class FormatError(PersonaError, ValueError):
    """A ShareGPT record or OpenAI message list has the wrong shape."""


def _need(value: Any, kind: type, where: str) -> Any:
    if not isinstance(value, kind):
        raise FormatError(f"{where} must be {'an object' if kind is dict else 'a list'}, not {type(value).__name__}")
    return value


def _json(text: str, where: str) -> Any:
    from persona import jsonlimits

    try:
        return jsonlimits.loads(text)
    except ValueError as exc:
        raise FormatError(f"{where} is not valid JSON ({exc})") from None


def _opt(value: Any, kind: type, where: str) -> Any:
    return None if value is None else _need(value, kind, where)


def _text(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FormatError(f"{where} must be a string, not {type(value).__name__}")
    return value


def _name(value: Any, where: str) -> str | None:
    return None if value is None else _text(value, where)


def _meta(value: Any, where: str) -> dict[str, Any]:
    return dict(_opt(value, dict, where) or {})


def _parse_call(text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except (ValueError, TypeError):
        return None
    if isinstance(data, dict) and "name" in data:
        return {"name": data["name"], "arguments": data.get("arguments", {})}
    return None
