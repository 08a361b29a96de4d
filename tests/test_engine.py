"""The turn pipeline's own logic, on the scripted backend and real SQLite."""

from __future__ import annotations

import threading

import pytest

from persona.engine import Engine
from persona.errors import GenerationError, InputError
from persona.hookspecs import hookimpl
from persona.models.scripted import ScriptedBackend
from persona.packs import get_pack
from persona.store import Store
from persona.verdict import Verdict


def make_engine(pm, backend: ScriptedBackend) -> Engine:
    return Engine(pm=pm, backend_loader=lambda ref, progress=None, **kw: backend)


class Recorder:
    def __init__(self):
        self.calls = []

    @hookimpl
    def moderate_input(self, text):
        self.calls.append("moderate_input")

    @hookimpl
    def analyze_message(self, message):
        self.calls.append(f"analyze_message:{message.role}")
        return {"length": len(message.content)}

    @hookimpl
    def prepare_messages(self, messages):
        self.calls.append("prepare_messages")
        messages[0]["content"] += "\nIt is raining."

    @hookimpl
    def moderate_output(self, text):
        self.calls.append("moderate_output")

    @hookimpl
    def response_complete(self, message):
        self.calls.append("response_complete")


def test_turn_runs_hooks_in_documented_order(pm):
    rec = Recorder()
    pm.register(rec)
    backend = ScriptedBackend(["Aye, that's me."])
    engine = make_engine(pm, backend)
    chat = engine.new_chat(get_pack("captain-mara"))
    result = engine.turn(chat, "Who are you?")
    assert result.reply == "Aye, that's me."
    assert rec.calls == ["moderate_input", "analyze_message:user", "prepare_messages",
                         "moderate_output", "analyze_message:assistant", "response_complete"]
    assert backend.calls[0][0]["content"].endswith("It is raining.")
    user, reply = chat.conversation.messages[-2:]
    assert user.metadata["length"] == len("Who are you?") and reply.metadata["length"] == len(result.reply)


def test_first_turn_stores_system_greeting_and_turn(pm):
    engine = make_engine(pm, ScriptedBackend(["Hello there."]))
    chat = engine.new_chat(get_pack("captain-mara"))
    engine.turn(chat, "Hi")
    info, conv = Store().load(chat.session_id)
    assert [m.role for m in conv.messages] == ["system", "assistant", "user", "assistant"]
    assert conv.messages[1].metadata == {"greeting": True}
    assert info.persona == "captain-mara" and info.title == "Hi"


def test_second_turn_sees_the_first(pm):
    backend = ScriptedBackend(["First.", "Second."])
    engine = make_engine(pm, backend)
    pack = get_pack("captain-mara")
    chat = engine.new_chat(pack)
    engine.turn(chat, "My name is Ann.")
    resumed = make_engine(pm, backend).resume(chat.session_id, pack)
    engine.turn(resumed, "What is my name?")
    contents = [m["content"] for m in backend.calls[1]]
    assert "My name is Ann." in contents and "First." in contents
    assert len(Store().load(chat.session_id)[1].messages) == 6


def test_examples_are_sent_as_turns_with_macros_expanded(pm):
    backend = ScriptedBackend(["ok"])
    engine = make_engine(pm, backend)
    engine.turn(engine.new_chat(get_pack("captain-mara")), "Hi")
    sent = backend.calls[0]
    assert sent[0]["role"] == "system" and "Captain Mara" in sent[0]["content"]
    assert sent[1] == {"role": "user", "content": "Who are you?"}
    assert sent[-1] == {"role": "user", "content": "Hi"}
    assert not any("{{" in m["content"] for m in sent)


def test_empty_and_oversized_messages_are_refused_and_nothing_is_stored(pm):
    engine = make_engine(pm, ScriptedBackend(["x"]))
    chat = engine.new_chat(get_pack("captain-mara"))
    for bad in ("", "   \n", "x" * 20_000):
        with pytest.raises(InputError):
            engine.turn(chat, bad)
    assert Store().sessions() == []


def test_failed_generation_keeps_the_store_and_chat_unchanged(pm):
    backend = ScriptedBackend(["fine"])
    engine = make_engine(pm, backend)
    chat = engine.new_chat(get_pack("captain-mara"))
    engine.turn(chat, "first")
    before = len(chat.conversation.messages)
    backend.fail_with = GenerationError("boom")
    with pytest.raises(GenerationError):
        engine.turn(chat, "second")
    assert len(chat.conversation.messages) == before
    assert len(Store().load(chat.session_id)[1].messages) == before


