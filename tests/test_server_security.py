"""`persona serve`'s security and sessions: keys, CORS, loopback by default, stored sessions, isolation,
and the real `persona serve` command in a subprocess."""

from __future__ import annotations

import json

import httpx2 as httpx
import openai
import pytest

from persona.store import Store

from .conftest import run_cli
from .test_server import Gated, Running, server  # noqa: F401  (server: the fixture)


def test_a_wrong_key_is_401_and_health_needs_none():
    with Running(Gated(["Aye."]), api_key="s3cret") as server:
        with pytest.raises(openai.AuthenticationError):
            server.client("wrong").chat.completions.create(model="captain-mara",
                                                           messages=[{"role": "user", "content": "Hi"}])
        with pytest.raises(openai.AuthenticationError):
            server.client("wrong").models.list()
        assert httpx.get(server.base_url.removesuffix("/v1") + "/health").json()["status"] == "ok"
        done = server.client("s3cret").chat.completions.create(model="captain-mara",
                                                               messages=[{"role": "user", "content": "Hi"}])
        assert done.choices[0].message.content == "Aye."


def test_cors_is_off_unless_an_origin_is_given(server):
    r = httpx.options(server.base_url + "/models", headers={"Origin": "http://evil.example",
                                                            "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in r.headers
    with Running(Gated(["x"]), cors_origin="http://ui.example") as other:
        r = httpx.options(other.base_url + "/models", headers={"Origin": "http://ui.example",
                                                               "Access-Control-Request-Method": "GET"})
        assert r.headers["access-control-allow-origin"] == "http://ui.example"


def test_x_persona_session_stores_and_continues_the_conversation(server):
    client = server.client(default_headers={"X-Persona-Session": "http-chat-1"})
    client.chat.completions.create(model="captain-mara", messages=[{"role": "user", "content": "My name is Ann."}])
    client.chat.completions.create(model="captain-mara", messages=[{"role": "user", "content": "Who am I?"}])
    prompt = [m["content"] for m in server.backend.calls[-1]]
    assert "My name is Ann." in prompt  # the stored history, not the client's, was the context
    info, conv = Store().load("http-chat-1")
    assert info.persona == "captain-mara"
    assert [m.content for m in conv.messages if m.role == "user"] == ["My name is Ann.", "Who am I?"]


def test_two_clients_see_nothing_of_each_other(server):
    a = server.client(default_headers={"X-Persona-Session": "alice"})
    b = server.client()
    a.chat.completions.create(model="captain-mara", messages=[{"role": "user", "content": "secret: swordfish"}])
    b.chat.completions.create(model="captain-mara", messages=[{"role": "user", "content": "What's the secret?"}])
    a.chat.completions.create(model="captain-mara", messages=[{"role": "user", "content": "Remember it."}])
    seen_by_a, seen_by_b, seen_by_a_again = (json.dumps(c) for c in server.backend.calls)
    assert "swordfish" in seen_by_a and "swordfish" not in seen_by_b
    assert "swordfish" in seen_by_a_again and "What's the secret?" not in seen_by_a_again


def test_serve_refuses_a_public_address_without_a_key():
    out = run_cli("serve", "--host", "0.0.0.0", "--port", "0")
    assert out.returncode == 2
    assert "error: refusing to serve on 0.0.0.0 without an API key" in out.stderr and "hint:" in out.stderr
    out = run_cli("serve", "--host", "0.0.0.0", "--api-key-env", "PERSONA_TEST_NO_SUCH_KEY")
    assert out.returncode == 2 and "unset or empty" in out.stderr


def test_serve_on_a_taken_port_is_an_error_with_a_hint():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        out = run_cli("serve", "--port", str(taken.getsockname()[1]))
    assert out.returncode == 2 and "Address already in use" in out.stderr and "hint: choose another --port" in out.stderr


# -- the real command in a subprocess ------------------------------------------------------

ECHO_PLUGIN = '''
from persona.hookspecs import hookimpl
from persona.models.scripted import ScriptedBackend


class Echo(ScriptedBackend):
    """Answers "echo: <the newest user message>"."""

    def stream(self, messages, params, cancel, stats):
        self.replies = ["echo: " + next(m["content"] for m in reversed(messages) if m["role"] == "user")]
        yield from super().stream(messages, params, cancel, stats)


ECHO = Echo()


@hookimpl
def register_backends(register):
    register("echo", lambda base, progress=None: ECHO)
'''


@pytest.fixture
def served(persona_home):
    """`persona serve --port 0` in a subprocess, on a test backend plugin; yields its /v1 URL."""
    import os
    import subprocess
    import sys

    (persona_home / "plugins").mkdir(parents=True)
    (persona_home / "plugins" / "echo.py").write_text(ECHO_PLUGIN)
    env = {**os.environ, "PERSONA_BACKEND": "echo", "PERSONA_TEST_KEY": "k3y"}
    proc = subprocess.Popen([sys.executable, "-m", "persona", "serve", "--port", "0", "--api-key-env",
                             "PERSONA_TEST_KEY"], stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stderr.readline()
        assert "listening on http://127.0.0.1:" in line, line
        yield line.split("http://")[1].split()[0], env
    finally:
        proc.terminate()
        proc.wait(30)


def test_persona_serve_command_serves_and_its_sessions_resume_from_the_cli(served):
    url, env = served
    client = openai.OpenAI(base_url=f"http://{url}", api_key="k3y", max_retries=0,
                           default_headers={"X-Persona-Session": "from-http"})
    done = client.chat.completions.create(model="captain-mara", messages=[{"role": "user", "content": "Ahoy"}])
    assert done.choices[0].message.content == "echo: Ahoy"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"http://{url}", api_key="nope", max_retries=0).models.list()
    # the conversation begun over HTTP goes on in the terminal
    out = run_cli("ask", "captain-mara", "Still there?", "--session", "from-http", "--json", env=env)
    assert out.returncode == 0, out.stderr
    users = [m["content"] for m in json.loads(out.stdout)["messages"] if m["role"] == "user"]
    assert users == ["Ahoy", "Still there?"]
