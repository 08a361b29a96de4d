from __future__ import annotations

import json
import logging

import pytest

from persona.errors import PackError
from persona.packs import discover, get_pack, load_pack
from persona.scaffold import scaffold
from tests.conftest import MINIMAL, write_pack


def test_shipped_packs_load_with_distinct_voices():
    packs = discover()
    assert {"captain-mara", "professor-thistle"} <= set(packs)
    mara, prof = packs["captain-mara"], packs["professor-thistle"]
    assert mara.greetings and prof.greetings and mara.examples and prof.examples
    assert mara.system_prompt() != prof.system_prompt()
    assert mara.language == "en" and mara.base == "smollm2-135m" and mara.adapter is None


def test_pack_expands_char_and_user_macros(tmp_path):
    pack = load_pack(write_pack(tmp_path / "test-char", MINIMAL))
    assert pack.id == "test-char"  # folder name by default
    assert pack.system_prompt("Ann") == "You are Test Char. Talk to Ann."
    assert pack.render(pack.greetings[0], "Ann") == "Hi, Ann, I am Test Char."
    assert pack.render("{{ CHAR }}") == "Test Char"


def test_pack_keeps_unknown_keys_and_extensions(tmp_path):
    pack = load_pack(write_pack(tmp_path / "p", MINIMAL + 'future_key = 3\n[extensions.safety]\nlevel = "strict"\n'))
    assert pack.manifest["future_key"] == 3
    assert pack.extensions == {"safety": {"level": "strict"}}


def test_malformed_toml_names_file_and_line(tmp_path):
    folder = write_pack(tmp_path / "bad", 'spec = "persona-pack"\nname = \n')
    with pytest.raises(PackError) as exc:
        load_pack(folder)
    assert "persona.toml" in exc.value.message and "line 2" in exc.value.message
    assert exc.value.hint


def test_missing_system_file_is_an_error(tmp_path):
    folder = write_pack(tmp_path / "p", MINIMAL.replace('system = "You are {{char}}. Talk to {{user}}."', 'system = "system.md"'))
    with pytest.raises(PackError, match="system prompt file system.md is missing"):
        load_pack(folder)


def test_schema_errors_name_the_field(tmp_path):
    folder = write_pack(tmp_path / "p", MINIMAL + "[sampling]\ntemperature = \"hot\"\n")
    with pytest.raises(PackError, match="sampling.temperature"):
        load_pack(folder)


def test_files_outside_the_pack_are_refused(tmp_path):
    (tmp_path / "secret.md").write_text("outside")
    folder = write_pack(tmp_path / "p", MINIMAL.replace('system = "You are {{char}}. Talk to {{user}}."', 'system = "../secret.md"'))
    with pytest.raises(PackError, match="outside the pack"):
        load_pack(folder)


def test_pickle_weights_in_adapter_are_refused(tmp_path):
    folder = write_pack(tmp_path / "p", MINIMAL + '[model]\nadapter = "adapter"\n')
    (folder / "adapter").mkdir()
    (folder / "adapter" / "adapter_config.json").write_text("{}")
    (folder / "adapter" / "adapter_model.bin").write_bytes(b"\x80\x04pickle")
    with pytest.raises(PackError, match="pickle-based weights are refused"):
        load_pack(folder)


def test_examples_must_be_sharegpt_lines(tmp_path):
    folder = write_pack(tmp_path / "p", MINIMAL + 'examples = "ex.jsonl"\n', {"ex.jsonl": "not json\n"})
    with pytest.raises(PackError, match="ex.jsonl:1"):
        load_pack(folder)


def test_home_pack_shadows_shipped_with_warning(persona_home, caplog):
    write_pack(persona_home / "personas" / "captain-mara",
               MINIMAL.replace('name = "Test Char"', 'name = "Other Mara"'))
    with caplog.at_level(logging.WARNING, logger="persona"):
        packs = discover()
    assert packs["captain-mara"].name == "Other Mara"
    assert "shadows" in caplog.text


def test_persona_path_adds_packs_and_broken_ones_are_skipped(tmp_path, monkeypatch, caplog):
    write_pack(tmp_path / "extra" / "good-one", MINIMAL)
    write_pack(tmp_path / "extra" / "broken", "name = [\n")
    monkeypatch.setenv("PERSONA_PATH", str(tmp_path / "extra"))
    with caplog.at_level(logging.WARNING, logger="persona"):
        packs = discover()
    assert "good-one" in packs and "broken" not in packs
    assert "skipping pack" in caplog.text


def test_unknown_id_suggests_closest():
    with pytest.raises(PackError) as exc:
        get_pack("captain-mra")
    assert "captain-mara" in exc.value.hint


def test_scaffolded_pack_validates(persona_home):
    folder = scaffold("Ada Finch")
    pack = load_pack(folder)
    assert pack.id == "ada-finch" and pack.name == "Ada Finch"
    assert pack.examples and pack.greetings
    assert "{{char}}" not in pack.system_prompt()
    assert json.loads((folder / "examples.jsonl").read_text())["conversations"][0]["from"] == "human"
    with pytest.raises(PackError, match="already exists"):
        scaffold("Ada Finch")


PACKS_FROM_ENTRY_POINT: list = []


def test_entry_point_group_adds_packs(tmp_path, monkeypatch):
    from importlib.metadata import EntryPoint

    import persona.packs as packs_module

    write_pack(tmp_path / "plugin-packs" / "from-ep", MINIMAL)
    PACKS_FROM_ENTRY_POINT[:] = [str(tmp_path / "plugin-packs")]
    ep = EntryPoint(name="extra", value="tests.test_packs:PACKS_FROM_ENTRY_POINT", group="persona.packs")
    monkeypatch.setattr("importlib.metadata.entry_points",
                        lambda group=None: [ep] if group == "persona.packs" else [])
    found = packs_module.discover()
    assert found["from-ep"].source == "entry point extra"


def test_validate_dot_takes_the_id_from_the_folder_it_is_in(tmp_path):
    import subprocess
    import sys

    folder = write_pack(tmp_path / "ada-finch", MINIMAL)
    proc = subprocess.run([sys.executable, "-m", "persona", "validate", "."], cwd=folder,
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "ok: ada-finch" in proc.stdout, proc.stderr