def test_raising_input_moderation_blocks_the_turn(pm):
    class Broken:
        @hookimpl
        def moderate_input(self, text):
            raise RuntimeError("rail crashed")

    pm.register(Broken())
    backend = ScriptedBackend(["should not be generated"])
    engine = make_engine(pm, backend)
    chat = engine.new_chat(get_pack("captain-mara"))
    result = engine.turn(chat, "hello")
    assert backend.calls == []
    assert result.stopped == "blocked"
    user = chat.conversation.messages[-2]
    assert user.metadata["safety"] == {"verdict": "block", "category": "moderation_error", "rail": "input",
                                       "reason": "RuntimeError: rail crashed"}


def test_blocked_user_message_is_never_shown_to_the_model_again(pm):
    class Blocker:
        @hookimpl
        def moderate_input(self, text):
            return Verdict("block", category="test", reply="Let's talk of something else.") if "bad" in text else None

    pm.register(Blocker())
    backend = ScriptedBackend(["fine"])
    engine = make_engine(pm, backend)
    chat = engine.new_chat(get_pack("captain-mara"))
    assert engine.turn(chat, "bad words").reply == "Let's talk of something else."
    engine.turn(chat, "hello")
    assert all("bad words" not in m["content"] for m in backend.calls[0])


def test_output_redaction_replaces_the_reply(pm):
    class Redactor:
        @hookimpl
        def moderate_output(self, text):
            return Verdict("redact", category="pii", text=text.replace("555-1234", "[redacted]"))

    pm.register(Redactor())
    engine = make_engine(pm, ScriptedBackend(["Call 555-1234 now."]))
    chat = engine.new_chat(get_pack("captain-mara"))
    result = engine.turn(chat, "number?")
    assert result.reply == "Call [redacted] now."
    assert chat.conversation.messages[-1].metadata["safety"] == {"verdict": "redact", "category": "pii",
                                                                 "rail": "output"}


def test_cancel_keeps_partial_reply_marked_stopped(pm):
    cancel = threading.Event()
    seen = []

    def on_token(t):
        seen.append(t)
        if len(seen) == 2:
            cancel.set()

    engine = make_engine(pm, ScriptedBackend(["one two three four five six"]))
    chat = engine.new_chat(get_pack("captain-mara"))
    result = engine.turn(chat, "count", on_token=on_token, cancel=cancel)
    assert result.reply == "one two" and result.stopped == "cancelled"
    assert chat.conversation.messages[-1].metadata["stopped"] is True


def test_stop_strings_end_the_reply(pm):
    engine = make_engine(pm, ScriptedBackend(["Aye. User: and then I"]))
    chat = engine.new_chat(get_pack("captain-mara"))
    assert engine.turn(chat, "hi", stop=["User:"]).reply == "Aye."


def test_resuming_with_another_persona_is_refused(pm):
    engine = make_engine(pm, ScriptedBackend(["x"]))
    chat = engine.new_chat(get_pack("captain-mara"))
    engine.turn(chat, "hi")
    with pytest.raises(InputError, match="belongs to persona 'captain-mara'"):
        engine.resume(chat.session_id, get_pack("professor-thistle"))


def test_long_conversations_stay_inside_the_context_window(pm):
    backend = ScriptedBackend(["word " * 30], context_window=600)
    engine = make_engine(pm, backend)
    chat = engine.new_chat(get_pack("captain-mara"))
    for i in range(40):
        result = engine.turn(chat, f"message {i} " + "blah " * 20, max_new_tokens=100)
        assert backend.count_tokens(backend.calls[-1]) <= 500
    assert result.context.history_dropped > 0 and result.context.examples_dropped == 3
    assert backend.calls[-1][-1]["content"].startswith("message 39")


def test_misspelt_hook_implementation_is_an_error_naming_plugin_and_hook(tmp_path, monkeypatch):
    from persona import plugins

    (tmp_path / "typo.py").write_text(
        "from persona.hookspecs import hookimpl\n\n@hookimpl\ndef moderate_inptu(text):\n    return None\n")
    monkeypatch.setattr(plugins, "BUILTIN_DIR", tmp_path)
    with pytest.raises(plugins.PluginError) as exc:
        plugins.make_manager(load_entrypoints=False)
    assert "'typo'" in exc.value.message and "moderate_inptu" in exc.value.message


