"""Shared fixtures. Every test gets its own PERSONA_HOME; the converted model
cache is shared by the whole run (PERSONA_CACHE_DIR) so the GGUF is converted
once, for real, per test session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

from persona.plugins import make_manager

# Property tests run the same examples every time (HYPOTHESIS_PROFILE=explore
# searches afresh): a verdict must not depend on which inputs a run drew.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    path = Path(os.environ.get("PERSONA_TEST_CACHE") or tmp_path_factory.mktemp("model-cache"))
    return path


@pytest.fixture(autouse=True)
def persona_home(tmp_path, monkeypatch, model_cache) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("PERSONA_HOME", str(home))
    monkeypatch.setenv("PERSONA_CACHE_DIR", str(model_cache))
    monkeypatch.delenv("PERSONA_PATH", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no network at run time, in tests as in use
    return home


@pytest.fixture
def pm():
    """A plugin manager without third-party entry points."""
    return make_manager(load_entrypoints=False)


def run_cli(*args: str, input: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real `persona` command in a subprocess, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "persona", *args], input=input, capture_output=True,
                          text=True, env=full_env, cwd=ROOT, timeout=600)


def write_pack(folder: Path, manifest: str, files: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "persona.toml").write_text(manifest)
    for name, text in (files or {}).items():
        (folder / name).write_text(text)
    return folder


MINIMAL = """spec = "persona-pack"
spec_version = "1"
name = "Test Char"
greetings = ["Hi, {{user}}, I am {{char}}."]
system = "You are {{char}}. Talk to {{user}}."
"""


@pytest.fixture
def stored(persona_home):
    """A store holding one conversation (session "abc123"); returns a function that reads it all back."""
    from persona.conversation import Message
    from persona.store import Store

    store = Store()
    store.commit_turn("abc123", "captain-mara", "smollm2-135m",
                      [Message("system", "s"), Message("user", "hello"), Message("assistant", "ahoy")], 0, "hello")
    store.close()

    def snapshot():
        s = Store()
        try:
            return [(i.to_dict(), [m.to_dict() for m in s.load(i.id)[1].messages]) for i in s.sessions()]
        finally:
            s.close()

    return snapshot
