"""Issue 10, class 4: every bad input the audit found gets `error:` + `hint:`, exit 2, and changes nothing.

Most cases call the real CLI's ``main`` in-process (the same boundary a shell
reaches, without a second interpreter's start-up per case); bytes that are not
UTF-8 in argv and stdin need a real process.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
import sys

import pytest

from persona import cli, envvars
from persona.cli.boundary import describe
from persona.errors import PersonaError
from tests.conftest import MINIMAL, ROOT, write_pack


def contract(capsys, *argv: str, needles: tuple[str, ...] = ()) -> str:
    """Run ``persona argv``; assert exit 2 with exactly one error and one hint line; return stderr."""
    code = cli.main(list(argv))
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert sum(line.startswith("error: ") for line in lines) == 1, err
    assert sum(line.startswith("hint: ") for line in lines) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.fixture
def session(stored):
    """(the stored session's id, a function reading the whole store back): see tests/conftest.py."""
    return "abc123", stored


# -- nesting: persona.toml, examples.jsonl, JSON inputs, model output ------------------------


def test_deeply_nested_examples_line(capsys, tmp_path, session):
    _, snapshot = session
    before = snapshot()
    pack = write_pack(tmp_path / "p", MINIMAL + 'examples = "examples.jsonl"\n',
                      {"examples.jsonl": "[" * 100_000 + "]" * 100_000 + "\n"})
    contract(capsys, "validate", str(pack), needles=("examples.jsonl:1",))
    contract(capsys, "ask", str(pack), "hi", needles=("examples.jsonl:1",))
    assert snapshot() == before


def test_deeply_nested_json_input_to_data_extract(capsys, tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text('{"conversations": ' + "[" * 100_000 + "]" * 100_000 + "}")
    contract(capsys, "data", "extract", str(deep), "-o", str(tmp_path / "out.jsonl"))
    assert not (tmp_path / "out.jsonl").exists()


def test_deeply_nested_tool_call_in_model_output_is_no_call():
    from persona.tools import parse_tool_calls

    for body in ("[" * 100_000, '{"name": "calc", "arguments": ' + "[" * 5000 + "]" * 5000 + "}",
                 '{"name": "calc", "arguments": "' + "[" * 100_000 + '"}'):
        visible, calls = parse_tool_calls(f"Aye.<tool_call>{body}</tool_call>")
        assert visible == "Aye." and calls == []
    visible, calls = parse_tool_calls("[" * 100_000)
    assert calls == []


def test_non_string_sharegpt_value_fails_validate_not_ask(capsys, tmp_path):
    for bad in ({"from": "human", "value": 5}, {"from": "gpt", "value": ["a"]}, {"from": "human", "value": "x",
                                                                                  "metadata": [1]}):
        line = json.dumps({"conversations": [bad]})
        pack = write_pack(tmp_path / "p", MINIMAL + 'examples = "examples.jsonl"\n', {"examples.jsonl": line})
        contract(capsys, "validate", str(pack), needles=("must be",))
        contract(capsys, "ask", str(pack), "hi", needles=("must be",))


# -- names and paths -------------------------------------------------------------------------


def test_over_long_and_nul_paths(capsys, tmp_path):
    contract(capsys, "validate", "a" * 300)
    contract(capsys, "show", str(tmp_path / ("b" * 300)))
    pack = write_pack(tmp_path / "p", MINIMAL + 'examples = "exam\\u0000ples.jsonl"\n')
    contract(capsys, "validate", str(pack))
    pack = write_pack(tmp_path / "q", MINIMAL.replace('system = "You are {{char}}. Talk to {{user}}."',
                                                      f'system = "{"s" * 300}.md"'))
    contract(capsys, "ask", str(pack), "hi")


def test_new_with_an_unusable_name_leaves_nothing_behind(capsys, persona_home):
    personas = persona_home / "personas"
    for name in ("line\nbreak", "bell\x07", "x" * 300):
        contract(capsys, "new", name, needles=("not a usable name",))
    contract(capsys, "new", "Zed", "--language", 'x"y', needles=("language tag",))
    assert not personas.exists() or list(personas.iterdir()) == []
    assert cli.main(["new", 'Ada "the" Finch\\']) == 0  # quotes are escaped, not refused
    capsys.readouterr()
    assert [p.name for p in personas.iterdir()] == ["ada-the-finch"]
    assert cli.main(["validate", str(personas / "ada-the-finch")]) == 0


# -- numbers: generation options, environment variables -------------------------------------


@pytest.mark.parametrize("argv, needle", [
    (["--seed", str(2**70)], "seed"),
    (["--seed", "-1"], "seed"),
    (["--max-tokens", "0"], "max_new_tokens"),
    (["--max-tokens", "100000"], "max_new_tokens"),
    (["--temperature", "nan"], "temperature"),
    (["--temperature", "99"], "temperature"),
])
def test_generation_options_out_of_range_fail_before_anything_loads(capsys, session, argv, needle):
    _, snapshot = session
    before = snapshot()
    contract(capsys, "ask", "captain-mara", "hi", *argv, needles=(needle,))
    assert snapshot() == before


def test_max_tokens_at_the_context_window(capsys, tmp_path, session):
    """smollm2-135m has an 8192-token window: a pack asking for all of it for the reply is refused."""
    _, snapshot = session
    before = snapshot()
    pack = write_pack(tmp_path / "p", MINIMAL + "[sampling]\nmax_new_tokens = 8192\n")
    contract(capsys, "ask", str(pack), "hi", needles=("context window", "max_new_tokens"))
    contract(capsys, "ask", "captain-mara", "hi", "--max-tokens", "8192", needles=("--max-tokens",))
    assert snapshot() == before


@pytest.mark.parametrize("value", ["abc", "-1", "0", "nan", "inf"])
def test_bad_numeric_environment_variables(monkeypatch, value):
    monkeypatch.setenv("PERSONA_TOKEN_TIMEOUT", value)
    with pytest.raises(PersonaError, match="PERSONA_TOKEN_TIMEOUT") as info:
        envvars.number("PERSONA_TOKEN_TIMEOUT", 120.0, high=86400)
    assert "120" in info.value.hint
    monkeypatch.setenv("PERSONA_KV_MIN_SAVE", "1.5")
    with pytest.raises(PersonaError, match="whole number"):
        envvars.number("PERSONA_KV_MIN_SAVE", 256, integer=True, allow_low=True)


def test_persona_is_importable_with_bad_environment_variables():
    """Read when used, never at import: a bad value cannot break `persona list`."""
    env = {**os.environ, "PERSONA_TOKEN_TIMEOUT": "abc", "PERSONA_KV_STATES_MB": "x", "PERSONA_KV_MIN_SAVE": "-3"}
    code = "import persona.models.hf, persona.models.llama_kv, persona.cli; print('ok')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert proc.stdout.strip() == "ok", proc.stderr


# -- bytes that are not UTF-8 ------------------------------------------------------------------


def _persona(args: list[bytes], stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable.encode(), b"-m", b"persona", *args], input=stdin,
                          capture_output=True, cwd=ROOT, timeout=300)


@pytest.mark.parametrize("args, stdin", [
    ([b"ask", b"captain-mara", b"\xff\xfe hi"], b""),
    ([b"show", b"caf\xe9"], b""),
    ([b"ask", b"captain-mara", b"-"], b"\xff\xfe hello"),
])
def test_bytes_that_are_not_utf8(persona_home, args, stdin):
    proc = _persona(args, stdin)
    err = proc.stderr.decode("utf-8")  # our own lines are always UTF-8
    assert proc.returncode == 2, err
    assert "not valid UTF-8" in err and "hint: " in err and "Traceback" not in err
    assert not (persona_home / "sessions.db").exists()


# -- -o targets --------------------------------------------------------------------------------


def test_output_targets_for_export_extract_and_build(capsys, tmp_path, session):
    sid, snapshot = session
    script = tmp_path / "s.txt"
    script.write_text("MARA: Ahoy there.\nBEN: Hello.\nMARA: Sail on, lad.\nBEN: Aye.\n" * 10)
    folder = tmp_path / "exists"
    folder.mkdir()
    for target, needle in ((tmp_path / "missing" / "x.json", "does not exist"), ("/proc/x.json", "cannot write"),
                           (folder, "is a folder")):
        contract(capsys, "export", sid, "-o", str(target), needles=(needle,))
        contract(capsys, "data", "extract", str(script), "-o", str(target), needles=(needle,))
    (folder / "keep.txt").write_text("mine")
    contract(capsys, "data", "build", str(script), "--character", "MARA", "-o", str(folder), needles=("not empty",))
    contract(capsys, "data", "build", str(script), "--character", "MARA", "-o", "/proc/persona-x")
    assert (folder / "keep.txt").read_text() == "mine" and sorted(os.listdir(folder)) == ["keep.txt"]
    assert not (tmp_path / "missing").exists()
    existing = tmp_path / "mine.json"
    existing.write_text("keep")
    contract(capsys, "export", sid, "-o", str(existing), needles=("--force",))
    assert existing.read_text() == "keep"


# -- usage errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["bogus"], ["sessions", "--limit", "x"], ["ask"], ["list", "--nope"],
                                  ["export", "abc", "--format", "pdf"]])
