"""Prompt assembly within the context window, counted with the scripted backend's
deterministic counter: words + 4 per message, + 2 per prompt."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from persona.context import assemble, to_model_message
from persona.conversation import Message
from persona.errors import InputError
from persona.models.scripted import ScriptedBackend

count = ScriptedBackend().count_tokens
PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def words(tag: str, n: int) -> str:
    return " ".join(f"{tag}{i}" for i in range(n))


def user(tag: str, n: int = 3) -> dict[str, str]:
    return {"role": "user", "content": words(tag, n)}


def bot(tag: str, n: int = 3) -> dict[str, str]:
    return {"role": "assistant", "content": words(tag, n)}


SYSTEM = {"role": "system", "content": words("sys", 10)}  # 14 tokens


def flat(groups: list[list[dict[str, str]]]) -> list[dict[str, str]]:
    return [m for g in groups for m in g]


def test_counter_is_words_plus_four_per_message_plus_two():
    assert count([]) == 2
    assert count([SYSTEM]) == 16
    assert count([SYSTEM, user("u", 0)]) == 20


# -- nothing to drop -------------------------------------------------------------

def test_context_keeps_everything_when_it_fits():
    examples = [[user("ea"), bot("eb")], [user("ec"), bot("ed")]]
    history = [bot("greet"), user("u1"), bot("b1"), user("u2"), bot("b2"), user("u3")]
    full = [SYSTEM] + flat(examples) + history
    for limit in (count(full), count(full) + 1, 10_000):  # exactly at the limit counts as fitting
        result, report = assemble(SYSTEM, examples, history, count, limit)
        assert result == full
        assert report.examples_used == 2
        assert report.examples_dropped == 0
        assert report.history_dropped == 0
        assert report.truncated is False
        assert report.notes == []
        assert report.prompt_tokens == count(full)
        assert report.limit == limit


def test_context_without_system_prompt_or_examples():
    history = [user("u1"), bot("b1"), user("u2")]
    result, report = assemble(None, [], history, count, 1000)
    assert result == history
    assert report.prompt_tokens == count(history)


def test_context_of_nothing_is_empty():
    result, report = assemble(None, [], [], count, 60)
    assert result == []
    assert report.prompt_tokens == 2


def test_context_does_not_modify_its_inputs():
    system = {"role": "system", "content": words("s", 300)}
    examples = [[user("ea", 50), bot("eb", 50)]]
    history = [user("u1", 50), bot("b1", 50), user("u2", 500)]
    saved = copy.deepcopy((system, examples, history))
    assemble(system, examples, history, count, 80)  # drops and shortens
    assert (system, examples, history) == saved


# -- what drops first ------------------------------------------------------------

def test_context_drops_examples_before_history():
    examples = [[user("ea", 40), bot("eb", 40)], [user("ec", 40), bot("ed", 40)]]
    history = [user("u1"), bot("b1"), user("u2"), bot("b2"), user("u3")]
    without_second = [SYSTEM] + examples[0] + history
    # 30 tokens of slack: less than an example costs, more than assemble's estimates
    # overshoot by (see test_context_drops_only_as_much_history_as_needed)
    result, report = assemble(SYSTEM, examples, history, count, count(without_second) + 30)
    assert result == without_second  # the later example went, all history stayed
    assert report.examples_dropped == 1
    assert report.examples_used == 1
    assert report.history_dropped == 0
    assert report.prompt_tokens == count(without_second)


def test_context_drops_every_example_before_any_history():
    examples = [[user("ea", 40), bot("eb", 40)], [user("ec", 40), bot("ed", 40)]]
    history = [user("u1"), bot("b1"), user("u2"), bot("b2"), user("u3")]
    no_examples = [SYSTEM] + history
    result, report = assemble(SYSTEM, examples, history, count, count(no_examples) + 30)
    assert result == no_examples
    assert report.examples_dropped == 2
    assert report.examples_used == 0
    assert report.history_dropped == 0


def test_context_drops_oldest_history_turns_first_and_keeps_the_newest_user_message():
    examples = [[user("ea"), bot("eb")]]
    old = [user("u1", 40), bot("b1", 40)]
    recent = [user("u2", 5), bot("b2", 5)]
    newest = user("u3", 20)
    history = old + recent + [newest]
    expected = [SYSTEM] + recent + [newest]
    result, report = assemble(SYSTEM, examples, history, count, count(expected) + 10)
    assert result == expected
    assert report.examples_dropped == 1
    assert report.history_dropped == 2  # messages, not turns
    assert report.truncated is False
    assert report.prompt_tokens == count(expected)


def test_context_drops_a_turn_whole_with_all_its_replies():
    # A turn is a user message and everything after it up to the next user message.
    history = [bot("greet", 30), user("u1", 30), bot("b1", 30), bot("b1x", 30), user("u2", 30), bot("b2"), user("u3")]
    result, report = assemble(SYSTEM, [], history, count, count([SYSTEM] + history[4:]) + 10)
    assert result == [SYSTEM] + history[4:]
    assert report.history_dropped == 4  # the greeting turn (1) and the u1 turn (3)


def test_context_always_keeps_the_system_prompt():
    history = [user("u1", 100), bot("b1", 100), user("u2", 5)]
    result, report = assemble(SYSTEM, [[user("ea", 100)]], history, count, count([SYSTEM, history[-1]]))
    assert result == [SYSTEM, history[-1]]
    assert report.examples_dropped == 1
    assert report.history_dropped == 2
    assert report.truncated is False


# -- last resort: shortening ---------------------------------------------------------

def test_context_shortens_a_huge_newest_message_to_fit():
    huge = user("w", 5000)
    history = [user("u1"), bot("b1"), huge]
    result, report = assemble(SYSTEM, [[user("ea"), bot("eb")]], history, count, 100)
    assert count(result) <= 100
    assert report.truncated is True
    assert report.notes  # the user is told
    assert result[0] == SYSTEM  # the short system prompt stays whole
    assert result[-1]["role"] == "user"
    assert huge["content"].endswith(result[-1]["content"])  # the end of the message, the part just typed
    assert 0 < len(result[-1]["content"]) < len(huge["content"])
    assert len(result) == 2
    assert report.examples_dropped == 1
    assert report.history_dropped == 2
    assert report.prompt_tokens == count(result)


def test_context_shortens_a_huge_system_prompt_from_the_end():
    system = {"role": "system", "content": words("s", 3000)}
    newest = user("u", 5)
    result, report = assemble(system, [], [newest], count, 120)
    assert count(result) <= 120
    assert report.truncated is True
    assert system["content"].startswith(result[0]["content"])  # the beginning of a prompt matters most
    assert result[-1] == newest


def test_context_raises_when_the_template_alone_is_over_the_limit():
    with pytest.raises(InputError, match="over the 5 tokens") as info:
        assemble(SYSTEM, [], [user("u", 1)], count, 5)
    assert "--max-tokens" in info.value.hint


@pytest.mark.parametrize("limit", [0, -808])
def test_context_refuses_a_reply_limit_at_or_over_the_window(limit):
    with pytest.raises(InputError, match="leaves 0 tokens") as info:
        assemble(SYSTEM, [], [user("u", 1)], count, limit)
    assert "max_new_tokens" in info.value.hint


# -- the invariants, for any conversation ------------------------------------------------

FILLERS = ["w", "word", "你好", "[bold]x[/bold]", "supercalifragilistic"]


def texts(max_words: int) -> st.SearchStrategy[str]:
    return st.builds(lambda word, n: " ".join([word] * n), st.sampled_from(FILLERS), st.integers(0, max_words))


SHORT, LONG, HUGE = texts(30), texts(60), texts(2000)
EXAMPLE = st.lists(st.builds(lambda role, text: {"role": role, "content": text},
                             st.sampled_from(["user", "assistant"]), SHORT), min_size=1, max_size=3)


def turn(seed: int) -> list[dict[str, str]]:
    """A user message and 0-2 replies of 0-30 words, all from one integer: long
    histories then cost hypothesis one draw per turn, not seven."""
    seed, replies = divmod(seed, 3)
    msgs = []
    for role in ["user"] + ["assistant"] * replies:
        seed, n = divmod(seed, 31)
        seed, w = divmod(seed, len(FILLERS))
        msgs.append({"role": role, "content": " ".join([FILLERS[w]] * n)})
    return msgs


@st.composite
def chats(draw):
    system = draw(st.one_of(st.none(), LONG.map(lambda t: {"role": "system", "content": t})))
    examples = draw(st.lists(EXAMPLE, max_size=4))
    history: list[dict[str, str]] = []
    if draw(st.booleans()):
        history.append({"role": "assistant", "content": draw(SHORT)})  # the character's greeting
    turns = draw(st.integers(0, 200))
    for seed in draw(st.lists(st.integers(0, 3 * (31 * len(FILLERS)) ** 3), min_size=turns, max_size=turns)):
        history += turn(seed)
    history.append({"role": "user", "content": draw(st.one_of(SHORT, HUGE))})  # the newest message
    limit = draw(st.integers(60, 4000))
    return system, examples, history, limit


def check_assembly(chat, count) -> None:
    """Everything assemble promises, for one input."""
    system, examples, history, limit = chat
    newest = history[-1]
    result, report = assemble(system, examples, history, count, limit)

    assert count(result) <= limit
    assert report.prompt_tokens == count(result)
    assert report.limit == limit

    # the newest user message is last, at worst shortened to its end
    assert result[-1]["role"] == "user"
    assert newest["content"].endswith(result[-1]["content"])
    if not report.truncated:
        assert result[-1] == newest

    # the system prompt is first, at worst shortened to its beginning
    if system is not None:
        assert result[0]["role"] == "system"
        assert system["content"].startswith(result[0]["content"])
        if not report.truncated:
            assert result[0] == system
        body = result[1:-1]
    else:
        body = result[:-1]

    # then a prefix of the examples, then the most recent part of the history
    used = flat(examples[:report.examples_used])
    assert body[:len(used)] == used
    kept_history = body[len(used):]
    assert report.examples_used + report.examples_dropped == len(examples)
    assert report.history_dropped + len(kept_history) == len(history) - 1
    assert kept_history == history[report.history_dropped:-1]
    if kept_history:  # whole turns only: a turn starts at a user message
        assert kept_history[0]["role"] == "user" or report.history_dropped == 0

    # examples go before any history, and nothing is shortened while anything could still go
    if report.history_dropped:
        assert report.examples_used == 0
    if report.truncated:
        assert report.examples_used == 0 and not kept_history
        assert report.notes
    if count([system] * (system is not None) + flat(examples) + history) <= limit:
        assert report.examples_dropped == report.history_dropped == 0 and not report.truncated


@PROPERTY
@given(chats())
def test_context_always_fits_and_ends_with_the_newest_user_message(chat):
    check_assembly(chat, count)


def count_with_growing_overhead(messages: list[dict[str, str]]) -> int:
    """A template whose overhead grows with the prompt, so counting messages one by
    one under-estimates and assemble's exact re-check has to do the dropping."""
    return count(messages) + len(messages) ** 2 // 8


