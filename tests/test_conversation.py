"""Conversations survive their ShareGPT and OpenAI forms without losing anything."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from persona.conversation import Conversation, Message

PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- strategies ----------------------------------------------------------------

# Text the engine really sees: anything unicode, plus the awkward cases named on
# purpose so every run meets them (empty, Chinese, Rich markup, template tags,
# text that looks like a tool call).
SPECIAL_TEXT = st.sampled_from([
    "",
    " ",
    "你好，世界！今天天气怎么样？",
    "[bold]red[/bold] [/] \\[not markup]",
    "{{user}} and {{char}}",
    "<tool_call>{\"name\": \"x\"}</tool_call>",
    '{"name": "lookup", "arguments": {"q": 1}}',
    "line one\nline two\r\n\ttabbed",
    "emoji 😀👍🏽 and RTL עברית",
    "null",
])
TEXT = st.one_of(SPECIAL_TEXT, st.text(max_size=40))
NAMES = st.one_of(st.none(), TEXT)
CALL_IDS = st.one_of(st.none(), st.text(min_size=1, max_size=12))

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(TEXT, children, max_size=3)),
    max_leaves=5,
)
JSON_DICTS = st.dictionaries(TEXT, JSON_VALUES, max_size=3)


@st.composite
def plain_messages(draw, role: str) -> Message:
    return Message(role, draw(TEXT), name=draw(NAMES), metadata=draw(JSON_DICTS))


@st.composite
def function_calls(draw) -> Message:
    msg = Message.function_call(draw(TEXT), draw(JSON_DICTS), draw(CALL_IDS))
    msg.name = draw(NAMES)
    msg.metadata = draw(JSON_DICTS)
    return msg


@st.composite
def observations(draw) -> Message:
    tool_call = draw(st.one_of(
        st.none(),
        st.fixed_dictionaries({"name": TEXT, "id": st.text(min_size=1, max_size=12)}),
        st.fixed_dictionaries({"name": TEXT}),
    ))
    return Message("observation", draw(TEXT), name=draw(NAMES), tool_call=tool_call, metadata=draw(JSON_DICTS))


ANY_MESSAGE = st.one_of(
    plain_messages("user"),
    plain_messages("assistant"),
    plain_messages("system"),  # a system turn in the middle of a chat
    function_calls(),
    observations(),
)

TOOLS = st.lists(
    st.fixed_dictionaries({
        "name": TEXT,
        "description": TEXT,
        "parameters": st.fixed_dictionaries({"type": st.just("object"), "properties": JSON_DICTS}),
    }),
    max_size=2,
)


@st.composite
def conversations(draw, with_tools: bool = True) -> Conversation:
    messages = []
    if draw(st.booleans()):
        # A leading system prompt: its name is not drawn, see
        # test_sharegpt_keeps_the_name_of_a_leading_system_message below.
        messages.append(Message("system", draw(TEXT), metadata=draw(JSON_DICTS)))
    messages += draw(st.lists(ANY_MESSAGE, max_size=10))
    if messages and messages[0].role == "system":
        messages[0].name = None
    tools = draw(TOOLS) if with_tools else []
    return Conversation(messages=messages, tools=tools)


def through_json(data):
    """What a file on disk gives back."""
    return json.loads(json.dumps(data, ensure_ascii=False))


# -- round trips ---------------------------------------------------------------

@PROPERTY
@given(conversations())
def test_sharegpt_round_trip_is_lossless(conv):
    before = copy.deepcopy(conv)
    data = conv.to_sharegpt()
    assert conv == before  # exporting does not touch the conversation
    assert Conversation.from_sharegpt(data) == before
    # ... and through a JSON file, in either encoding
    for ascii_only in (True, False):
        text = json.dumps(data, ensure_ascii=ascii_only)
        assert Conversation.from_sharegpt(json.loads(text)) == before
    # roles: the LLaMA-Factory four, plus "system" only for a system turn that is not first
    roles = {turn["from"] for turn in data["conversations"]}
    assert roles <= {"human", "gpt", "function_call", "observation", "system"}
    later_system = any(m.role == "system" for m in conv.messages[1:])
    assert ("system" in roles) == later_system
    assert ("system" in data) == (conv.system is not None)


@PROPERTY
@given(conversations(with_tools=False))
def test_openai_round_trip_is_lossless(conv):
    before = copy.deepcopy(conv)
    items = conv.to_openai()
    assert conv == before
    assert Conversation.from_openai(items) == before
    assert Conversation.from_openai(through_json(items)) == before
    # the shape is OpenAI's: tool traffic as assistant tool_calls and "tool" messages
    assert [i["role"] for i in items] == [
        {"function_call": "assistant", "observation": "tool"}.get(m.role, m.role) for m in conv.messages
    ]
    for item, msg in zip(items, conv.messages, strict=True):
        if msg.role == "function_call":
            (call,) = item["tool_calls"]
            assert call["type"] == "function"
            assert call["function"]["name"] == msg.tool_call["name"]
            assert json.loads(call["function"]["arguments"]) == msg.tool_call["arguments"]
            assert call["id"] == msg.tool_call.get("id", "")
        if msg.role == "observation" and msg.tool_call and "id" in msg.tool_call:
            assert item["tool_call_id"] == msg.tool_call["id"]


# -- realistic LLaMA-Factory data ----------------------------------------------

WEATHER_TOOLS = [{
    "name": "get_weather",
    "description": "Get the current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "城市名称, e.g. 北京"},
                       "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["city"],
    },
}]

LLAMAFACTORY_SAMPLE = {
    "conversations": [
        {"from": "human", "value": "What's the weather like in Beijing today?"},
        {"from": "function_call",
         "value": json.dumps({"name": "get_weather", "arguments": {"city": "Beijing", "unit": "celsius"}})},
        {"from": "observation", "value": json.dumps({"temperature": 21, "condition": "sunny"})},
        {"from": "gpt", "value": "It is sunny in Beijing, 21 °C."},
        {"from": "human", "value": "那上海呢？"},
        {"from": "function_call",
         "value": json.dumps({"name": "get_weather", "arguments": {"city": "上海"}}, ensure_ascii=False)},
        {"from": "observation", "value": "{\"temperature\": 18, \"condition\": \"多云\"}"},
        {"from": "gpt", "value": "上海今天多云，18 °C。"},
    ],
    "system": "You are a helpful assistant with access to tools.",
    # LLaMA-Factory stores tools as a JSON string, in json.dumps's default layout.
    "tools": json.dumps(WEATHER_TOOLS, ensure_ascii=False),
}


def test_llamafactory_sample_round_trips_exactly():
    sample = copy.deepcopy(LLAMAFACTORY_SAMPLE)
    conv = Conversation.from_sharegpt(sample)
    assert sample == LLAMAFACTORY_SAMPLE  # reading does not touch the input
    assert conv.to_sharegpt() == LLAMAFACTORY_SAMPLE
    assert json.loads(json.dumps(conv.to_sharegpt())) == LLAMAFACTORY_SAMPLE


def test_llamafactory_sample_reads_into_the_right_messages():
    conv = Conversation.from_sharegpt(LLAMAFACTORY_SAMPLE)
    assert [m.role for m in conv.messages] == [
        "system", "user", "function_call", "observation", "assistant",
        "user", "function_call", "observation", "assistant",
    ]
    assert conv.system == "You are a helpful assistant with access to tools."
    assert conv.tools == WEATHER_TOOLS
    assert conv.messages[2].tool_call == {"name": "get_weather", "arguments": {"city": "Beijing", "unit": "celsius"}}
    assert conv.messages[6].tool_call == {"name": "get_weather", "arguments": {"city": "上海"}}
    assert conv.last("user").content == "那上海呢？"


def test_llamafactory_sample_survives_the_openai_form_too():
    conv = Conversation.from_sharegpt(LLAMAFACTORY_SAMPLE)
    again = Conversation.from_openai(conv.to_openai())
    again.tools = conv.tools  # the OpenAI message list has no place for tool schemas
    assert again.to_sharegpt() == LLAMAFACTORY_SAMPLE


def test_tools_in_another_json_layout_round_trip_by_value():
    sample = {**LLAMAFACTORY_SAMPLE, "tools": json.dumps(WEATHER_TOOLS, separators=(",", ":"))}
    out = Conversation.from_sharegpt(sample).to_sharegpt()
    assert json.loads(out["tools"]) == WEATHER_TOOLS
    assert {k: v for k, v in out.items() if k != "tools"} == {k: v for k, v in sample.items() if k != "tools"}


def test_tools_given_as_a_list_are_accepted():
    conv = Conversation.from_sharegpt({**LLAMAFACTORY_SAMPLE, "tools": WEATHER_TOOLS})
    assert conv.tools == WEATHER_TOOLS


# -- plain examples ------------------------------------------------------------

def test_sharegpt_roles_are_human_gpt_function_call_observation():
    conv = Conversation([
        Message("system", "be nice"),
        Message("user", "hi"),
        Message("assistant", "hello"),
        Message.function_call("lookup", {"q": "x"}, "call_1"),
        Message("observation", "42", tool_call={"name": "lookup", "id": "call_1"}),
        Message("assistant", "it is 42"),
    ])
    data = conv.to_sharegpt()
    assert [t["from"] for t in data["conversations"]] == ["human", "gpt", "function_call", "observation", "gpt"]
    assert data["system"] == "be nice"
    assert json.dumps(data)  # JSON-serialisable


def test_function_call_without_id_is_stored_in_plain_llamafactory_shape():
    data = Conversation([Message.function_call("lookup", {"q": "天气"})]).to_sharegpt()
    assert data == {"conversations": [
        {"from": "function_call", "value": '{"name": "lookup", "arguments": {"q": "天气"}}'},
    ]}


def test_function_call_with_id_keeps_the_id_as_an_extra_key():
    msg = Message.function_call("lookup", {"q": 1}, "call_9")
    (turn,) = Conversation([msg]).to_sharegpt()["conversations"]
    assert turn["value"] == '{"name": "lookup", "arguments": {"q": 1}}'
    assert turn["tool_call"] == {"name": "lookup", "arguments": {"q": 1}, "id": "call_9"}


def test_empty_call_id_means_no_id():
    assert Message.function_call("f", {}, "").tool_call == {"name": "f", "arguments": {}}


def test_unknown_sharegpt_role_raises_value_error():
    with pytest.raises(ValueError, match="unknown ShareGPT role 'bot'"):
        Conversation.from_sharegpt({"conversations": [{"from": "bot", "value": "hi"}]})


def test_sharegpt_turn_without_from_raises_value_error():
    with pytest.raises(ValueError, match="unknown ShareGPT role None"):
        Conversation.from_sharegpt({"conversations": [{"value": "hi"}]})


@pytest.mark.parametrize("role", ["bot", "tool", "human", "gpt", "", "User"])
def test_message_with_unknown_role_raises_value_error(role):
    with pytest.raises(ValueError, match="unknown role"):
        Message(role, "hi")


def test_conversation_add_with_unknown_role_raises_value_error():
    conv = Conversation()
    with pytest.raises(ValueError):
        conv.add("narrator", "Once upon a time")
    assert conv.messages == []


def test_empty_conversation_round_trips():
    assert Conversation.from_sharegpt(Conversation().to_sharegpt()) == Conversation()
    assert Conversation.from_openai(Conversation().to_openai()) == Conversation()


def test_sharegpt_null_value_reads_as_empty_content():
    conv = Conversation.from_sharegpt({"conversations": [{"from": "human", "value": None}]})
    assert conv.messages == [Message("user", "")]


# -- known bugs ----------------------------------------------------------------

def test_sharegpt_keeps_the_name_of_a_leading_system_message():
    conv = Conversation([Message("system", "You are Ada.", name="narrator"), Message("user", "hi")])
    assert Conversation.from_sharegpt(conv.to_sharegpt()) == conv