def test_usage_errors_have_a_hint(capsys, argv):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "hint: `persona" in err and "--help" in err


# -- the boundary's table ------------------------------------------------------------------------


@pytest.mark.parametrize("exc, needle", [
    (RecursionError("maximum recursion depth exceeded"), "nests too deeply"),
    (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), "not valid UTF-8"),
    (ValueError("embedded null byte"), "NUL"),
    (OverflowError("Python int too large to convert to C long"), "out of range"),
    (MemoryError(), "too large"),
    (sqlite3.DatabaseError("file is not a database"), "session store"),
    (OSError(errno.ENAMETOOLONG, "File name too long", "x" * 300), "File name too long"),
    (OSError(errno.ENOSPC, "No space left on device", "/tmp/x"), "No space"),
    (PermissionError(errno.EACCES, "Permission denied", "/root/x"), "Permission denied"),
])
def test_the_boundary_maps_input_errors_to_exit_2(exc, needle):
    message, hint = describe(exc)
    assert needle in message and hint


def test_a_bug_stays_an_internal_error(capsys, monkeypatch):
    from persona.cli import packs

    monkeypatch.setattr(packs, "cmd_list", lambda args: {}["missing"])
    assert cli.main(["list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: internal error: KeyError") and "--debug" in err
    assert describe(ZeroDivisionError("x")) is None
