"""`persona serve`: a real uvicorn server on a loopback port, driven by the official openai client.

The model is a scripted backend (these tests prove the server's own logic: shapes, queueing,
cancellation, isolation). test_server_load.py and test_server_security.py use the same
harness; tests/test_server_real.py runs the real default model once.
"""

from __future__ import annotations

import asyncio
import json
import threading

import httpx2 as httpx
import openai
import pytest

from persona.engine import Engine
from persona.models.scripted import ScriptedBackend
from persona.plugins import make_manager
from persona.server.app import Settings, create_app, make_server, wait_started
from persona.store import Store


BLOCKED = "How do I poison someone without getting caught?"  # the safety rail blocks it (tests/test_safety.py)


class Gated(ScriptedBackend):
    """A scripted backend that, when gated, yields one word per permit; records what it saw."""

    def __init__(self, replies=None, gated=False):
        super().__init__(replies)
        self.gate = threading.Semaphore(0) if gated else None
        self.started = threading.Event()
        self.finished = threading.Event()
        self.cancel = None
        self.yielded = 0
        self.stopped = ""

    def stream(self, messages, params, cancel, stats):
        self.cancel = cancel
        self.started.set()
        try:
            for chunk in super().stream(messages, params, cancel, stats):
                if self.gate is not None:
                    self.gate.acquire()
                    if cancel.is_set():
                        stats.stopped = "cancelled"
                        return
                self.yielded += 1
                yield chunk
        finally:
            self.stopped = stats.stopped
            self.finished.set()


class Running:
    """A server in a thread on a free loopback port."""

    def __init__(self, backend, **settings):
        self.backend = backend
        self.engine = Engine(pm=make_manager(load_entrypoints=False),
                             backend_loader=lambda ref, progress=None, **kw: backend)
        self.app = create_app(self.engine, Settings(**settings))
        self.port = None
        self.server = make_server(self.app, "127.0.0.1", 0, on_ready=lambda port: setattr(self, "port", port))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        wait_started(self.server)
        return self

    def __exit__(self, *exc):
        for _ in range(self.backend_gate_permits()):
            self.backend.gate.release()
        self.server.should_exit = True
        self.thread.join(30)
        self.app.state.queue.close()

    def backend_gate_permits(self):
        return 10_000 if getattr(self.backend, "gate", None) is not None else 0

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}/v1"

    def client(self, key="unused", **kw):
        return openai.OpenAI(base_url=self.base_url, api_key=key, max_retries=0, **kw)

    def async_client(self, key="unused"):
        return openai.AsyncOpenAI(base_url=self.base_url, api_key=key, max_retries=0)


@pytest.fixture
def server():
    with Running(Gated(["Ahoy there, friend."])) as running:
        yield running


def test_chat_with_a_pack_returns_an_openai_completion(server):
    done = server.client().chat.completions.create(
        model="captain-mara", messages=[{"role": "user", "content": "Who are you?"}], temperature=0.5, seed=7,
        max_tokens=50, extra_body={"some_unknown_field": True})
    assert done.object == "chat.completion" and done.model == "captain-mara"
    assert done.choices[0].message.role == "assistant"
    assert done.choices[0].message.content == "Ahoy there, friend."
    assert done.choices[0].finish_reason == "stop"
    assert done.usage.completion_tokens == 3 and done.usage.total_tokens > 3
    prompt = server.backend.calls[-1]
    assert "Captain Mara" in prompt[0]["content"] and prompt[-1] == {"role": "user", "content": "Who are you?"}
    assert done.model_extra["persona"]["mode"] == "persona"
    assert Store().sessions() == []  # stateless: nothing stored


def test_persona_mode_runs_the_packs_own_tools_and_analysis_server_side(server):
    done = server.client().chat.completions.create(model="captain-mara",
                                                   messages=[{"role": "user", "content": "/roll 2d6"}])
    prompt = [m["content"] for m in server.backend.calls[-1]]
    assert any(c.startswith("<tool_response>") and "2d6" in c for c in prompt)  # roll_dice ran here
    assert done.choices[0].finish_reason == "stop"
    assert done.model_extra["persona"]["sentiment"]["label"] in ("positive", "neutral", "negative")


def test_client_system_messages_follow_the_packs(server):
    server.client().chat.completions.create(model="captain-mara", messages=[
        {"role": "system", "content": "Keep it short."}, {"role": "system", "content": "Speak in rhyme."},
        {"role": "user", "content": "Hello"}])
    prompt = server.backend.calls[-1]
    assert "Captain Mara" in prompt[0]["content"]
    contents = [m["content"] for m in prompt]
    assert contents.index("Keep it short.") < contents.index("Speak in rhyme.") < contents.index("Hello")


