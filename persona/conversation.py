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
        conv = cls()
        if "system" in data:
            conv.add("system", data["system"], name=data.get("system_name"),
                     metadata=dict(data.get("system_metadata") or {}))
        for turn in data.get("conversations", []):
            source = turn.get("from")
            if source not in _FROM_SHAREGPT:
                raise ValueError(f"unknown ShareGPT role {source!r}")
            role = _FROM_SHAREGPT[source]
            value = turn.get("value") or ""
            tool_call = turn.get("tool_call")
            if tool_call is None and role == "function_call":
                tool_call = _parse_call(value)
            conv.add(role, value, name=turn.get("name"), tool_call=tool_call,
                     metadata=dict(turn.get("metadata") or {}))
        tools = data.get("tools")
        if tools:
            conv.tools = json.loads(tools) if isinstance(tools, str) else list(tools)
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
        conv = cls()
        for item in items:
            role = item["role"]
            meta = dict(item.get("metadata") or {})
            content = item.get("content") or ""
            if role == "assistant" and "tool_calls" in item:
                calls = item["tool_calls"]
                tool_call = None
                if calls:
                    fn = calls[0]["function"]
                    tool_call = {"name": fn["name"], "arguments": json.loads(fn["arguments"] or "{}")}
                    if calls[0].get("id"):
                        tool_call["id"] = calls[0]["id"]
                conv.add("function_call", content, name=item.get("name"), tool_call=tool_call, metadata=meta)
            elif role == "tool":
                tool_call = item.get("tool_call")
                if tool_call is None and "tool_call_id" in item:
                    tool_call = {"id": item["tool_call_id"]}
                conv.add("observation", content, name=item.get("name"), tool_call=tool_call, metadata=meta)
            else:
                conv.add(role, content, name=item.get("name"), metadata=meta)
        return conv


def _parse_call(text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except (ValueError, TypeError):
        return None
    if isinstance(data, dict) and "name" in data:
        return {"name": data["name"], "arguments": data.get("arguments", {})}
    return None