@PROPERTY
@given(chats())
def test_context_fits_even_when_per_message_estimates_run_low(chat):
    check_assembly(chat, count_with_growing_overhead)


# -- what the model sees of tool traffic ------------------------------------------------

def test_function_call_is_shown_to_the_model_as_an_assistant_tool_call():
    msg = Message.function_call("get_weather", {"city": "上海"}, "call_1")
    out = to_model_message(msg)
    assert out["role"] == "assistant"
    assert out["content"].startswith("<tool_call>") and out["content"].endswith("</tool_call>")
    body = json.loads(out["content"][len("<tool_call>"):-len("</tool_call>")])
    assert body == {"name": "get_weather", "arguments": {"city": "上海"}}  # no call id in the model's view


def test_function_call_without_structured_call_shows_its_text():
    out = to_model_message(Message("function_call", "lookup(x)"))
    assert out == {"role": "assistant", "content": "<tool_call>lookup(x)</tool_call>"}


def test_observation_is_shown_to_the_model_as_a_tool_response():
    msg = Message("observation", '{"temp": 21}', tool_call={"name": "get_weather", "id": "call_1"})
    assert to_model_message(msg) == {"role": "tool", "content": '<tool_response>{"temp": 21}</tool_response>'}


@pytest.mark.parametrize("role", ["system", "user", "assistant"])
def test_plain_messages_are_shown_as_they_are(role):
    msg = Message(role, "[bold]hi[/bold] 你好", name="Ada", metadata={"x": 1})
    assert to_model_message(msg) == {"role": role, "content": "[bold]hi[/bold] 你好"}