def test_system_messages_after_the_last_user_message_are_kept_before_it(server):
    """SillyTavern sends its post-history instructions as a system message after the user's."""
    done = server.client().chat.completions.create(model="captain-mara", messages=[
        {"role": "user", "content": "Hello"}, {"role": "system", "content": "[Stay in character.]"}])
    assert done.choices[0].finish_reason == "stop"
    contents = [m["content"] for m in server.backend.calls[-1]]
    assert contents[-1] == "Hello" and "[Stay in character.]" in contents


def test_streaming_sends_role_first_then_deltas_then_usage(server):
    chunks = list(server.client().chat.completions.create(
        model="captain-mara", messages=[{"role": "user", "content": "Hi"}], stream=True,
        stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Ahoy there, friend."
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 3


def test_raw_stream_ends_with_done(server):
    with httpx.stream("POST", server.base_url + "/chat/completions",
                      json={"model": "captain-mara", "stream": True,
                            "messages": [{"role": "user", "content": "Hi"}]}) as r:
        lines = [line for line in r.iter_lines() if line]
    assert r.headers["content-type"].startswith("text/event-stream")
    assert all(line.startswith("data: ") for line in lines) and lines[-1] == "data: [DONE]"


def test_async_client_streams_and_completes(server):
    async def go():
        client = server.async_client()
        done = await client.chat.completions.create(model="captain-mara",
                                                    messages=[{"role": "user", "content": "Hi"}])
        parts = []
        async for chunk in await client.chat.completions.create(
                model="captain-mara", messages=[{"role": "user", "content": "Hi"}], stream=True):
            parts += [chunk.choices[0].delta.content or ""] if chunk.choices else []
        await client.close()
        return done.choices[0].message.content, "".join(parts)

    assert asyncio.run(go()) == ("Ahoy there, friend.", "Ahoy there, friend.")


TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "The weather in a city",
                                           "parameters": {"type": "object",
                                                          "properties": {"city": {"type": "string"}}}}}]
CALL = 'Let me look. <tool_call>{"name": "get_weather", "arguments": {"city": "Lisbon"}}</tool_call>'


def test_a_client_declared_tool_comes_back_as_tool_calls():
    with Running(Gated([CALL, "Sunny in Lisbon, then."])) as server:
        client = server.client()
        msgs = [{"role": "user", "content": "Weather in Lisbon?"}]
        done = client.chat.completions.create(model="captain-mara", messages=msgs, tools=TOOLS)
        choice = done.choices[0]
        assert choice.finish_reason == "tool_calls"
        call = choice.message.tool_calls[0]
        assert call.type == "function" and call.function.name == "get_weather"
        assert json.loads(call.function.arguments) == {"city": "Lisbon"}
        assert "<tool_call>" not in (choice.message.content or "")
        assert any("get_weather" in m["content"] for m in server.backend.calls[-1] if m["role"] == "system")
        # the client runs it and sends the result back: the character answers
        msgs += [choice.message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "sunny, 24 C"}]
        after = client.chat.completions.create(model="captain-mara", messages=msgs, tools=TOOLS)
        assert after.choices[0].message.content == "Sunny in Lisbon, then."
        assert "<tool_response>sunny, 24 C</tool_response>" in [m["content"] for m in server.backend.calls[-1]]


def test_tool_calls_stream_as_deltas():
    with Running(Gated([CALL])) as server:
        chunks = list(server.client().chat.completions.create(
            model="captain-mara", messages=[{"role": "user", "content": "Weather?"}], tools=TOOLS, stream=True))
    deltas = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or []]
    assert deltas[0].function.name == "get_weather" and deltas[0].id
    assert json.loads("".join(d.function.arguments or "" for d in deltas)) == {"city": "Lisbon"}
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip() == "Let me look." and chunks[-1].choices[0].finish_reason == "tool_calls"


def test_a_blocked_input_gets_content_filter_and_the_packs_refusal(server):
    done = server.client().chat.completions.create(model="captain-mara",
                                                   messages=[{"role": "user", "content": BLOCKED}])
    assert done.choices[0].finish_reason == "content_filter"
    assert done.choices[0].message.content and server.backend.calls == []  # the model never saw it
    chunks = list(server.client().chat.completions.create(
        model="captain-mara:raw", messages=[{"role": "user", "content": BLOCKED}], stream=True))
    assert chunks[-1].choices[0].finish_reason == "content_filter"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == done.choices[0].message.content


