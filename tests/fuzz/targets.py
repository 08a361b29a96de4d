"""Fuzz targets shared by the hypothesis tests (fixed budget, in `make test`) and scripts/fuzz.py (atheris).

Each target feeds one untrusted input to the real code and checks its
property: a clean result or a :class:`PersonaError` (never another exception,
never exit 1 from the CLI), within a step budget linear in the input's size
(tests/fuzz/steps.py). A target raises AssertionError or OverBudget when the
property breaks.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from persona.errors import PersonaError
from tests.fuzz import steps

BASE_STEPS = 2_000_000  # a whole `persona validate` of a small pack (tomllib, jsonschema) is ~0.3M
STEPS_PER_BYTE = 400

MANIFEST = """spec = "persona-pack"
spec_version = "1"
name = "Fuzz"
system = "You are {{char}}."
"""
_root = Path(tempfile.mkdtemp(prefix="persona-fuzz-"))
_count = 0


@functools.cache
def plugin(name: str):
    """A built-in plugin's module, loaded as the engine loads it."""
    from persona.plugins import make_manager

    return make_manager(load_entrypoints=False).get_plugin(name)


def budget(*inputs: Any) -> int:
    return BASE_STEPS + STEPS_PER_BYTE * sum(len(x) for x in inputs if isinstance(x, (str, bytes)))


@contextlib.contextmanager
def folder():
    """A fresh, empty folder; removed afterwards."""
    global _count
    _count += 1
    path = _root / f"case{_count}"
    path.mkdir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def cli(*argv: str) -> int:
    """The real CLI in-process, output captured; the exit code."""
    from persona import cli as persona_cli

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        code = persona_cli.main(list(argv))
    assert code in (0, 2), f"persona {' '.join(argv)} exited {code}: {err.getvalue()[-500:]}"
    return code


def _validate_then_load(pack: Path) -> Any:
    """`persona validate` gives 0 or 2; a pack it passes loads (the promise validate makes)."""
    from persona.packs import load_checked

    code = cli("validate", str(pack))
    try:
        loaded = load_checked(pack)
    except PersonaError:
        assert code == 2, "validate passed a pack that does not load"
        return None
    return loaded


# -- packs -------------------------------------------------------------------------------------


def pack_files(files: dict[str, str | bytes]) -> None:
    """A pack made of ``files`` (persona.toml and whatever it names)."""
    with folder() as pack:
        size = 0
        for name, data in files.items():
            (pack / name).parent.mkdir(parents=True, exist_ok=True)
            (pack / name).write_bytes(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
            size += len(data)
        steps.run(BASE_STEPS + STEPS_PER_BYTE * size, _validate_then_load, pack)


def manifest(text: str) -> None:
    pack_files({"persona.toml": text})


def examples(text: str) -> None:
    pack_files({"persona.toml": MANIFEST + 'examples = "examples.jsonl"\n', "examples.jsonl": text})


def lore(text: str, chat: str = "Tell me about the Gull and Port Veyra.") -> None:
    """A lorebook file, then matching it against a chat line, as a turn does."""
    lorebook = plugin("lorebook")

    with folder() as pack:
        (pack / "persona.toml").write_text(MANIFEST + '[lorebook]\nentries = "lore.json"\n')
        (pack / "lore.json").write_text(text, encoding="utf-8", errors="surrogatepass")

        def both():
            persona = _validate_then_load(pack)
            book = lorebook.load_book(pack / "lore.json")  # None after a warning when unusable
            if persona is not None and book is not None:
                lorebook.select(book, [chat])

        steps.run(budget(text, chat), both)


def adapter(config: str, weights: bytes) -> None:
    pack_files({"persona.toml": MANIFEST + '[model]\nbase = "smollm2-135m"\nadapter = "adapter"\n', "adapter/adapter_config.json": config,
                "adapter/adapter_model.safetensors": weights})


# -- character cards ------------------------------------------------------------------------------


def card(data: bytes, suffix: str = ".png", extra: tuple[str, ...] = ()) -> None:
    """`persona import` of any bytes as a card: exit 0 or 2; an imported pack loads; nothing half-written."""
    import os
    from unittest import mock

    from persona.packs import load_checked

    with folder() as where, mock.patch.dict(os.environ, {"PERSONA_HOME": str(where / "home")}):
        path = where / f"card{suffix}"
        path.write_bytes(data)
        code, _ = steps.run(budget(data) + 20 * BASE_STEPS, cli, "import", str(path), "--id", "fuzzed", *extra)
        personas = where / "home" / "personas"
        left = sorted(p.name for p in personas.iterdir()) if personas.is_dir() else []
        assert left == (["fuzzed"] if code == 0 else []), f"exit {code} left {left}"
        if code == 0:
            load_checked(personas / "fuzzed")


# -- data extract --------------------------------------------------------------------------------


def extract(data: bytes, suffix: str = ".txt", fmt: str = "auto") -> None:
    from persona.data.extract import extract as run_extract

    with folder() as where:
        path = where / f"input{suffix}"
        path.write_bytes(data)
        try:
            steps.run(budget(data), run_extract, path, fmt)
        except PersonaError:
            pass


# -- model output and records ---------------------------------------------------------------------


def tool_calls(text: str) -> None:
    from persona.tools import parse_tool_calls

    (visible, calls), _ = steps.run(budget(text), parse_tool_calls, text)
    assert isinstance(visible, str) and len(visible) <= len(text)
    for call in calls:
        assert isinstance(call.name, str) and isinstance(call.arguments, dict)
        json.dumps(call.arguments)  # what the engine stores and shows must serialise


def records(value: Any) -> None:
    """A JSON value as a ShareGPT record and as OpenAI messages: a Conversation or a FormatError."""
    from persona.conversation import Conversation, FormatError

    for convert in (Conversation.from_sharegpt, Conversation.from_openai):
        try:
            conv, _ = steps.run(budget(json.dumps(value)), convert, value)
        except FormatError:
            continue
        again = Conversation.from_sharegpt(conv.to_sharegpt())  # what we accept, we write back losslessly
        assert again == conv, (conv, again)


def calculator(expression: str) -> None:
    from persona.tools import ToolError

    tools_basic = plugin("tools_basic")
    try:
        out, _ = steps.run(budget(expression), tools_basic.calculator, {"expression": expression}, None)
    except ToolError:
        return
    assert isinstance(out, str) and len(out) < 2000
