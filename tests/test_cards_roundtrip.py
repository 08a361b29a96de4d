"""Issue 11's round-trip guarantees, as properties over random cards and packs, through the real CLI.

- export(import(card)) keeps every field of the card, unknown ones included;
- import(export(pack)) gives back an equal pack for every mapped field.
"""

from __future__ import annotations

import json
import shutil

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from persona import cli
from persona.packs import load_pack

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
KEY = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
JSONS = st.recursive(st.none() | st.booleans() | st.integers(-2**31, 2**31) | TEXT,
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEY, inner, max_size=3), max_leaves=8)
NAME = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(
    lambda s: s.strip() == s and s)
OPTIONAL = {"description": TEXT, "personality": TEXT, "scenario": TEXT, "first_mes": TEXT, "mes_example": TEXT,
            "creator_notes": TEXT, "system_prompt": TEXT, "post_history_instructions": TEXT,
            "alternate_greetings": st.lists(TEXT, max_size=3), "tags": st.lists(TEXT, max_size=3),
            "creator": TEXT, "character_version": TEXT, "nickname": TEXT,
            "extensions": st.dictionaries(KEY.filter(lambda k: k != "persona"), JSONS, max_size=3),
            "character_book": st.fixed_dictionaries({"entries": st.lists(st.fixed_dictionaries(
                {"keys": st.lists(KEY, min_size=1, max_size=2), "content": TEXT},
                optional={"x_entry": JSONS}), max_size=3)}, optional={"name": TEXT, "x_book": JSONS})}


@st.composite
def cards(draw):
    data = {"name": draw(NAME)}
    for key, strategy in OPTIONAL.items():
        if draw(st.booleans()):
            data[key] = draw(strategy)
    data.update(draw(st.dictionaries(KEY.map(lambda k: "x_" + k), JSONS, max_size=2)))  # unknown fields
    version = draw(st.sampled_from(["v1", "v2", "v3"]))
    if version == "v1":  # flat fields at the top
        return data
    card = {"spec": f"chara_card_{version}", "spec_version": "2.0" if version == "v2" else "3.0", "data": data}
    card.update(draw(st.dictionaries(KEY.map(lambda k: "top_" + k), JSONS, max_size=2)))
    return card


def main(capsys, *argv: str) -> str:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


def assert_kept(original, exported, where="card"):
    """Every field of ``original`` is in ``exported`` with the same value (``exported`` may add fields)."""
    if isinstance(original, dict):
        assert isinstance(exported, dict), where
        for key, value in original.items():
            assert key in exported, f"{where}.{key} lost"
            assert_kept(value, exported[key], f"{where}.{key}")
    else:
        assert original == exported, where


@SETTINGS
@given(card=cards())
def test_export_of_an_imported_card_keeps_every_field(capsys, persona_home, tmp_path, card):
    path = tmp_path / "card.json"
    path.write_text(json.dumps(card, ensure_ascii=False), encoding="utf-8")
    main(capsys, "import", str(path), "--id", "prop", "--force", "--json")
    for fmt, spec in (("card-v2", "chara_card_v2"), ("card-v3", "chara_card_v3")):
        exported = json.loads(main(capsys, "export", "prop", "--format", fmt, "-o", "-"))
        assert exported["spec"] == spec and "persona" in exported["data"]["extensions"]
        assert_kept({k: v for k, v in card.items() if k not in ("spec", "spec_version")}, exported)