# -- regressions ------------------------------------------------------------------------

TOOL_TURN = [
    Message("user", "What is the weather in Paris?"),
    Message.function_call("get_weather", {"city": "Paris"}, "c1"),
    Message("observation", '{"temp": 21}', tool_call={"name": "get_weather", "id": "c1"}),
]


def test_context_keeps_the_user_question_of_a_tool_turn():
    system = {"role": "system", "content": "You are a weather bot."}
    history = [to_model_message(m) for m in TOOL_TURN]
    # The whole newest turn needs 36 tokens; at 30 the module docstring says the newest
    # turn is kept and shortened, not cut in half.
    result, report = assemble(system, [], history, count, 30)
    assert report.history_dropped == 0
    # The question the tool response answers stays (its end, if shortened to fit).
    assert result[1]["role"] == "user" and history[0]["content"].endswith(result[1]["content"])
    assert result[-1] == history[-1] and count(result) <= 30


def test_context_drops_only_as_much_history_as_needed():
    history = [m for i in range(50) for m in (user(f"u{i}-", 1), bot(f"b{i}-", 1))] + [user("new", 1)]
    limit = count([SYSTEM] + history) - 1  # one turn over; dropping the oldest turn is enough
    result, report = assemble(SYSTEM, [], history, count, limit)
    assert report.history_dropped == 2, f"dropped {report.history_dropped} messages, 2 were enough"
    assert result == [SYSTEM] + history[2:]


