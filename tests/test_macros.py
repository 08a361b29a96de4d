"""SillyTavern macros in card text: each macro, seeds, {{pick}} per chat, bounds, `persona validate`."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from persona import macros
from persona.cli import main
from persona.engine import Engine
from persona.macros import MAX_CHOICES, MAX_GROWTH, MAX_MACROS, MacroContext, Stats, expand
from persona.models.scripted import ScriptedBackend
from persona.packs import get_pack, load_pack

from .conftest import write_pack

NOON = datetime(2026, 12, 1, 15, 5)  # a Tuesday
CTX = MacroContext(char="Mara", user="Ann", chat_id="chat-1", clock=lambda: NOON)


def test_char_and_user_in_any_case_and_spacing():
    assert expand("{{char}} meets {{user}}; {{ CHAR }} / {{User}}", CTX) == "Mara meets Ann; Mara / Ann"


def test_legacy_tavern_tags_are_expanded_as_sillytavern_does():
    assert expand("<USER> and <bot>, <CHAR>", CTX) == "Ann and Mara, Mara"


def test_clock_macros_use_sillytavern_formats():
    assert expand("{{time}} on {{weekday}}, {{date}}", CTX) == "3:05 PM on Tuesday, December 1, 2026"
    assert expand("{{isodate}} {{isotime}}", CTX) == "2026-12-01 15:05"


def test_comment_newline_and_noop():
    assert expand("a{{// a note for {{char}}, not the model }}b{{newline}}c{{noop}}", CTX) == "ab\nc"


def test_last_message_and_idle_duration():
    ctx = MacroContext(last_message="Ahoy!", idle_seconds=2 * 3600)
    assert expand("{{lastMessage}} after {{idle_duration}}", ctx) == "Ahoy! after 2 hours"
    assert expand("{{idle_duration}}", MacroContext()) == "just now"
    assert [macros.humanize(s) for s in (10, 60, 600, 4000, 86400, 40 * 86400)] == \
        ["a few seconds", "a minute", "10 minutes", "an hour", "a day", "a month"]


@pytest.mark.parametrize("text, allowed", [
    ("{{random:red,green,blue}}", {"red", "green", "blue"}),
    ("{{random::red, dark::green}}", {"red, dark", "green"}),
    ("{{random: a\\, b , c }}", {"a, b", "c"}),
    ("{{pick:red,green,blue}}", {"red", "green", "blue"}),
    ("{{pick::x::y}}", {"x", "y"}),
])
def test_random_and_pick_choose_from_both_list_forms(text, allowed):
    for seed in range(20):
        assert expand(text, MacroContext(seed=seed, chat_id=str(seed))) in allowed


def test_roll_totals_stay_in_range_and_bad_formulas_stay_as_written():
    for seed in range(50):
        ctx = MacroContext(seed=seed)
        assert 2 <= int(expand("{{roll:2d6}}", ctx)) <= 12
        assert 1 <= int(expand("{{roll:d20}}", ctx)) <= 20
        assert 1 <= int(expand("{{roll 20}}", ctx)) <= 20
        assert 5 <= int(expand("{{roll:1d4+4}}", ctx)) <= 8
    for bad in ("{{roll:1000d6}}", "{{roll:2d0}}", "{{roll:abc}}", "{{roll:9999999999d6}}"):
        assert expand(bad, CTX) == bad
        assert macros.unknown(bad) == [bad]


def test_a_seed_reproduces_random_and_roll_and_each_turn_draws_anew():
    text = "{{random:" + ",".join(map(str, range(100))) + "}} {{roll:3d100}}"
    first = expand(text, MacroContext(seed=7, turn=3))
    assert expand(text, MacroContext(seed=7, turn=3)) == first
    assert len({expand(text, MacroContext(seed=7, turn=t)) for t in range(10)}) > 1
    assert len({expand(text, MacroContext(seed=s)) for s in range(10)}) > 1


def test_pick_is_stable_for_a_chat_and_differs_by_place_and_chat():
    text = "{{pick:" + ",".join(map(str, range(1000))) + "}}"
    picks = {expand(text, MacroContext(chat_id="c1", seed=s, turn=s)) for s in range(10)}
    assert len(picks) == 1  # neither the turn nor --seed moves it
    assert len({expand(text, MacroContext(chat_id=f"c{i}")) for i in range(10)}) > 1
    pairs = [expand(text + " " + text, MacroContext(chat_id=f"c{i}")).split() for i in range(10)]
    assert any(a != b for a, b in pairs)  # each place in the text picks on its own


def test_inner_macros_expand_first():
    assert expand("{{random:{{char}},{{char}}}}", CTX) == "Mara"


def test_unknown_macros_are_left_as_written_and_listed():
    text = "{{char}} {{mystery}} {{getvar::x}} {{ {{ }} }} {{{char}}} {{unclosed"
    assert expand(text, CTX) == "Mara {{mystery}} {{getvar::x}} {{ {{ }} }} {Mara} {{unclosed"
    assert macros.unknown(text) == ["{{mystery}}", "{{getvar::x}}", "{{ }}", "{{ {{ }} }}"]


def test_a_hundred_thousand_macros_are_bounded_and_linear():
    def run(n):
        stats = Stats()
        out = expand("{{char}}" * n, CTX, stats)
        return stats, out

    small, _ = run(50_000)
    big, out = run(100_000)
    assert big.macros == MAX_MACROS and small.macros == MAX_MACROS
    assert out.startswith("Mara" * MAX_MACROS) and out.endswith("{{char}}")  # the rest left as written
    assert big.steps <= 2.2 * small.steps and big.steps <= 4 * len("{{char}}" * 100_000)


def test_output_growth_is_bounded():
    stats = Stats()
    out = expand("{{lastMessage}}" * 5_000, MacroContext(last_message="x" * 10_000), stats)
    assert len(out) <= len("{{lastMessage}}" * 5_000) + MAX_GROWTH


def test_huge_random_list_uses_a_bounded_number_of_choices():
    text = "{{random:" + ",".join(str(i) for i in range(200_000)) + "}}"
    for seed in range(20):
        assert int(expand(text, MacroContext(seed=seed))) < MAX_CHOICES


def test_deep_nesting_and_brace_floods_are_linear():
    for flood in ("{{" * 50_000 + "}}" * 50_000, "{" * 100_000, "}}" * 50_000, "{{x" * 30_000):
        stats = Stats()
        out = expand(flood, CTX, stats)
        assert stats.steps <= 12 * len(flood) and len(out) <= len(flood) + MAX_GROWTH


# -- in packs and chats -----------------------------------------------------------------


PACK = """spec = "persona-pack"
spec_version = "1"
name = "Mara"
greetings = ["Ahoy {{user}}, it is {{weekday}}. {{pick:sun,rain,fog,snow,wind,hail}}"]
system = "You are {{char}}. {{// authors only }}Weather: {{pick:sun,rain,fog,snow,wind,hail}}. Last: {{lastMessage}}. Idle: {{idle_duration}}. Die: {{roll:d1000000}}."
"""


def engine_with(pm, replies=("Aye.",)) -> tuple[Engine, ScriptedBackend]:
    backend = ScriptedBackend(list(replies))
    return Engine(pm=pm, backend_loader=lambda ref, progress=None, **kw: backend), backend


def test_persona_render_keeps_its_signature_and_uses_the_nickname(tmp_path):
    pack = load_pack(write_pack(tmp_path / "m", PACK))
    assert pack.render("{{char}} and {{user}}", "Ann") == "Mara and Ann"
    pack.nickname = "Captain"
    assert pack.render("{{char}}") == "Captain"


def test_a_turn_renders_the_system_prompt_with_chat_macros(pm, tmp_path):
    engine, backend = engine_with(pm, ["One.", "Two."])
    pack = load_pack(write_pack(tmp_path / "m", PACK))
    chat = engine.new_chat(pack)
    greeting = chat.conversation.messages[1].content
    assert "{{" not in greeting and "Ahoy User" in greeting
    clock = [1_000_000.0]
    engine.clock = lambda: clock[0]
    engine.turn(chat, "first words", seed=3)
    clock[0] += 3 * 3600
    engine.turn(chat, "second words", seed=3)
    first, second = (call[0]["content"] for call in backend.calls)
    assert "authors only" not in first and "Last: first words. Idle: just now." in first
    assert "Last: second words. Idle: 3 hours." in second
    weather = {s.split("Weather: ")[1].split(".")[0] for s in (first, second)}
    assert len(weather) == 1 and weather <= {"sun", "rain", "fog", "snow", "wind", "hail"}
    resumed = engine_with(pm)[0].resume(chat.session_id, pack)
    assert engine.macro_context(resumed).chat_id == chat.session_id  # a resumed chat keeps its picks


def test_seeded_turns_reproduce_the_rolled_prompt(pm, tmp_path):
    pack = load_pack(write_pack(tmp_path / "m", PACK))
    prompts = []
    for _ in range(2):
        engine, backend = engine_with(pm)
        engine.turn(engine.new_chat(pack), "hi", seed=11)
        prompts.append(backend.calls[0][0]["content"].split("Die: ")[1])
    assert prompts[0] == prompts[1]


def test_examples_and_lore_are_rendered_for_the_chat_user(pm, tmp_path):
    from persona.user_personas import UserPersona

    lore = {"entries": [{"keys": ["ship"], "content": "{{char}} once sailed with {{user}}. {{// secret }}"}]}
    example = {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Ahoy, {{user}}."}]}
    folder = write_pack(tmp_path / "m", PACK + 'examples = "ex.jsonl"\n[lorebook]\nentries = "lore.json"\n',
                        {"lore.json": json.dumps(lore), "ex.jsonl": json.dumps(example) + "\n"})
    backend = ScriptedBackend(["Aye."])
    engine = Engine(pm=pm, backend_loader=lambda *a, **k: backend, user=UserPersona("Ann"))
    engine.turn(engine.new_chat(load_pack(folder)), "Tell me about the ship")
    sent = backend.calls[0]
    assert "Mara once sailed with Ann." in sent[0]["content"] and "secret" not in sent[0]["content"]
    assert {"role": "assistant", "content": "Ahoy, Ann."} in sent


def test_post_history_text_is_rendered_for_the_turn(pm, tmp_path):
    from persona.user_personas import UserPersona

    folder = write_pack(tmp_path / "m", PACK.replace('name = "Mara"', 'name = "Mara"\n'
                        'post_history = "Stay {{char}}. {{user}} said: {{lastMessage}}"'))
    backend = ScriptedBackend(["Aye."])
    engine = Engine(pm=pm, backend_loader=lambda *a, **k: backend, user=UserPersona("Ann"))
    engine.turn(engine.new_chat(load_pack(folder)), "hello there")
    assert {"role": "system", "content": "Stay Mara. Ann said: hello there"} in backend.calls[0]


def test_a_plugin_render_during_a_turn_gets_the_turn_context(pm):
    engine, _ = engine_with(pm)
    pack = get_pack("captain-mara")
    chat = engine.new_chat(pack)
    with macros.using(engine.macro_context(chat)):
        assert pack.render("{{user}}", "stale name") == "User"
    assert pack.render("{{user}}", "Ann") == "Ann"


# -- persona validate ---------------------------------------------------------------------


def test_validate_warns_about_unknown_macros_and_exits_0(tmp_path, capsys):
    manifest = PACK.replace("You are {{char}}.", "You are {{char}}. {{getvar::mood}}")
    folder = write_pack(tmp_path / "odd", manifest.replace('name = "Mara"', 'name = "Mara"\npost_history = "{{roll:0d6}}"'),
                        {"lore.json": json.dumps({"entries": [{"keys": ["ship"], "content": "{{shipname}} sails."}]})})
    with open(folder / "persona.toml", "a") as fh:
        fh.write('\n[lorebook]\nentries = "lore.json"\n')
    assert main(["validate", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("ok: odd")
    assert "warning: odd: unknown macros, left as written: {{getvar::mood}}, {{roll:0d6}}, {{shipname}}" in err


def test_validate_is_quiet_when_every_macro_is_known(tmp_path, capsys):
    assert main(["validate", str(write_pack(tmp_path / "m", PACK))]) == 0
    assert "unknown macros" not in capsys.readouterr().err
