"""Tools a character can use: definition, parsing calls out of model text,
argument validation (jsonschema), and running with a timeout."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from persona import jsonlimits

MAX_RESULT_CHARS = 2000


@dataclass
class ToolContext:
    """What a tool may use besides its arguments."""

    persona: Any
    conversation: Any
    store: Any


@dataclass
class Tool:
    """A tool: ``function(arguments, ctx) -> str``.

    ``command`` is the slash command a user types to call it directly
    (``/roll 2d6``); ``parse_command`` turns the rest of that line into arguments.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[[dict[str, Any], ToolContext], str]
    command: str = ""
    parse_command: Callable[[str], dict[str, Any]] | None = None
    timeout: float = 5.0

    def schema(self) -> dict[str, Any]:
        """The OpenAI / ShareGPT ``tools`` form."""
        return {"name": self.name, "description": self.description, "parameters": self.parameters}


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: "call_" + uuid.uuid4().hex[:8])


class ToolError(Exception):
    """A call that cannot run; its message becomes the observation the model sees."""


OPEN, CLOSE = "<tool_call>", "</tool_call>"


def parse_tool_calls(text: str) -> tuple[str, list[ToolCall]]:
    """Tool calls in a model reply, and the reply without them.

    Two forms: Hermes-style ``<tool_call>{"name": …, "arguments": {…}}</tool_call>``
    (an unclosed tag at the end counts: generation may stop on it), and a reply
    that is nothing but one such JSON object. Model output is untrusted: the
    split is plain ``str.find`` (linear in the text) and each body is read by
    :func:`persona.jsonlimits.loads` (bounded nesting); a bad body is no call.
    """
    calls, visible, pos = [], [], 0
    while (start := text.find(OPEN, pos)) != -1:
        visible.append(text[pos:start])
        end = text.find(CLOSE, start + len(OPEN))
        body = text[start + len(OPEN):end if end != -1 else len(text)]
        call = _call_from_json(body.strip())
        if call is not None:
            calls.append(call)
        pos = end + len(CLOSE) if end != -1 else len(text)
    if pos:  # at least one tag
        visible.append(text[pos:])
        return "".join(visible).strip(), calls
    stripped = text.strip()
    if stripped.startswith("{") and stripped.endswith("}"):
        call = _call_from_json(stripped)
        if call is not None:
            return "", [call]
    return text, []


def _call_from_json(body: str) -> ToolCall | None:
    try:
        data = jsonlimits.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        return None
    args = data.get("arguments", data.get("parameters", {}))
    if isinstance(args, str):  # some models emit arguments as a JSON string
        try:
            args = jsonlimits.loads(args)
        except ValueError:
            return None
    return ToolCall(data["name"], args if isinstance(args, dict) else {})


def validate_arguments(tool: Tool, arguments: dict[str, Any]) -> None:
    import jsonschema

    try:
        jsonschema.validate(arguments, tool.parameters)
    except jsonschema.ValidationError as exc:
        where = ".".join(str(p) for p in exc.path)
        raise ToolError(f"invalid arguments for {tool.name}: {(where + ': ') if where else ''}{exc.message}") from None


def run_tool(tool: Tool, arguments: dict[str, Any], ctx: ToolContext) -> str:
    """Validate and run a tool in a worker thread; raises ToolError on any failure.

    A thread cannot be killed: a tool that overruns its timeout is abandoned
    (daemon thread) and the turn goes on without it.
    """
    validate_arguments(tool, arguments)
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            result["value"] = tool.function(arguments, ctx)
        except Exception as exc:  # reported to the model as the observation
            result["error"] = exc

    worker = threading.Thread(target=work, name=f"tool-{tool.name}", daemon=True)
    worker.start()
    worker.join(tool.timeout)
    if worker.is_alive():
        raise ToolError(f"{tool.name} timed out after {tool.timeout:g} s")
    if "error" in result:
        exc = result["error"]
        raise ToolError(f"{tool.name} failed: {exc}")
    return str(result.get("value", ""))[:MAX_RESULT_CHARS]


def describe(tools: list[Tool]) -> str:
    """A compact tool list for the system prompt (small models: keep it short)."""
    lines = ["You can use these tools. To use one, reply with only "
             '<tool_call>{"name": "...", "arguments": {...}}</tool_call>.']
    for tool in tools:
        props = ", ".join(tool.parameters.get("properties", {}))
        lines.append(f"- {tool.name}({props}): {tool.description}")
    return "\n".join(lines)


class ToolCallHider:
    """Wraps a token callback so tool-call markup is never streamed to the user."""

    def __init__(self, on_token: Callable[[str], None] | None) -> None:
        self.on_token = on_token
        self.buffer = ""
        self.hidden = False

    def __call__(self, chunk: str) -> None:
        if self.on_token is None or self.hidden:
            return
        self.buffer += chunk
        if "<tool_call>" in self.buffer:
            self._emit(self.buffer.split("<tool_call>")[0])
            self.hidden = True
            return
        if self.buffer.lstrip().startswith("{"):
            return  # maybe a bare JSON call: decided at the end
        marker = "<tool_call>"
        hold = next((n for n in range(len(marker) - 1, 0, -1) if self.buffer.endswith(marker[:n])), 0)
        self._emit(self.buffer[:len(self.buffer) - hold])
        self.buffer = self.buffer[len(self.buffer) - hold:]

    def finish(self, is_call: bool) -> None:
        if self.on_token and not self.hidden and not is_call:
            self._emit(self.buffer)
        self.buffer = ""

    def _emit(self, text: str) -> None:
        if text and self.on_token:
            self.on_token(text)
