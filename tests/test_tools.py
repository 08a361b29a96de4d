"""Tool calls: parsing, validation, timeouts, bounded rounds, direct /commands."""

from __future__ import annotations

import json
import time

import pytest

from persona.engine import MAX_TOOL_ROUNDS, Engine
from persona.hookspecs import hookimpl
from persona.models.scripted import ScriptedBackend
from persona.packs import get_pack
from persona.store import Store
from persona.tools import Tool, ToolError, parse_tool_calls


def call(name: str, **arguments) -> str:
    return f'<tool_call>{json.dumps({"name": name, "arguments": arguments})}</tool_call>'


def setup(pm, replies, tools=("roll_dice", "clock", "calculator", "remember", "recall")):
    backend = ScriptedBackend(replies)
    engine = Engine(pm=pm, backend_loader=lambda ref, progress=None, **kw: backend)
    pack = get_pack("captain-mara")
    pack.tools = list(tools)
    pack.manifest["tools"] = {"allow": list(tools)}  # described in the prompt (the default)
    return engine, engine.new_chat(pack), backend


def roles(chat, n):
    return [m.role for m in chat.conversation.messages[-n:]]


def test_model_tool_call_runs_and_the_character_answers(pm):
    engine, chat, backend = setup(pm, [call("roll_dice", spec="2d6"), "Sevens again, by the tides!"])
    shown = []
    result = engine.turn(chat, "Roll for me, captain.", on_token=shown.append)
    assert result.reply == "Sevens again, by the tides!"
    assert roles(chat, 4) == ["user", "function_call", "observation", "assistant"]
    fc, obs = chat.conversation.messages[-3:-1]
    assert fc.tool_call["name"] == "roll_dice" and fc.tool_call["arguments"] == {"spec": "2d6"}
    assert obs.content.startswith("2d6: ") and obs.tool_call == {"name": "roll_dice", "id": fc.tool_call["id"]}
    assert "<tool_call>" not in "".join(shown)  # markup is never streamed to the user
    # The second generation saw the observation, in the tags small models know.
    assert any("<tool_response>2d6:" in m["content"] for m in backend.calls[1])
    sharegpt = chat.conversation.to_sharegpt()
    assert [t["from"] for t in sharegpt["conversations"][-4:]] == ["human", "function_call", "observation", "gpt"]
    stored = Store().load(chat.session_id)[1]
    assert [m.role for m in stored.messages[-4:]] == ["user", "function_call", "observation", "assistant"]


def test_bare_json_tool_call_is_understood(pm):
    engine, chat, _ = setup(pm, ['{"name": "calculator", "arguments": {"expression": "6*7"}}', "Forty-two."])
    engine.turn(chat, "six times seven?")
    assert chat.conversation.messages[-2].content == "6*7 = 42"


def test_tools_are_offered_only_from_the_allow_list(pm):
    engine, chat, backend = setup(pm, [call("clock"), "It is late."], tools=("roll_dice",))
    result = engine.turn(chat, "What time is it?")
    system = backend.calls[0][0]["content"]
    assert "roll_dice" in system and "clock(" not in system
    obs = chat.conversation.messages[-2]
    assert obs.metadata == {"error": True} and "unknown tool 'clock'" in obs.content
    assert result.messages[-1].metadata["notices"] == ["tool clock: unknown tool 'clock'; available: roll_dice"]


def test_schema_invalid_arguments_end_cleanly_with_a_notice(pm):
    engine, chat, _ = setup(pm, [call("roll_dice", dice=3), "Bah, my hands shake."])
    result = engine.turn(chat, "roll")
    assert result.reply == "Bah, my hands shake."
    assert "invalid arguments for roll_dice" in chat.conversation.messages[-2].content
    assert result.messages[-1].metadata["notices"][0].startswith("tool roll_dice: invalid arguments")


def test_tool_past_its_timeout_is_abandoned_and_the_turn_goes_on(pm):
    class Slow:
        @hookimpl
        def register_tools(self, register):
            register(Tool("nap", "sleeps", {"type": "object"}, lambda a, c: time.sleep(5) or "done", timeout=0.2))

    pm.register(Slow())
    engine, chat, _ = setup(pm, [call("nap"), "I dozed off."], tools=("nap",))
    result = engine.turn(chat, "sleep")
    assert result.reply == "I dozed off."
    assert chat.conversation.messages[-2].content == "error: nap timed out after 0.2 s"


