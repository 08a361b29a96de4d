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


def test_export_writes_sharegpt_and_markdown(persona_home, tmp_path):
    from persona.conversation import Message
    from persona.store import Store

    Store().commit_turn("s1", "captain-mara", "smollm2-135m",
                        [Message("system", "You are Mara."), Message("user", "Hi"), Message("assistant", "Ahoy.")],
                        0, "Hi")
    data = json.loads(run_cli("export", "s1", "--format", "sharegpt").stdout)
    assert data["system"] == "You are Mara."
    assert [(t["from"], t["value"]) for t in data["conversations"]] == [("human", "Hi"), ("gpt", "Ahoy.")]
    out = tmp_path / "chat.md"
    assert run_cli("export", "s1", "--format", "markdown", "-o", str(out)).returncode == 0
    assert "**You:** Hi" in out.read_text() and "**captain-mara:** Ahoy." in out.read_text()
    again = run_cli("export", "s1", "--format", "markdown", "-o", str(out))
    assert again.returncode == 2 and "hint: choose another file name, or pass --force" in again.stderr
    missing = run_cli("export", "nope")
    assert missing.returncode == 2 and "error: no session 'nope'" in missing.stderr


def test_chat_without_a_terminal_points_to_the_repl():
    proc = run_cli("chat", input="")
    assert proc.returncode == 2 and "use `persona repl`" in proc.stderr