def test_reply_cut_by_the_token_limit_ends_at_its_last_full_sentence(pm):
    engine = make_engine(pm, ScriptedBackend(["Aye, I sailed. The sea was kind to me and then the"]))
    chat = engine.new_chat(get_pack("captain-mara"))
    assert engine.turn(chat, "story?", max_new_tokens=10).reply == "Aye, I sailed."
    engine = make_engine(pm, ScriptedBackend(["Aye, I sailed. The sea was kind."]))
    chat = engine.new_chat(get_pack("captain-mara"))
    assert engine.turn(chat, "story?").reply == "Aye, I sailed. The sea was kind."


def test_turn_notices_say_what_safety_and_tools_did():
    from persona.conversation import Message
    from persona.notices import turn_notices

    msgs = [Message("user", "x", metadata={"safety": {"verdict": "block", "category": "self_harm", "rail": "input"}}),
            Message("assistant", "help", metadata={"safety": {"verdict": "block", "category": "self_harm",
                                                              "rail": "input"}}),
            Message("assistant", "[email removed]", metadata={"safety": {"verdict": "redact", "category": "pii",
                                                                         "rail": "output"},
                                                              "notices": ["tool clock: timed out"]})]
    assert turn_notices(msgs) == ["safety: your message was blocked (self_harm)",
                                  "safety: the reply was redacted (pii)", "tool clock: timed out"]


def test_regenerate_keeps_earlier_replies_as_swipes_and_stores_the_choice(pm):
    engine = make_engine(pm, ScriptedBackend(["First try.", "Second try.", "Third try."]))
    chat = engine.new_chat(get_pack("captain-mara"))
    engine.turn(chat, "Tell me a story.")
    engine.regenerate(chat)
    result = engine.regenerate(chat)
    assert result.reply == "Third try."
    reply = chat.conversation.messages[-1]
    assert reply.metadata["alternatives"] == ["First try.", "Second try.", "Third try."]
    assert engine.swipe(chat, -1) == (2, 3) and reply.content == "Second try."
    assert engine.swipe(chat, -5) == (1, 3)
    stored = Store().load(chat.session_id)[1].messages
    assert len(stored) == 4 and stored[-1].content == "First try." and stored[-1].metadata["swipe"] == 0


def test_regenerate_without_a_reply_is_refused(pm):
    engine = make_engine(pm, ScriptedBackend(["x"]))
    with pytest.raises(InputError, match="no generated reply"):
        engine.regenerate(engine.new_chat(get_pack("captain-mara")))


def test_editing_an_earlier_message_forks_a_branch_and_keeps_the_original(pm):
    engine = make_engine(pm, ScriptedBackend(["Red.", "Blue.", "Green!"]))
    chat = engine.new_chat(get_pack("captain-mara"))
    engine.turn(chat, "Favourite colour?")
    engine.turn(chat, "Why?")
    first_user = next(i for i, m in enumerate(chat.conversation.messages) if m.role == "user")
    branch, result = engine.fork(chat, first_user, "Favourite ship?")
    assert result.reply == "Green!" and branch.session_id != chat.session_id
    original = Store().load(chat.session_id)[1]
    forked = Store().load(branch.session_id)[1]
    assert [m.content for m in original.messages if m.role == "user"] == ["Favourite colour?", "Why?"]
    assert [m.content for m in forked.messages if m.role == "user"] == ["Favourite ship?"]
    family = [s.id for s in Store().branches(branch.session_id)]
    assert family == [chat.session_id, branch.session_id] == [s.id for s in Store().branches(chat.session_id)]


def test_unset_overrides_keep_the_packs_own_sampling(pm):
    """`persona ask` passes None for every flag not given: the pack's values must stand."""
    from persona.cli.chat import overrides
    from persona.cli import build_parser
    from persona.models.base import GenerationParams

    pack = get_pack("captain-mara")
    args = build_parser().parse_args(["ask", "captain-mara", "hi"])
    params = GenerationParams.from_sampling(pack.sampling, **overrides(args))
    assert params.max_new_tokens == pack.sampling["max_new_tokens"] != GenerationParams().max_new_tokens
    assert params.temperature == pack.sampling["temperature"]
    args = build_parser().parse_args(["ask", "captain-mara", "hi", "--max-tokens", "9", "--temperature", "0"])
    params = GenerationParams.from_sampling(pack.sampling, **overrides(args))
    assert (params.max_new_tokens, params.temperature) == (9, 0)