@st.composite
def packs(draw):
    manifest = {"spec": "persona-pack", "spec_version": "1", "id": "orig", "name": draw(NAME),
                "system": "system.md", "examples": "examples.jsonl"}
    if draw(st.booleans()):
        manifest["description"] = draw(TEXT)
    if draw(st.booleans()):
        manifest["language"] = draw(st.sampled_from(["en", "zh", "pt-BR"]))
    greetings = draw(st.lists(TEXT.filter(lambda s: s.strip() and "\r" not in s), max_size=3))
    if greetings or draw(st.booleans()):
        manifest["greetings"] = greetings
    if draw(st.booleans()):
        manifest["post_history"] = draw(TEXT.filter(lambda s: "\r" not in s))
    manifest["sampling"] = {"temperature": draw(st.floats(0, 2)), "max_new_tokens": draw(st.integers(1, 500))}
    if draw(st.booleans()):
        manifest["tools"] = {"allow": ["roll_dice"], "prompt": draw(st.booleans())}
    manifest["extensions"] = {"safety": {"level": draw(st.sampled_from(["standard", "strict", "off"]))},
                              "x_plugin": draw(st.dictionaries(st.sampled_from("abc"), st.integers(), max_size=2))}
    if draw(st.booleans()):
        manifest["provenance"] = {"source": draw(TEXT)}
    system = draw(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\ufeff"),
                          min_size=1, max_size=60))
    turn = st.fixed_dictionaries({"from": st.sampled_from(["human", "gpt"]),
                                  "value": st.text(st.characters(blacklist_categories=("Cs",),
                                                                 blacklist_characters="\r"), max_size=30)})
    examples = draw(st.lists(st.fixed_dictionaries({"conversations": st.lists(turn, min_size=1, max_size=3)}),
                             max_size=2))
    lore = None
    if draw(st.booleans()):
        manifest["lorebook"] = {"entries": "lore.json", "position": draw(st.sampled_from(["system", "note"]))}
        lore = {"entries": [{"keys": ["moon"], "content": draw(TEXT)}]}
        if draw(st.booleans()):
            lore["token_budget"] = 100
    return manifest, system, examples, lore


@SETTINGS
@given(pack=packs())
def test_import_of_an_exported_pack_gives_the_pack_back(capsys, persona_home, tmp_path, pack):
    manifest, system, examples, lore = pack
    folder = persona_home / "personas" / "orig"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / "persona.toml").write_text(tomli_w.dumps(manifest), encoding="utf-8")
    (folder / "system.md").write_text(system, encoding="utf-8")
    (folder / "examples.jsonl").write_text("".join(json.dumps(e) + "\n" for e in examples), encoding="utf-8")
    if lore is not None:
        (folder / "lore.json").write_text(json.dumps(lore), encoding="utf-8")
    out = tmp_path / "card.png"
    main(capsys, "export", "orig", "--format", "card-v2", "-o", str(out), "--force")
    main(capsys, "import", str(out), "--id", "back", "--force", "--json")
    first, back = load_pack(folder), load_pack(persona_home / "personas" / "back")
    assert {k: v for k, v in back.manifest.items() if k not in ("id", "card")} == \
        {k: v for k, v in first.manifest.items() if k != "id"}
    assert (back.name, back.system, back.greetings, back.post_history) == \
        (first.name, first.system, first.greetings, first.post_history)
    assert [e.to_sharegpt() for e in back.examples] == [e.to_sharegpt() for e in first.examples]
    assert (json.loads(back.lorebook.read_text()) if back.lorebook else None) == lore


@SETTINGS
@given(persona=st.dictionaries(st.sampled_from(["version", "manifest", "default_system", "examples", "system",
                                                "avatar", "no_budget"]), JSONS, max_size=4),
       manifest=st.dictionaries(st.sampled_from(["id", "description", "model", "sampling", "lorebook", "tools",
                                                 "extensions", "language", "x"]), JSONS, max_size=4))
def test_any_extensions_persona_is_imported_or_refused_never_a_crash(capsys, persona_home, tmp_path, persona,
                                                                    manifest):
    if "manifest" in persona:
        persona["manifest"] = manifest
    card = {"spec": "chara_card_v2", "spec_version": "2.0",
            "data": {"name": "Ada", "first_mes": "Hi.", "extensions": {"persona": persona}}}
    path = tmp_path / "card.json"
    path.write_text(json.dumps(card), encoding="utf-8")
    code = cli.main(["import", str(path), "--id", "ada", "--force"])
    err = capsys.readouterr().err
    assert code in (0, 2) and "internal error" not in err, err
    if code == 0:
        assert cli.main(["validate", str(persona_home / "personas" / "ada")]) == 0, capsys.readouterr().err
