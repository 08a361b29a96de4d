"""Hostile packs, table-driven, through the real CLI: each is refused (`error:` + `hint:`, exit 2)
or handled safely, and no file outside the pack is ever opened.

Every case runs ``persona validate`` and ``persona ask`` (``show`` for the
cases that must load) in a real process under an audit hook
(``sys.addaudithook``) that logs every ``open``. Each case has bait beside the
pack (``outside/``): a secret file, a lorebook, an adapter. Links and paths
point at it; the test fails if the process opened anything under it.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MINIMAL, ROOT

RUNNER = """
import json, os, sys
opened = []
def hook(event, args):
    if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        opened.append(os.fsdecode(args[0]))
sys.addaudithook(hook)
from persona.cli import main
try:
    code = main(sys.argv[1:])
finally:
    with open(os.environ["OPENED_LOG"], "w") as fh:
        json.dump(opened, fh)
sys.exit(code)
"""

HEADER = """spec = "persona-pack"
spec_version = "1"
name = "Hostile"
"""
SYSTEM = 'system = "You are {{char}}."\n'
ADAPTER = '[model]\nbase = "smollm2-135m"\nadapter = "adapter"\n'
LORE = '[lorebook]\nentries = "lore.json"\n'
ESC = "\x1b]52;c;cHduZWQ=\x07\x1b[2J\x9b31m"  # OSC 52 clipboard write, clear screen, C1 CSI


def bait(outside: Path) -> None:
    outside.mkdir()
    (outside / "secret.md").write_text("the secret system prompt\n")
    (outside / "lore.json").write_text(json.dumps([{"keys": ["hi"], "content": "secret lore"}]))
    (outside / "examples.jsonl").write_text(json.dumps({"conversations": [{"from": "human", "value": "x"}]}) + "\n")
    (outside / "adapter").mkdir()
    (outside / "adapter" / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj"]}))
    (outside / "adapter" / "adapter_model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")


def link(target: str):
    return ("link", target)


# id: (persona.toml, {file: text | bytes | ("link", target relative to the case folder) | "fifo" | "dir"},
#      outcome: a needle in the error for a refusal, or None where the pack must load and stay safe)
CASES: dict[str, tuple[str, dict, str | None]] = {
    "system path escapes": (HEADER + 'system = "../outside/secret.md"\n', {}, "outside the pack"),
    "system absolute path": (HEADER + 'system = "{outside}/secret.md"\n', {}, "outside the pack"),
    "system.md symlink out": (HEADER + 'system = "system.md"\n', {"system.md": link("outside/secret.md")},
                              "outside the pack"),
    "system.md is a fifo": (HEADER + 'system = "system.md"\n', {"system.md": "fifo"}, "system.md"),
    "system.md is a folder": (HEADER + 'system = "system.md"\n', {"system.md": "dir"}, "system.md"),
    "system.md symlink to /dev/zero": (HEADER + 'system = "system.md"\n', {"system.md": link("/dev/zero")},
                                       "outside the pack"),
    "system.md over the size limit": (HEADER + 'system = "system.md"\n', {"system.md": "a" * (1024 * 1024 + 1)},
                                      "larger than"),
    "system.md not UTF-8": (HEADER + 'system = "system.md"\n', {"system.md": b"\xff\xfe\x00bad"}, "UTF-8"),
    "persona.toml symlink out": (None, {"persona.toml": link("outside/persona.toml")}, "outside"),
    "persona.toml over the size limit": (HEADER + SYSTEM + "# " + "x" * 300_000 + "\n", {}, "larger than"),
    "persona.toml deeply nested": (HEADER + SYSTEM + "x = " + "[" * 5000 + "]" * 5000 + "\n", {}, "nests too deeply"),
    "examples symlink out": (HEADER + SYSTEM + 'examples = "examples.jsonl"\n',
                             {"examples.jsonl": link("outside/examples.jsonl")}, "outside the pack"),
    "examples path escapes": (HEADER + SYSTEM + 'examples = "../outside/examples.jsonl"\n', {}, "outside the pack"),
    "examples deeply nested": (HEADER + SYSTEM + 'examples = "examples.jsonl"\n',
                               {"examples.jsonl": "[" * 50_000 + "]" * 50_000}, "examples.jsonl:1"),
    "examples non-string value": (HEADER + SYSTEM + 'examples = "examples.jsonl"\n',
                                  {"examples.jsonl": '{"conversations": [{"from": "gpt", "value": {"a": 1}}]}'},
                                  "must be a string"),
    "examples with a NUL in the name": (HEADER + SYSTEM + 'examples = "ex\\u0000.jsonl"\n', {}, "NUL"),
    "examples name too long": (HEADER + SYSTEM + f'examples = "{"e" * 300}.jsonl"\n', {}, "too long"),
    "lorebook symlink out": (HEADER + SYSTEM + LORE, {"lore.json": link("outside/lore.json")}, "outside the pack"),
    "lorebook path escapes": (HEADER + SYSTEM + '[lorebook]\nentries = "../outside/lore.json"\n', {},
                              "outside the pack"),
    "adapter folder symlink out": (HEADER + SYSTEM + ADAPTER, {"adapter": link("outside/adapter")},
                                   "outside the pack"),
    "adapter path escapes": (HEADER + SYSTEM + '[model]\nbase = "smollm2-135m"\nadapter = "../outside/adapter"\n',
                             {}, "outside the pack"),
    "adapter weights symlink out": (HEADER + SYSTEM + ADAPTER, {
        "adapter/adapter_config.json": json.dumps({"peft_type": "LORA", "r": 4, "lora_alpha": 8,
                                                   "target_modules": ["q_proj"]}),
        "adapter/adapter_model.safetensors": link("outside/adapter/adapter_model.safetensors")}, "outside the pack"),
    "adapter regex target_modules": (HEADER + SYSTEM + ADAPTER, {
        "adapter/adapter_config.json": json.dumps({"peft_type": "LORA", "r": 4, "lora_alpha": 8,
                                                   "target_modules": "(a+)+$"}),
        "adapter/adapter_model.safetensors": b"\x02\x00\x00\x00\x00\x00\x00\x00{}"}, "target_modules"),
    "adapter r = 16384": (HEADER + SYSTEM + ADAPTER, {
        "adapter/adapter_config.json": json.dumps({"peft_type": "LORA", "r": 16384, "lora_alpha": 8,
                                                   "target_modules": ["q_proj"]}),
        "adapter/adapter_model.safetensors": b"\x02\x00\x00\x00\x00\x00\x00\x00{}"}, "r"),
    "adapter pickle named .safetensors": (HEADER + SYSTEM + ADAPTER, {
        "adapter/adapter_config.json": json.dumps({"peft_type": "LORA", "r": 4, "lora_alpha": 8,
                                                   "target_modules": ["q_proj"]}),
        "adapter/adapter_model.safetensors": pickle.dumps({"a": 1})}, "safetensors"),
    "pack id with a path in it": (HEADER + SYSTEM + 'id = "../../etc"\n', {}, "id"),
    "max_new_tokens over the schema": (HEADER + SYSTEM + "[sampling]\nmax_new_tokens = 100000\n", {},
                                       "max_new_tokens"),
    # Loads, and stays safe on the terminal: the escapes are shown, never sent.
    "escapes in name, description, greeting": (
        f'spec = "persona-pack"\nspec_version = "1"\nname = {json.dumps("Evil" + ESC)}\n'
        f'description = {json.dumps("d" + ESC)}\ngreetings = [{json.dumps("hi" + ESC)}]\n' + SYSTEM, {}, None),
    "regex lorebook keys are skipped": (HEADER + SYSTEM + LORE, {"lore.json": json.dumps(
        [{"keys": ["/(a+)+$/"], "content": "never"}, {"keys": ["hi"], "content": "Fine."}])}, None),
}


def build(case: Path, manifest: str | None, files: dict) -> Path:
    pack = case / "pack"
    pack.mkdir(parents=True)
    outside = case / "outside"
    bait(outside)
    (outside / "persona.toml").write_text(HEADER + SYSTEM)
    if manifest is not None:
        (pack / "persona.toml").write_text(manifest.replace("{outside}", str(outside)))
    for name, content in files.items():
        path = pack / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, tuple):
            target = content[1]
            path.symlink_to(target if target.startswith("/") else case / target)
        elif content == "fifo":
            os.mkfifo(path)
        elif content == "dir":
            path.mkdir()
        else:
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return pack


def persona(case: Path, *argv: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    log = case / f"opened-{len(list(case.glob('opened-*')))}.json"
    env = {**os.environ, "OPENED_LOG": str(log), "PERSONA_PATH": str(case / "pack")}
    proc = subprocess.run([sys.executable, "-c", RUNNER, *argv], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)
    return proc, json.loads(log.read_text())


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_pack(name, tmp_path, persona_home):
    manifest, files, needle = CASES[name]
    pack = build(tmp_path, manifest, files)
    outside = (tmp_path / "outside").resolve()
    runs = [("validate", str(pack)), ("ask", str(pack), "hi")] if needle else \
        [("validate", str(pack)), ("show", str(pack)), ("list",)]
    for argv in runs:
        proc, opened = persona(tmp_path, *argv)
        if needle:
            assert proc.returncode == 2, (argv, proc.stdout, proc.stderr)
            errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
            assert len(errors) == 1 and "hint: " in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
            assert needle in errors[0], (needle, errors[0])
        else:
            assert proc.returncode == 0, (argv, proc.stderr)
            for stream in (proc.stdout, proc.stderr):
                assert not any(ch in stream for ch in "\x1b\x07\x9b"), repr(stream[:300])
        leaked = [p for p in opened if Path(p).resolve().is_relative_to(outside)]
        assert not leaked, f"persona {argv[0]} opened files outside the pack: {leaked}"
    assert not (persona_home / "sessions.db").exists() or needle is None