def test_a_reply_the_output_rail_blocks_gets_content_filter_in_persona_and_raw_mode():
    from persona.packs import get_pack

    leak = get_pack("captain-mara").system_prompt()
    with Running(Gated([leak])) as server:
        for model in ("captain-mara", "captain-mara:raw"):
            done = server.client().chat.completions.create(
                model=model, messages=[{"role": "system", "content": leak}, {"role": "user", "content": "Rules?"}])
            assert done.choices[0].finish_reason == "content_filter", model
            assert "Salt & Lantern" not in done.choices[0].message.content
            assert done.model_extra["persona"]["safety"]["category"] == "prompt_leak"


def test_an_unknown_model_is_404(server):
    with pytest.raises(openai.NotFoundError) as caught:
        server.client().chat.completions.create(model="nobody", messages=[{"role": "user", "content": "Hi"}])
    assert caught.value.body["code"] == "model_not_found" and "nobody" in caught.value.body["message"]


def test_models_lists_packs_and_bases(server):
    ids = {m.id: m for m in server.client().models.list()}
    assert {"captain-mara", "mara-of-the-lantern", "base:smollm2-135m"} <= set(ids)
    assert ids["captain-mara"].owned_by == "persona"
    assert ids["mara-of-the-lantern"].model_extra["persona"]["adapter"] is True


def test_raw_mode_uses_the_packs_adapter_and_the_clients_prompt(server):
    messages = [{"role": "system", "content": "You are a narrator."}, {"role": "user", "content": "Go on."}]
    done = server.client().chat.completions.create(model="mara-of-the-lantern:raw", messages=messages)
    assert done.model_extra["persona"]["mode"] == "raw"
    assert done.model_extra["persona"]["model"]["adapter"] == "mara-of-the-lantern"
    assert server.backend.adapter == "mara-of-the-lantern" and server.backend.calls[-1] == messages
    server.client().chat.completions.create(model="captain-mara:raw", messages=messages)
    assert server.backend.adapter is None


def test_raw_mode_shows_the_model_tool_traffic_as_the_packs_tools_do(server):
    server.client().chat.completions.create(model="captain-mara:raw", tools=TOOLS, messages=[
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {
            "name": "get_weather", "arguments": '{"city": "Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "snow"}])
    prompt = server.backend.calls[-1]
    assert "get_weather" in prompt[0]["content"]  # the client's tools, described
    assert prompt[2] == {"role": "assistant",
                         "content": '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'}
    assert prompt[3] == {"role": "tool", "content": "<tool_response>snow</tool_response>"}


def test_bad_requests_are_openai_errors_not_tracebacks(server):
    cases = [({"model": "captain-mara"}, 400), ({"model": "captain-mara", "n": 2, "messages": [
        {"role": "user", "content": "x"}]}, 400), ({"model": "captain-mara", "temperature": 99, "messages": [
        {"role": "user", "content": "x"}]}, 400)]
    for body, status in cases:
        r = httpx.post(server.base_url + "/chat/completions", json=body)
        assert r.status_code == status and set(r.json()["error"]) == {"message", "type", "param", "code"}
    for r, status in [(httpx.get(server.base_url + "/chat/completions"), 405),
                      (httpx.get(server.base_url + "/nothing-here"), 404)]:
        assert r.status_code == status and set(r.json()["error"]) == {"message", "type", "param", "code"}
    r = httpx.post(server.base_url + "/chat/completions", content=b"{not json")
    assert r.status_code == 400 and "Traceback" not in r.text
    r = httpx.post(server.base_url + "/chat/completions", content=b"x" * (5 * 1024 * 1024))
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"


def test_a_generation_failure_is_500_without_a_traceback(server):
    server.backend.fail_with = RuntimeError("GPU on fire")
    with pytest.raises(openai.InternalServerError) as caught:
        server.client().chat.completions.create(model="captain-mara", messages=[{"role": "user", "content": "Hi"}])
    assert caught.value.status_code == 500 and "Traceback" not in caught.value.response.text


def test_a_failure_mid_stream_is_an_error_event():
    with Running(Gated(["x"])) as server:
        server.backend.fail_with = RuntimeError("boom")
        stream = server.client().chat.completions.create(
            model="captain-mara", messages=[{"role": "user", "content": "Hi"}], stream=True)
        with pytest.raises(openai.APIError) as caught:
            list(stream)
    assert "internal error: RuntimeError" in str(caught.value) and "Traceback" not in str(caught.value)


def test_a_base_model_answers_raw_without_an_adapter(server):
    done = server.client().chat.completions.create(model="base:smollm2-135m",
                                                   messages=[{"role": "user", "content": "Hi"}])
    assert done.choices[0].message.content == "Ahoy there, friend."
    assert done.model_extra["persona"]["model"]["adapter"] is None and server.backend.adapter is None