def test_model_that_asks_for_tools_forever_is_stopped(pm):
    engine, chat, backend = setup(pm, [call("clock")])  # the same call, every time
    result = engine.turn(chat, "time?")
    assert len(backend.calls) == MAX_TOOL_ROUNDS + 1
    assert result.timings["tool_rounds"] == MAX_TOOL_ROUNDS
    assert result.reply == "…"
    assert f"tool calls stopped after {MAX_TOOL_ROUNDS} rounds" in result.messages[-1].metadata["notices"]


def test_denied_tool_call_is_not_run(pm):
    class Deny:
        @hookimpl
        def approve_tool_call(self, call):
            return False if call.name == "remember" else None

    pm.register(Deny())
    engine, chat, _ = setup(pm, [call("remember", text="secret"), "As you wish."])
    engine.turn(chat, "remember this")
    assert "was not approved" in chat.conversation.messages[-2].content
    assert Store().notes("captain-mara") == []  # the tool never ran


def test_user_calls_a_tool_directly_with_a_slash_command(pm):
    engine, chat, backend = setup(pm, ["Ha! A fine roll."])
    result = engine.turn(chat, "/roll 3d6+2")
    assert roles(chat, 4) == ["user", "function_call", "observation", "assistant"]
    assert chat.conversation.messages[-3].tool_call["arguments"] == {"spec": "3d6+2"}
    assert chat.conversation.messages[-2].content.startswith("3d6+2: ")
    assert result.reply == "Ha! A fine roll." and len(backend.calls) == 1


def test_remember_and_recall_persist_per_persona_across_sessions(pm):
    engine, chat, _ = setup(pm, ["Noted."])
    engine.turn(chat, "/remember the key is under the mat")
    engine2, chat2, _ = setup(pm, ["Aye."])
    engine2.turn(chat2, "/recall key")
    assert chat2.conversation.messages[-2].content == "- the key is under the mat"
    assert Store().notes("professor-thistle") == []


def test_calculator_refuses_anything_but_arithmetic(pm):
    from persona.plugins import make_manager

    engine = Engine(pm=make_manager(load_entrypoints=False), backend_loader=lambda r, p=None, **kw: ScriptedBackend())
    calc = engine.tools["calculator"].function
    assert calc({"expression": "(3 + 4) * 2 ^ 2"}, None) == "(3 + 4) * 2 ^ 2 = 28"
    for bad in ("__import__('os').system('true')", "open('x')", "9 ** 9 ** 9", "1/0", "x"):
        with pytest.raises(ToolError):
            calc({"expression": bad}, None)


@pytest.mark.parametrize("text,names,rest", [
    ('Aye. <tool_call>{"name": "clock", "arguments": {}}</tool_call>', ["clock"], "Aye."),
    ('<tool_call>{"name": "roll_dice", "arguments": "{\\"spec\\": \\"d20\\"}"}', ["roll_dice"], ""),
    ('{"name": "clock"}', ["clock"], ""),
    ("Just words {not json}", [], "Just words {not json}"),
    ("<tool_call>garbage</tool_call> hi", [], "hi"),
])
def test_parse_tool_calls(text, names, rest):
    visible, calls = parse_tool_calls(text)
    assert [c.name for c in calls] == names and visible == rest


@pytest.mark.slow
def test_ask_shows_the_tool_result_of_a_slash_command():
    from tests.conftest import run_cli

    proc = run_cli("ask", "captain-mara", "/roll 2d6", "--max-tokens", "1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("[roll_dice] 2d6: ")


def test_pack_can_keep_tools_out_of_the_prompt_and_still_offer_commands(pm):
    engine, chat, backend = setup(pm, ["Ha."], tools=("roll_dice",))
    chat.persona.manifest["tools"] = {"allow": ["roll_dice"], "prompt": False}
    engine.turn(chat, "/roll d20")
    assert "roll_dice" not in backend.calls[0][0]["content"]
    assert chat.conversation.messages[-2].content.startswith("d20: ")
