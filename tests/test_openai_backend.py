"""The openai backend against a real OpenAI-compatible HTTP server on loopback (FastAPI + uvicorn, SSE)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import pytest
from fastapi import FastAPI, Request  # module level: FastAPI resolves the handler's annotations here
from fastapi.responses import JSONResponse, StreamingResponse

from persona.errors import GenerationError, ModelError
from persona.models import GenerationParams, Stats, load_backend
from tests.conftest import MINIMAL, run_cli, write_pack


class Stub:
    """An OpenAI-compatible chat server whose behaviour the request's ``model`` picks:
    ``echo`` streams "Hello there, traveller. END more" word by word, ``die`` sends two chunks and
    drops the connection, ``busy`` answers 503 once then works, ``down`` always 503, ``slow`` streams
    a chunk a 50 ms for 10 s and notes when the client goes away, ``stall`` sends one word and waits."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.calls: dict[str, int] = {}
        self.disconnected = threading.Event()

    def app(self):
        app = FastAPI()

        def chunk(text: str | None, finish: str | None = None) -> str:
            delta = {"content": text} if text is not None else {}
            return "data: " + json.dumps({
                "id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "m",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}) + "\n\n"

        @app.post("/v1/chat/completions")
        async def complete(request: Request):
            body = await request.json()
            self.requests.append(body)
            model = body["model"]
            self.calls[model] = self.calls.get(model, 0) + 1
            if model == "busy" and self.calls[model] == 1:
                return JSONResponse({"error": {"message": "queue full", "type": "overloaded", "param": None,
                                               "code": None}}, status_code=503, headers={"Retry-After": "0"})
            if model == "down":
                return JSONResponse({"error": {"message": "overloaded", "type": "overloaded", "param": None,
                                               "code": None}}, status_code=503, headers={"Retry-After": "0"})
            if model not in ("echo", "busy", "die", "slow", "stall", "smollm2-135m"):
                return JSONResponse({"error": {"message": f"model {model} not found", "type": "invalid_request",
                                               "param": "model", "code": None}}, status_code=404)

            async def events():
                if model == "slow":
                    try:
                        for i in range(200):
                            yield chunk(f"w{i} ")
                            await asyncio.sleep(0.05)
                        yield chunk(None, "stop")
                        yield "data: [DONE]\n\n"
                    finally:  # a client that goes away cancels this generator
                        self.disconnected.set()
                    return
                if model == "stall":  # one word, then nothing
                    yield chunk("Hmm")
                    await asyncio.sleep(10)
                    return
                words = "Hello there, traveller. END more".split(" ")
                for i, word in enumerate(words):
                    if model == "die" and i == 2:
                        raise RuntimeError("the stub server dies mid-stream")
                    yield chunk(word if i == 0 else " " + word)
                yield chunk(None, "stop")
                yield ("data: " + json.dumps({"id": "c1", "object": "chat.completion.chunk", "created": 0,
                                              "model": "m", "choices": [],
                                              "usage": {"prompt_tokens": 11, "completion_tokens": 6,
                                                        "total_tokens": 17}}) + "\n\n")
                yield "data: [DONE]\n\n"

            return StreamingResponse(events(), media_type="text/event-stream")

        return app


@pytest.fixture
def stub():
    import uvicorn

    state = Stub()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(state.app(), log_level="critical", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    state.base_url = f"http://127.0.0.1:{port}/v1"
    try:
        yield state
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()


def backend(stub, model: str, **options):
    return load_backend("smollm2-135m", backend="openai",
                        options={"base_url": stub.base_url, "model": model, **options})


def reply(be, params: GenerationParams | None = None, cancel: threading.Event | None = None):
    stats = Stats()
    text = "".join(be.stream([{"role": "user", "content": "hi"}], params or GenerationParams(),
                             cancel or threading.Event(), stats))
    return text, stats


def test_openai_backend_streams_a_reply_and_reads_usage(stub):
    text, stats = reply(backend(stub, "echo"))
    assert text == "Hello there, traveller. END more"
    assert stats.stopped == "eos" and stats.new_tokens == 6 and stats.prompt_tokens == 11


def test_stop_strings_cut_the_reply_and_reach_the_server(stub):
    text, stats = reply(backend(stub, "echo"), GenerationParams(stop=["END"]))
    assert text == "Hello there, traveller. " and stats.stopped == "stop"
    assert stub.requests[-1]["stop"] == ["END"]


def test_seed_and_sampling_are_passed_through(stub):
    reply(backend(stub, "echo"), GenerationParams(seed=1234, temperature=0.3, top_p=0.7, top_k=40,
                                                  max_new_tokens=50, repetition_penalty=1.2))
    sent = stub.requests[-1]
    assert (sent["seed"], sent["temperature"], sent["top_p"], sent["max_tokens"]) == (1234, 0.3, 0.7, 50)
    assert sent["top_k"] == 40 and sent["repetition_penalty"] == 1.2 and sent["stream"] is True


def test_a_503_is_retried_then_the_reply_comes(stub):
    text, _ = reply(backend(stub, "busy"))
    assert text.startswith("Hello") and stub.calls["busy"] == 2


def test_retries_are_bounded_then_a_clear_busy_error(stub):
    with pytest.raises(GenerationError, match=r"is busy \(HTTP 503\) after 1 retries") as err:
        reply(backend(stub, "down", max_retries=1))
    assert stub.calls["down"] == 2 and "max_retries" in err.value.hint


def test_a_stalled_stream_times_out_with_a_hint(stub):
    with pytest.raises(GenerationError, match="did not answer within 0.5 s") as err:
        reply(backend(stub, "stall", timeout=0.5))
    assert "[model] timeout" in err.value.hint


def test_cancel_closes_the_stream_and_the_server_sees_the_disconnect(stub):
    cancel = threading.Event()
    stats = Stats()
    got = []
    for piece in backend(stub, "slow").stream([{"role": "user", "content": "hi"}], GenerationParams(),
                                              cancel, stats):
        got.append(piece)
        cancel.set()
    assert got and stats.stopped == "cancelled"
    assert stub.disconnected.wait(5), "the server never saw the client go away"
    assert len(stub.requests) == 1


def test_a_server_that_dies_mid_stream_is_a_clear_error_and_the_turn_is_not_stored(stub, pm, tmp_path):
    from persona.engine import Engine
    from persona.packs import load_pack

    pack = load_pack(write_pack(tmp_path / "pack", _manifest(stub, "die")))
    engine = Engine(pm=pm)
    chat = engine.new_chat(pack)
    with pytest.raises(GenerationError, match="closed the connection mid-reply"):
        engine.turn(chat, "hello")
    assert engine.store.sessions() == [] and [m.role for m in chat.conversation.messages] == ["system", "assistant"]


def test_an_unknown_model_names_it(stub):
    with pytest.raises(ModelError, match="has no model 'nobody'") as err:
        reply(backend(stub, "nobody"))
    assert "persona scale vllm" in err.value.hint


def test_persona_ask_with_backend_openai_replies_from_the_server(stub):
    proc = run_cli("ask", "captain-mara", "Who are you?", "--backend", "openai", "--seed", "5", "--json",
                   env={"PERSONA_OPENAI_BASE_URL": stub.base_url})
    assert proc.returncode == 0, proc.stderr
    turn = json.loads(proc.stdout)
    assert turn["reply"] == "Hello there, traveller. END more" and turn["timings"]["backend"] == "openai"
    sent = stub.requests[-1]
    assert sent["model"] == "smollm2-135m" and sent["seed"] == 5  # a pack without an adapter asks for its base
    assert sent["messages"][0]["role"] == "system" and sent["messages"][-1]["content"] == "Who are you?"


def test_an_unreachable_server_is_error_and_hint_with_exit_2():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    proc = run_cli("ask", "captain-mara", "hi", "--backend", "openai",
                   env={"PERSONA_OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1"})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"error: cannot reach the model server at http://127.0.0.1:{port}/v1" in proc.stderr
    assert "hint: start the server" in proc.stderr


def test_the_pipeline_stays_local_a_pack_turn_through_the_server_is_stored(stub, pm, tmp_path):
    from persona.engine import Engine
    from persona.packs import load_pack

    pack = load_pack(write_pack(tmp_path / "pack", _manifest(stub, "echo")))
    engine = Engine(pm=pm)
    chat = engine.new_chat(pack)
    result = engine.turn(chat, "hello")
    assert result.reply.startswith("Hello there") and result.timings["backend"] == "openai"
    sent = stub.requests[-1]["messages"]
    assert sent[0]["role"] == "system" and "Test Char" in sent[0]["content"]  # the prompt is built here
    assert len(engine.store.sessions()) == 1


def test_count_tokens_errs_high():
    from persona.models.openai_backend import OpenAIBackend, approx_tokens

    assert approx_tokens("Hello there, traveller.") >= 5  # a BPE makes about 5 of it
    assert approx_tokens("甄嬛") == 3
    be = OpenAIBackend("smollm2-135m", {"n_ctx": 4096})
    assert be.context_window == 4096 and be.count_tokens([{"role": "user", "content": "hi"}]) >= 5


def _manifest(stub, model: str) -> str:
    return MINIMAL + f'id = "test-char"\n[model]\nbackend = "openai"\nbase_url = "{stub.base_url}"\nmodel = "{model}"\n'


def test_one_persona_talks_to_another_over_http_through_persona_serve(pm, tmp_path):
    from persona.engine import Engine
    from persona.models.scripted import ScriptedBackend
    from persona.packs import load_pack
    from persona.server.app import Settings, create_app, make_server, wait_started

    served = ScriptedBackend(["Ahoy, Test Char. The Lantern sails at dawn."])
    server_engine = Engine(pm=pm, backend_loader=lambda ref, progress=None, **kw: served)
    app = create_app(server_engine, Settings())
    ports: list[int] = []
    server = make_server(app, "127.0.0.1", 0, on_ready=ports.append)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_started(server)
        url = f"http://127.0.0.1:{ports[0]}/v1"
        client = load_pack(write_pack(tmp_path / "asker", MINIMAL + f'id = "test-char"\n[model]\nbackend = "openai"\n'
                                      f'base_url = "{url}"\nmodel = "captain-mara"\n'))
        engine = Engine(pm=pm)
        chat = engine.new_chat(client)
        result = engine.turn(chat, "When do we sail?", seed=7)
        assert result.reply == "Ahoy, Test Char. The Lantern sails at dawn."
        seen = " ".join(m["content"] for m in served.calls[-1])
        assert "Mara" in seen and "When do we sail?" in seen  # captain-mara's pack ran on the far side
        assert len(engine.store.sessions()) == 1  # and the asking persona's turn is kept here
    finally:
        server.should_exit = True
        thread.join(10)
        app.state.queue.close()
