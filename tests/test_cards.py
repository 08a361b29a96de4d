"""Issue 11: Tavern character cards in and out, through the real CLI (``persona.cli.main`` in-process).

Fixtures are made here with Pillow and zipfile, except SillyTavern's own
Seraphina (a V2 PNG card with a 4-entry lorebook) and its Eldoria world info.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from persona import cli
from persona.engine import Engine
from persona.models.scripted import ScriptedBackend
from persona.packs import load_pack
from tests.conftest import MINIMAL, SHARED_DATA, write_pack

SERAPHINA = SHARED_DATA / "cards" / "seraphina.v2.png"
ELDORIA = SHARED_DATA / "cards" / "eldoria.worldinfo.json"


# -- helpers -----------------------------------------------------------------------------------


def b64(card: dict) -> str:
    return base64.b64encode(json.dumps(card, ensure_ascii=False).encode("utf-8")).decode("ascii")


def png_card(path: Path, chunks: dict[str, str], mode: str = "tEXt", size=(64, 96)) -> Path:
    """A PNG with the given text chunks (keyword → text), written by Pillow."""
    info = PngInfo()
    for key, value in chunks.items():
        if mode == "iTXt":
            info.add_itxt(key, value, zip=True)
        else:
            info.add_text(key, value, zip=mode == "zTXt")
    Image.new("1" if size[0] > 4096 else "RGB", size).save(path, "PNG", pnginfo=info)
    return path


def v2(name="Ada Finch", **data) -> dict:
    fields = {"name": name, "description": f"{name} is a lighthouse keeper.", "personality": "dry, kind",
              "scenario": "A storm night at the lighthouse.", "first_mes": "Shut the door, {{user}}.",
              "mes_example": "<START>\n{{user}}: Who are you?\n{{char}}: The keeper.\n<START>\n{{user}}: Tea?\n"
                             "{{char}}: Always.\nNot coffee.",
              "creator_notes": "Made for the storm collection.", "system_prompt": "", "post_history_instructions": "",
              "alternate_greetings": ["Mind the stairs."], "tags": ["sea"], "creator": "bea",
              "character_version": "1.2", "extensions": {"talkativeness": "0.5", "x_unknown": {"deep": [1, 2]}}}
    fields.update(data)
    return {"spec": "chara_card_v2", "spec_version": "2.0", "data": fields}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def imported(capsys, *argv: str) -> dict:
    code, out, err = run(capsys, "import", *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def refused(capsys, persona_home, *argv: str, needle: str = "") -> str:
    """exit 2 with one error and one hint line, and no pack folder (hidden ones included) left behind."""
    code, out, err = run(capsys, "import", *argv)
    lines = err.strip().splitlines()
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert sum(line.startswith("error: ") for line in lines) == 1, err
    assert sum(line.startswith("hint: ") for line in lines) == 1, err
    assert needle.lower() in err.lower(), err
    personas = persona_home / "personas"
    assert not personas.exists() or list(personas.iterdir()) == [], list(personas.iterdir())
    return err


def card_in_png(path: Path, chunk: str = "chara") -> dict:
    im = Image.open(path)
    im.load()
    return json.loads(base64.b64decode(im.text[chunk]))


def chat_turns(pack, messages: list[str]) -> list[dict | None]:
    """The lore each user message recorded, in a real turn with the scripted backend."""
    backend = ScriptedBackend(["Hm."])
    engine = Engine(backend_loader=lambda ref, progress=None, **kw: backend)
    chat = engine.new_chat(pack)
    out = []
    for text in messages:
        engine.turn(chat, text)
        user = [m for m in chat.conversation.messages if m.role == "user"][-1]
        out.append(user.metadata.get("lore"))
    return out


# -- Seraphina, SillyTavern's default character ------------------------------------------------


def test_seraphina_imports_with_her_description_greeting_and_lore(capsys, persona_home):
    report = imported(capsys, str(SERAPHINA))
    pack = load_pack(persona_home / "personas" / "seraphina")
    card = card_in_png(SERAPHINA)["data"]
    assert report["pack"] == "seraphina" and "png, chara_card_v2, 'chara' chunk" == report["format"]
    system = pack.system_prompt()
    assert "[Seraphina's Personality=" in system and "Seraphina's body=" in system
    assert "Scenario: You were attacked by beasts while wandering the magical forest of Eldoria." in system
    assert system.startswith("Write Seraphina's next reply in a fictional chat between Seraphina and User.")
    assert pack.greetings[0] == card["first_mes"]
    assert "ST Default Bot contest winner" not in system  # creator_notes never reach the prompt
    lore = json.loads((pack.path / "lore.json").read_text())
    assert [e["keys"][0] for e in lore["entries"]] == ["eldoria", "shadowfang", "glade", "power"]
    assert (pack.path / "avatar.png").is_file() and pack.avatar == pack.path / "avatar.png"
    assert report["not_honoured"] == []  # {{char}}, {{user}}, before_char entries: all understood
    code, out, err = run(capsys, "validate", str(pack.path))
    assert code == 0 and out.startswith("ok: seraphina"), err


def test_seraphinas_four_lorebook_entries_fire_on_their_keys_in_a_real_turn(capsys, persona_home):
    imported(capsys, str(SERAPHINA))
    pack = load_pack(persona_home / "personas" / "seraphina")
    asked = {"eldoria": "Where is Eldoria?", "shadowfang": "Are the beasts gone?", "glade": "Is this glade safe?",
             "power": "How does your magic work?"}
    for entry, message in asked.items():  # one chat each: entries' content may fire others (recursion)
        (lore,) = chat_turns(pack, [message])
        assert lore and entry in lore["fired"], (message, lore)


def test_seraphina_shows_her_creator_notes(capsys, persona_home):
    imported(capsys, str(SERAPHINA))
    code, out, _ = run(capsys, "show", "seraphina")
    assert code == 0 and "creator notes:" in out and "ST Default Bot contest winner" in out
    code, out, _ = run(capsys, "show", "seraphina", "--json")
    assert json.loads(out)["creator_notes"].startswith("ST Default Bot")


def test_seraphina_exported_and_reimported_is_the_same_pack_and_card(capsys, persona_home, tmp_path):
    imported(capsys, str(SERAPHINA))
    out = tmp_path / "sera.png"
    code, _, err = run(capsys, "export", "seraphina", "--format", "card-v2", "-o", str(out))
    assert code == 0, err
    chara, ccv3 = card_in_png(out, "chara"), card_in_png(out, "ccv3")
    assert chara["spec"] == "chara_card_v2" and ccv3["spec"] == "chara_card_v3" and ccv3["spec_version"] == "3.0"
    assert chara["data"]["extensions"].pop("persona")
    assert chara == card_in_png(SERAPHINA)  # every field, the V1 mirror and unknown extensions included
    imported(capsys, str(out), "--id", "sera-again")
    first, again = (load_pack(persona_home / "personas" / i) for i in ("seraphina", "sera-again"))
    assert (again.system, again.greetings, again.examples) == (first.system, first.greetings, first.examples)
    assert (again.path / "lore.json").read_text() == (first.path / "lore.json").read_text()
    assert {k: v for k, v in again.manifest.items() if k != "id"} == \
        {k: v for k, v in first.manifest.items() if k != "id"}


# -- card shapes -------------------------------------------------------------------------------


def test_v1_json_card_maps_its_fields_and_keeps_them_on_export(capsys, persona_home, tmp_path):
    v1 = {"name": "Old Tom", "description": "A ferryman.", "personality": "gruff", "scenario": "The river.",
          "first_mes": "Fare's a coin.", "mes_example": "{{user}}: Hi\n{{char}}: Coin first.", "talkativeness": 0.4}
    path = tmp_path / "tom.json"
    path.write_text(json.dumps(v1))
    report = imported(capsys, str(path))
    pack = load_pack(persona_home / "personas" / "old-tom")
    assert "chara_card_v1" in report["format"]
    assert pack.system == ("Write {{char}}'s next reply in a fictional chat between {{char}} and {{user}}.\n"
                           "A ferryman.\n{{char}}'s personality: gruff\nScenario: The river.")
    assert pack.greetings == ["Fare's a coin."]
    assert [m.content for m in pack.examples[0].messages] == ["Hi", "Coin first."]
    code, out, _ = run(capsys, "export", "old-tom", "--format", "card-v2", "-o", "-")
    card = json.loads(out)
    assert card["spec"] == "chara_card_v2" and card["data"]["name"] == "Old Tom"
    assert {k: card[k] for k in v1} == v1  # the V1 fields stay at the top, as SillyTavern keeps them


def test_v3_ccv3_png_with_nickname_and_post_history(capsys, persona_home, tmp_path):
    card = v2("Ada Finch", nickname="Ada", post_history_instructions="Stay terse.", group_only_greetings=["Hi all."],
              source=["https://example.org/ada"], creation_date=1700000000, assets=[
                  {"type": "icon", "uri": "ccdefault:", "name": "main", "ext": "png"}])
    card.update(spec="chara_card_v3", spec_version="3.0")
    report = imported(capsys, str(png_card(tmp_path / "ada.png", {"ccv3": b64(card)})))
    pack = load_pack(persona_home / "personas" / "ada-finch")
    assert "'ccv3' chunk" in report["format"]
    assert pack.manifest["post_history"] == "Stay terse." and pack.post_history == "Stay terse."
    assert pack.nickname == "Ada" and pack.manifest["nickname"] == "Ada"
    assert pack.system_prompt().startswith("Write Ada's next reply")  # {{char}} is the nickname
    assert "Stay terse." not in pack.system and "Made for the storm" not in pack.system
    assert any("group_only_greetings" in line for line in report["not_honoured"])
    assert {"source (card.json)", "creation_date (card.json)", "assets (card.json)"} <= set(report["kept"])
    code, _, err = run(capsys, "export", "ada-finch", "--format", "card-v3", "-o", str(tmp_path / "out.png"))
    assert code == 0, err
    back = card_in_png(tmp_path / "out.png", "ccv3")
    back["data"]["extensions"].pop("persona")
    assert back == card


def test_ccv3_wins_over_chara_when_both_are_present(capsys, persona_home, tmp_path):
    chunks = {"chara": b64(v2("Old Name")), "ccv3": b64({**v2("New Name"), "spec": "chara_card_v3"})}
    imported(capsys, str(png_card(tmp_path / "both.png", chunks)))
    assert [p.name for p in (persona_home / "personas").iterdir()] == ["new-name"]


@pytest.mark.parametrize("mode", ["zTXt", "iTXt"])
def test_compressed_text_chunks_are_read_too(capsys, persona_home, tmp_path, mode):
    imported(capsys, str(png_card(tmp_path / "z.png", {"chara": b64(v2())}, mode=mode)))
    assert load_pack(persona_home / "personas" / "ada-finch").greetings == ["Shut the door, {{user}}.",
                                                                             "Mind the stairs."]


def test_mes_example_becomes_sharegpt_example_dialogues(capsys, persona_home, tmp_path):
    path = tmp_path / "ada.json"
    path.write_text(json.dumps(v2()))
    imported(capsys, str(path))
    lines = (persona_home / "personas" / "ada-finch" / "examples.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"conversations": [{"from": "human", "value": "Who are you?"}, {"from": "gpt", "value": "The keeper."}]},
        {"conversations": [{"from": "human", "value": "Tea?"}, {"from": "gpt", "value": "Always.\nNot coffee."}]}]


def test_chinese_card_keeps_its_text_and_gets_a_usable_id(capsys, persona_home, tmp_path):
    card = v2("林黛玉", description="林黛玉是贾府的表小姐，聪慧敏感。", personality="多愁善感", scenario="大观园，春日。",
              first_mes="你来了，{{user}}。", alternate_greetings=[], mes_example="")
    path = tmp_path / "daiyu.json"
    path.write_text(json.dumps(card, ensure_ascii=False), encoding="utf-8")
    report = imported(capsys, str(path))
    pack = load_pack(persona_home / "personas" / report["pack"])
    assert report["pack"] == "daiyu" and pack.name == "林黛玉" and pack.language == "zh"
    assert "林黛玉是贾府的表小姐" in pack.system and "{{char}}'s personality: 多愁善感" in pack.system
    assert pack.greetings == ["你来了，{{user}}。"]


def test_text_generation_webui_yaml_character(capsys, persona_home, tmp_path):
    path = tmp_path / "Chiharu.yaml"
    path.write_text("name: Chiharu Yamada\ngreeting: |-\n  *Chiharu looks up* Oh, hi!\n"
                    "context: |-\n  Chiharu Yamada is a young computer engineer.\nyour_name: You\n"
                    "example_dialogue: |-\n  {{user}}: Hi\n  {{char}}: Hello!\n")
    report = imported(capsys, str(path))
    pack = load_pack(persona_home / "personas" / "chiharu-yamada")
    assert "yaml" in report["format"] and pack.greetings == ["*Chiharu looks up* Oh, hi!"]
    assert "Chiharu Yamada is a young computer engineer." in pack.system
    assert len(pack.examples) == 1 and any("your_name" in line for line in report["not_honoured"])


def test_report_names_macros_it_cannot_honour(capsys, persona_home, tmp_path):
    path = tmp_path / "ada.json"
    path.write_text(json.dumps(v2(first_mes="{{random:hi,hello}}, {{user}}! {{getvar::mood}}")))
    code, out, _ = run(capsys, "import", str(path))
    assert code == 0 and "not honoured:" in out and "macro {{getvar::mood}} (in first_mes)" in out
    assert "{{user}}" not in out.split("not honoured:")[1] and "random" not in out.split("not honoured:")[1]


def test_card_system_prompt_with_original_wraps_the_default(capsys, persona_home, tmp_path):
    path = tmp_path / "ada.json"
    path.write_text(json.dumps(v2(system_prompt="{{original}} Never break character.")))
    imported(capsys, str(path))
    system = load_pack(persona_home / "personas" / "ada-finch").system
    assert system.startswith("Write {{char}}'s next reply in a fictional chat between {{char}} and {{user}}. "
                             "Never break character.\nAda Finch is a lighthouse keeper.")


def test_existing_pack_is_kept_unless_force(capsys, persona_home, tmp_path):
    path = tmp_path / "ada.json"
    path.write_text(json.dumps(v2()))
    imported(capsys, str(path))
    code, _, err = run(capsys, "import", str(path))
    assert code == 2 and "already exists" in err and "--force" in err
    path.write_text(json.dumps(v2(first_mes="Changed.")))
    imported(capsys, str(path), "--force")
    assert load_pack(persona_home / "personas" / "ada-finch").greetings[0] == "Changed."
    assert [p.name for p in (persona_home / "personas").iterdir()] == ["ada-finch"]


# -- CHARX ---------------------------------------------------------------------------------------


def test_charx_carries_the_packs_lora_adapter_both_ways(capsys, persona_home, tmp_path):
    out = tmp_path / "mara.charx"
    code, _, err = run(capsys, "export", "mara-of-the-lantern", "--format", "charx", "-o", str(out))
    assert code == 0, err
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        card = json.loads(zf.read("card.json"))
    assert {"card.json", "assets/icon/images/main.png", "assets/x_persona_adapter/ai/adapter_model.safetensors",
            "assets/x_persona_adapter/ai/adapter_config.json"} == names  # no README, safetensors + config only
    assert card["spec"] == "chara_card_v3"
    report = imported(capsys, str(out))
    shipped = load_pack(Path(cli.__file__).resolve().parents[2] / "personas" / "mara-of-the-lantern")
    pack = load_pack(persona_home / "personas" / report["pack"])
    assert report["pack"] == "mara-of-the-lantern" and pack.adapter is not None
    assert (pack.adapter / "adapter_model.safetensors").read_bytes() == \
        (shipped.adapter / "adapter_model.safetensors").read_bytes()
    assert {k: v for k, v in pack.manifest.items() if k != "card"} == shipped.manifest
    assert (pack.system, pack.greetings) == (shipped.system, shipped.greetings)


def test_charx_icon_becomes_the_avatar(capsys, persona_home, tmp_path):
    icon = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 10, 10)).save(icon, "WEBP")
    card = {**v2(assets=[{"type": "icon", "uri": "embeded://assets/icon/images/main.webp", "name": "main",
                          "ext": "webp"}]), "spec": "chara_card_v3", "spec_version": "3.0"}
    path = zip_with(tmp_path / "ada.charx", {"card.json": json.dumps(card), "assets/icon/images/main.webp":
                                             icon.getvalue()})
    imported(capsys, str(path))
    avatar = Image.open(persona_home / "personas" / "ada-finch" / "avatar.png")
    assert avatar.format == "PNG" and avatar.size == (32, 32)


def zip_with(path: Path, members: dict[str, bytes | str], compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


# -- world info ----------------------------------------------------------------------------------


def test_eldoria_world_info_attaches_to_a_pack_and_fires(capsys, persona_home, tmp_path):
    write_pack(persona_home / "personas" / "guide", MINIMAL)
    report = imported(capsys, str(ELDORIA), "--to", "guide")
    pack = load_pack(persona_home / "personas" / "guide")
    book = json.loads(pack.lorebook.read_text())
    assert report["mapped"][0] == "4 world-info entries → lore.json ([lorebook] entries)"
    first = book["entries"][0]
    assert first["keys"] == ["eldoria", "wood", "forest", "magical forest"] and first["enabled"] is True
    assert first["insertion_order"] == 100 and first["position"] == "before_char" and first["id"] == 0
    assert first["extensions"]["position"] == 0
    lore = chat_turns(pack, ["Tell me of Eldoria.", "And the shadowfang?"])
    assert lore[0]["fired"] == ["eldoria"] and "shadowfang" in lore[1]["fired"], lore
    code, _, err = run(capsys, "import", str(ELDORIA), "--to", "guide")
    assert code == 2 and "already has a lorebook" in err


def test_world_info_keeps_fields_it_does_not_know(capsys, persona_home, tmp_path):
    write_pack(persona_home / "personas" / "guide", MINIMAL)
    wi = {"entries": {"7": {"uid": 7, "key": ["moon"], "keysecondary": [], "content": "The moon is red.",
                            "disable": True, "selectiveLogic": 2, "probability": 40, "useProbability": True,
                            "sticky": 2, "futureField": {"a": 1}, "position": 4, "depth": 2, "role": 1,
                            "vectorized": True}}}
    path = tmp_path / "moon.json"
    path.write_text(json.dumps(wi))
    report = imported(capsys, str(path), "--to", "guide")
    entry = json.loads((persona_home / "personas" / "guide" / "lore.json").read_text())["entries"][0]
    assert entry["enabled"] is False and entry["position"] == "after_char"
    assert entry["extensions"] == {"position": 4, "selectiveLogic": 2, "probability": 40, "useProbability": True,
                                   "sticky": 2, "futureField": {"a": 1}, "depth": 2, "role": 1,
                                   "vectorized": True}
    assert report["not_honoured"] == ["lorebook: 1 of 1 entries ask for vector (embedding) matching"]


def test_world_info_without_to_says_how_to_attach_it(capsys, persona_home):
    err = refused(capsys, persona_home, str(ELDORIA), needle="world-info")
    assert "--to" in err


# -- export --------------------------------------------------------------------------------------


def test_export_writes_the_default_file_name_in_the_current_folder(capsys, persona_home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "export", "captain-mara", "--format", "card-v3")
    assert code == 0, err
    card = card_in_png(tmp_path / "captain-mara.png", "ccv3")
    assert card["data"]["name"] == "Captain Mara" and card["data"]["first_mes"].startswith("Ahoy.")
    persona_ext = card["data"]["extensions"]["persona"]
    assert persona_ext["manifest"]["tools"]["allow"] == ["roll_dice", "clock"]
    assert persona_ext["avatar"] is False
    code, _, err = run(capsys, "export", "captain-mara", "--format", "card-v3")
    assert code == 2 and "already exists" in err


def test_captain_mara_goes_out_and_comes_back_equal(capsys, persona_home, tmp_path):
    out = tmp_path / "mara.png"
    assert run(capsys, "export", "captain-mara", "--format", "card-v2", "-o", str(out))[0] == 0
    report = imported(capsys, str(out))
    shipped = load_pack(Path(cli.__file__).resolve().parents[2] / "personas" / "captain-mara")
    pack = load_pack(persona_home / "personas" / report["pack"])
    assert {k: v for k, v in pack.manifest.items() if k != "card"} == shipped.manifest
    assert (pack.system, pack.greetings) == (shipped.system, shipped.greetings)
    assert [e.to_sharegpt() for e in pack.examples] == [e.to_sharegpt() for e in shipped.examples]
    assert json.loads(pack.lorebook.read_text()) == json.loads(shipped.lorebook.read_text())
    assert pack.avatar is None  # the placeholder picture is not an avatar


# -- bad input: error + hint, exit 2, nothing written --------------------------------------------


def test_png_without_a_card_is_refused(capsys, persona_home, tmp_path):
    refused(capsys, persona_home, str(png_card(tmp_path / "plain.png", {"Comment": "hello"})), needle="no character card")


@pytest.mark.parametrize("text", [b64(v2())[:-7], "!!!not base64***", base64.b64encode(b"\xff\xfe garbage").decode()])
def test_truncated_or_garbage_base64_chunk_is_refused(capsys, persona_home, tmp_path, text):
    refused(capsys, persona_home, str(png_card(tmp_path / "bad.png", {"chara": text})))


def test_truncated_png_is_refused(capsys, persona_home, tmp_path):
    data = png_card(tmp_path / "ok.png", {"chara": b64(v2())}).read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    refused(capsys, persona_home, str(tmp_path / "cut.png"))


@pytest.mark.parametrize("payload", ["[1, 2, 3]", '"a card"', "42"])
def test_card_json_that_is_not_an_object_is_refused(capsys, persona_home, tmp_path, payload):
    path = tmp_path / "card.json"
    path.write_text(payload)
    refused(capsys, persona_home, str(path), needle="not an object") if payload.startswith("[") else \
        refused(capsys, persona_home, str(path))
    refused(capsys, persona_home, str(png_card(tmp_path / "c.png", {"chara": base64.b64encode(payload.encode()).decode()})),
            needle="not an object")


def test_deeply_nested_card_json_is_refused(capsys, persona_home, tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"name": "x", "data": ' + "[" * 5000 + "]" * 5000 + "}")
    refused(capsys, persona_home, str(path), needle="nests")


def test_charx_zip_bomb_is_refused_before_it_is_unpacked(capsys, persona_home, tmp_path):
    path = zip_with(tmp_path / "bomb.charx", {"card.json": json.dumps(v2()), "assets/other/other/pad.txt":
                                              b"\0" * (64 * 2**20)})
    assert path.stat().st_size < 2**20
    refused(capsys, persona_home, str(path), needle="zip bomb")


@pytest.mark.parametrize("name", ["../escape.png", "assets/../../escape.png", "/etc/cron.d/x", "C:/x.png",
                                  "assets\\..\\..\\x.png"])
def test_charx_member_leaving_the_folder_is_refused(capsys, persona_home, tmp_path, name):
    path = zip_with(tmp_path / "evil.charx", {"card.json": json.dumps(v2()), name: b"x"})
    refused(capsys, persona_home, str(path), needle="leave the folder")
    assert not (tmp_path.parent / "escape.png").exists()


@pytest.mark.parametrize("name", ["assets/x_persona_adapter/ai/adapter_model.bin", "assets/other/ai/model.ckpt",
                                  "assets/other/ai/model.pt"])
def test_charx_with_weights_that_are_not_safetensors_is_refused(capsys, persona_home, tmp_path, name):
    path = zip_with(tmp_path / "w.charx", {"card.json": json.dumps(v2()), name: b"\x80\x04pickle"})
    refused(capsys, persona_home, str(path), needle="not safetensors")


@pytest.mark.parametrize("name", ["module.risum", "assets/other/code/trigger.lua", "assets/x/code/app.js"])
def test_charx_with_scripts_is_refused_and_names_them(capsys, persona_home, tmp_path, name):
    path = zip_with(tmp_path / "s.charx", {"card.json": json.dumps(v2()), name: b"print('hi')"})
    err = refused(capsys, persona_home, str(path), needle="scripts")
    assert name in err


def test_charx_without_card_json_is_refused(capsys, persona_home, tmp_path):
    refused(capsys, persona_home, str(zip_with(tmp_path / "e.charx", {"x.json": "{}"})), needle="card.json")


def test_fifty_megabyte_description_is_refused(capsys, persona_home, tmp_path):
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(v2(description="a" * (50 * 2**20))))
    refused(capsys, persona_home, str(path), needle="MiB")


def test_fifty_megabyte_description_in_a_compressed_chunk_is_refused(capsys, persona_home, tmp_path):
    path = png_card(tmp_path / "huge.png", {"chara": b64(v2(description="a" * (50 * 2**20)))}, mode="zTXt")
    assert path.stat().st_size < 2**20
    refused(capsys, persona_home, str(path))


def test_two_megabyte_description_is_refused_with_the_field_named(capsys, persona_home, tmp_path):
    path = tmp_path / "big.json"
    path.write_text(json.dumps(v2(description="a" * (2 * 2**20))))
    refused(capsys, persona_home, str(path), needle="description")


def test_card_field_of_the_wrong_type_is_refused(capsys, persona_home, tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps(v2(first_mes=["not", "text"])))
    refused(capsys, persona_home, str(path), needle="first_mes")


def test_yaml_with_aliases_is_refused(capsys, persona_home, tmp_path):
    path = tmp_path / "laughs.yaml"
    path.write_text("a: &a [x, x, x]\nb: &b [*a, *a, *a]\nname: *b\n")
    refused(capsys, persona_home, str(path), needle="alias")


def test_bad_pack_id_is_refused(capsys, persona_home, tmp_path):
    path = tmp_path / "ada.json"
    path.write_text(json.dumps(v2()))
    refused(capsys, persona_home, str(path), "--id", "../up", needle="not a pack id")


def test_post_history_instructions_reach_the_model_after_the_chat(capsys, persona_home, tmp_path):
    path = tmp_path / "ada.json"
    path.write_text(json.dumps(v2(post_history_instructions="Answer in one line, {{user}}.")))
    imported(capsys, str(path))
    pack = load_pack(persona_home / "personas" / "ada-finch")
    backend = ScriptedBackend(["Aye."])
    engine = Engine(backend_loader=lambda ref, progress=None, **kw: backend)
    engine.turn(engine.new_chat(pack), "Is the lamp lit?")
    sent = backend.calls[-1]
    where = [i for i, m in enumerate(sent) if "Answer in one line, User." in m["content"]]
    asked = [i for i, m in enumerate(sent) if m["role"] == "user" and "Is the lamp lit?" in m["content"]]
    assert where and asked and where[0] >= asked[-1] and where[0] != 0, sent


def test_damaged_charx_member_is_an_error_not_a_crash(capsys, persona_home, tmp_path):
    path = zip_with(tmp_path / "d.charx", {"card.json": json.dumps(v2()) + " " * 4000})
    data = bytearray(path.read_bytes())
    data[60:90] = b"\xff" * 30  # inside card.json's deflate stream
    path.write_bytes(bytes(data))
    refused(capsys, persona_home, str(path))


def test_mutated_cards_are_imported_or_refused_never_a_crash(capsys, persona_home, tmp_path):
    import random

    rng = random.Random(11)
    png = png_card(tmp_path / "ok.png", {"chara": b64(v2())}, mode="zTXt").read_bytes()
    charx = zip_with(tmp_path / "ok.charx", {"card.json": json.dumps({**v2(), "spec": "chara_card_v3"})}).read_bytes()
    for i in range(90):
        data = bytearray([png, charx, json.dumps(v2()).encode()][i % 3])
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(data))
            if rng.random() < 0.6:
                data[pos] = rng.randrange(256)
            else:
                del data[pos:pos + rng.randint(1, 40)]
        path = tmp_path / f"m{i}"
        path.write_bytes(bytes(data))
        code, _, err = run(capsys, "import", str(path), "--id", "fuzz", "--force")
        assert code in (0, 2) and "internal error" not in err, (i, err)


def test_pack_with_a_bare_list_lorebook_exports_it_as_a_character_book(capsys, persona_home, tmp_path):
    entries = [{"keys": ["gull"], "content": "The Black Gull sank."}]
    write_pack(persona_home / "personas" / "gulls", MINIMAL + '[lorebook]\nentries = "lore.json"\n',
               {"lore.json": json.dumps(entries)})
    code, out, err = run(capsys, "export", "gulls", "--format", "card-v2", "-o", "-")
    assert code == 0, err
    assert json.loads(out)["data"]["character_book"] == {"entries": entries}


def test_cmyk_jpeg_icon_becomes_a_png_avatar(capsys, persona_home, tmp_path):
    icon = io.BytesIO()
    Image.new("CMYK", (16, 16), (0, 128, 255, 0)).save(icon, "JPEG")
    card = {**v2(assets=[{"type": "icon", "uri": "embeded://assets/icon/images/main.jpg", "name": "main",
                          "ext": "jpeg"}]), "spec": "chara_card_v3", "spec_version": "3.0"}
    imported(capsys, str(zip_with(tmp_path / "c.charx", {"card.json": json.dumps(card),
                                                         "assets/icon/images/main.jpg": icon.getvalue()})))
    assert Image.open(persona_home / "personas" / "ada-finch" / "avatar.png").mode == "RGBA"
    assert run(capsys, "export", "ada-finch", "--format", "charx", "-o", str(tmp_path / "out.charx"))[0] == 0


def test_png_over_the_pixel_bound_is_refused_before_its_pixels_are_unpacked(capsys, persona_home, tmp_path):
    path = png_card(tmp_path / "wide.png", {"chara": b64(v2())}, size=(5000, 5000))
    assert path.stat().st_size < 2**20
    refused(capsys, persona_home, str(path), needle="pixels")


def test_charx_with_a_hostile_adapter_is_refused_and_writes_nothing(capsys, persona_home, tmp_path):
    card = {**v2(), "spec": "chara_card_v3", "spec_version": "3.0"}
    path = zip_with(tmp_path / "a.charx", {
        "card.json": json.dumps(card),
        "assets/x_persona_adapter/ai/adapter_config.json": json.dumps({"peft_type": "LORA", "r": 8}),
        "assets/x_persona_adapter/ai/adapter_model.safetensors": b"PK\x03\x04 not a safetensors file"})
    refused(capsys, persona_home, str(path), needle="adapter")


def test_import_as_a_user_runs_it(tmp_path, persona_home):
    from tests.conftest import run_cli

    proc = run_cli("import", str(SERAPHINA), "--id", "sera")
    assert proc.returncode == 0, proc.stderr
    assert "imported" in proc.stdout and "chat with it: persona chat sera" in proc.stdout
    proc = run_cli("validate", str(persona_home / "personas" / "sera"))
    assert proc.returncode == 0 and proc.stdout.startswith("ok: sera"), proc.stderr


def test_card_modules_import_no_image_yaml_or_model_library_at_module_level():
    import subprocess
    import sys

    code = ("import sys, persona.cli, persona.cli.cards, persona.cards.read, persona.cards.charx, "
            "persona.cards.mapping, persona.cards.install, persona.cards.export, persona.cards.worldinfo\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PIL', 'yaml', 'torch', 'textual')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_a_fifo_is_refused_without_waiting_for_a_writer(capsys, persona_home, tmp_path):
    import os

    os.mkfifo(tmp_path / "card.png")
    refused(capsys, persona_home, str(tmp_path / "card.png"), needle="not a regular file")


def test_report_says_which_model_and_safety_level_an_exported_pack_brings(capsys, persona_home, tmp_path):
    out = tmp_path / "mara.png"
    assert run(capsys, "export", "captain-mara", "--format", "card-v2", "-o", str(out))[0] == 0
    report = imported(capsys, str(out), "--id", "mara2")
    assert "  [model] base = smollm2-135m" in report["mapped"]
    assert "  [extensions.safety] level = standard" in report["mapped"]


@pytest.mark.parametrize("manifest", [{"x": None}, {"lorebook": "lore.json"}, {"model": ["a"]},
                                      {"sampling": {"temperature": 99}}, {"id": "../x"}, "not a table"])
def test_hostile_extensions_persona_is_refused_or_ignored_never_a_crash(capsys, persona_home, tmp_path, manifest):
    path = tmp_path / "h.json"
    path.write_text(json.dumps(v2(extensions={"persona": {"version": 1, "manifest": manifest}})))
    code, _, err = run(capsys, "import", str(path))
    assert code in (0, 2) and "internal error" not in err, err
    if code == 2:
        assert err.startswith("error: ") and "hint: " in err
        assert not (persona_home / "personas").exists() or list((persona_home / "personas").iterdir()) == []
    else:
        assert run(capsys, "validate", str(persona_home / "personas" / "ada-finch"))[0] == 0