# --- inserts at a depth (world info "@ D", the author's note, post-history) ------------------

def ins(content: str, depth: int, role: str = "system") -> dict:
    return {"role": role, "content": content, "depth": depth}


def test_an_insert_goes_depth_messages_before_the_end_zero_after_the_newest():
    history = [bot("g"), user("a"), bot("b"), user("c")]
    out, _ = assemble(SYSTEM, [], history, count, 500, inserts=[ins("at0", 0), ins("at2", 2), ins("at9", 9)])
    assert [m["content"] for m in out[1:]] == ["at9", history[0]["content"], history[1]["content"], "at2",
                                               history[2]["content"], history[3]["content"], "at0"]


def test_inserts_of_one_depth_and_role_are_one_message_and_never_split_a_tool_call_from_its_result():
    history = [user("a"), {"role": "assistant", "content": "<tool_call>{}</tool_call>"},
               {"role": "tool", "content": "<tool_response>4</tool_response>"}]
    out, _ = assemble(None, [], history, count, 500,
                      inserts=[ins("one", 1), ins("two", 1), ins("as user", 1, "user")])
    assert [(m["role"], m["content"]) for m in out] == [
        ("user", history[0]["content"]), ("system", "one\ntwo"), ("user", "as user"),
        ("assistant", "<tool_call>{}</tool_call>"), ("tool", "<tool_response>4</tool_response>")]


def test_inserts_leave_the_history_before_them_byte_stable_and_count_against_the_limit():
    turn1 = [bot("g"), user("a")]
    turn2 = turn1 + [bot("b"), user("c")]
    first, _ = assemble(SYSTEM, [], turn1, count, 500, inserts=[ins("note", 1)])
    second, report = assemble(SYSTEM, [], turn2, count, 500, inserts=[ins("note", 1)])
    assert second[:len(first) - 2] == first[:-2]
    assert report.prompt_tokens == count(second)
    tight, report = assemble(SYSTEM, [], turn2, count, count(second) - 1, inserts=[ins("note", 1)])
    assert {"role": "system", "content": "note"} in tight and report.history_dropped
