"""The scriptable CLI's non-model commands, run as a user runs them."""

from __future__ import annotations

import json

from tests.conftest import run_cli


def test_list_shows_shipped_packs_as_table_and_json():
    table = run_cli("list")
    assert table.returncode == 0
    assert table.stdout.splitlines()[0].split() == ["ID", "NAME", "LANG", "BASE", "ADAPTER"]
    assert "captain-mara" in table.stdout and "professor-thistle" in table.stdout
    packs = json.loads(run_cli("list", "--json").stdout)
    mara = next(p for p in packs if p["id"] == "captain-mara")
    assert mara["name"] == "Captain Mara" and mara["language"] == "en"
    assert mara["base"] == "smollm2-135m" and mara["adapter"] is False


def test_show_prints_the_expanded_system_prompt():
    data = json.loads(run_cli("show", "captain-mara", "--json").stdout)
    assert data["id"] == "captain-mara" and data["examples"] == 3 and len(data["greetings"]) == 3
    assert "Captain Mara" in data["system"] and "{{" not in data["system"]
    assert "You are Captain Mara" in run_cli("show", "captain-mara").stdout


def test_new_scaffolds_a_pack_that_validates_and_is_listed(persona_home):
    made = run_cli("new", "Ada Finch")
    assert made.returncode == 0, made.stderr
    folder = persona_home / "personas" / "ada-finch"
    ok = run_cli("validate", str(folder))
    assert ok.returncode == 0 and ok.stdout.startswith("ok: ada-finch (Ada Finch)")
    assert any(p["id"] == "ada-finch" for p in json.loads(run_cli("list", "--json").stdout))


def test_models_lists_aliases_files_and_cache_state():
    rows = {r["alias"]: r for r in json.loads(run_cli("models", "--json").stdout)}
    assert set(rows) >= {"smollm2-135m", "gemma3-270m"}
    smol = rows["smollm2-135m"]
    assert smol["installed"] and smol["files"][0].endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert isinstance(smol["cached"], bool)
    assert "cache" in run_cli("models").stdout


def test_sessions_on_an_empty_home_lists_nothing():
    proc = run_cli("sessions", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout) == []
