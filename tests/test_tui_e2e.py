"""End to end: the real app, the real default model, inside a real tmux session."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from persona.store import Store

pytestmark = pytest.mark.slow


# A private tmux server with no user config: the test sees neither the user's
# sessions nor their ~/.tmux.conf.
SOCKET = f"persona-test-{uuid.uuid4().hex[:8]}"
TMUX = ["tmux", "-L", SOCKET, "-f", "/dev/null"]


def tmux(*args: str) -> str:
    return subprocess.run([*TMUX, *args], capture_output=True, text=True, check=False).stdout


def screen(name: str) -> str:
    return tmux("capture-pane", "-p", "-t", name)


def wait_for(name: str, predicate, timeout: float, what: str) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = screen(name)
        if predicate(text):
            return text
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; screen was:\n{text}")


def start(name: str, *args: str) -> None:
    env = [f"{k}={os.environ[k]}" for k in ("PERSONA_HOME", "PERSONA_CACHE_DIR")]
    cmd = " ".join([sys.executable, "-m", "persona", "chat", *args])
    subprocess.run([*TMUX, "new-session", "-d", "-s", name, "-x", "110", "-y", "36",
                    *sum((["-e", e] for e in env), []), cmd], check=True)


def ended(name: str, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if subprocess.run([*TMUX, "has-session", "-t", name], capture_output=True).returncode != 0:
            return True
        time.sleep(0.3)
    return False


def test_chat_in_tmux_then_quit_and_resume():
    assert shutil.which("tmux"), "tmux is installed by .ci/run"
    name = f"persona-e2e-{uuid.uuid4().hex[:8]}"
    try:
        start(name, "captain-mara")
        wait_for(name, lambda s: "Captain Mara" in s and "Ahoy" in s, 120, "the greeting")
        tmux("send-keys", "-t", name, "Who are you?", "Enter")
        wait_for(name, lambda s: re.search(r"\d+\.\d tok/s", s), 180, "the reply (tokens/s in the status bar)")
        sessions = Store().sessions()
        assert len(sessions) == 1
        reply = Store().load(sessions[0].id)[1].messages[-1]
        assert reply.role == "assistant" and reply.content.strip()
        tmux("send-keys", "-t", name, "C-q")
        assert ended(name), "ctrl+q did not quit"

        start(name, "--resume")
        # The reply is sampled and shown as Markdown: look for its first plain word,
        # not for markup such as *grins* or **Aye**.
        first_word = re.search(r"[A-Za-z']{3,}", reply.content)
        shown = wait_for(name, lambda s: "Who are you?" in s, 120, "the resumed conversation")
        assert first_word is None or first_word.group() in shown, (reply.content, shown)
        tmux("send-keys", "-t", name, "C-q")
        assert ended(name)
    finally:
        tmux("kill-server")
