from __future__ import annotations

import sqlite3

import pytest

from persona.conversation import Message
from persona.errors import StoreError
from persona.models import cache
from persona.models.base import StopTrimmer
from persona.store import Store


def test_store_uses_wal_and_round_trips_messages(persona_home):
    store = Store()
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    msgs = [Message("system", "sys"), Message("user", "你好 [bold]", metadata={"sentiment": {"label": "positive"}}),
            Message.function_call("roll_dice", {"spec": "2d6"}, "c1"),
            Message("observation", "7", tool_call={"name": "roll_dice", "id": "c1"})]
    store.commit_turn("s1", "captain-mara", "smollm2-135m", msgs, 0, "你好")
    info, conv = Store().load("s1")
    assert conv.messages == msgs and info.messages == 4 and info.title == "你好"


def test_a_failed_turn_commit_leaves_nothing_behind(persona_home):
    store = Store()
    store.commit_turn("s1", "p", "b", [Message("user", "kept")], 1)
    with pytest.raises(StoreError):
        # "x" fits at seq 0, "y" collides with seq 1: the whole turn must roll back.
        store.commit_turn("s1", "p", "b", [Message("user", "x"), Message("assistant", "y")], 0)
    assert [m.content for m in Store().load("s1")[1].messages] == ["kept"]


def test_store_from_a_newer_version_is_refused(persona_home):
    Store().close()
    db = sqlite3.connect(persona_home / "sessions.db")
    db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(StoreError, match="newer persona"):
        Store()


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    """A cache of this test's own, not the run's shared model cache."""
    monkeypatch.setenv("PERSONA_CACHE_DIR", str(tmp_path / "cache"))


def test_killed_conversion_leaves_no_trusted_cache(own_cache):
    def half_then_die(tmp):
        (tmp / "model.safetensors").write_bytes(b"partial")
        raise KeyboardInterrupt  # what a Ctrl-C mid-conversion looks like

    with pytest.raises(KeyboardInterrupt):
        cache.write_atomically("a" * 64, half_then_die)
    assert cache.cached("a" * 64) is None
    assert list(cache.models_dir().iterdir()) == []


def test_unmarked_leftover_folder_is_not_trusted_and_gets_replaced(own_cache):
    stale = cache.models_dir() / ("b" * 64)
    stale.mkdir(parents=True)
    (stale / "model.safetensors").write_bytes(b"half")
    assert cache.cached("b" * 64) is None
    folder = cache.write_atomically("b" * 64, lambda tmp: (tmp / "config.json").write_text("{}") and {})
    assert cache.cached("b" * 64) == folder
    assert not (folder / "model.safetensors").exists()


def test_sha_index_is_reused_for_unchanged_files(own_cache, tmp_path):
    f = tmp_path / "m.gguf"
    f.write_bytes(b"x" * 1000)
    said = []
    first = cache.file_sha256([f], said.append)
    second = cache.file_sha256([f], said.append)
    assert first == second and len(said) == 1  # hashed once
    f.write_bytes(b"y" * 1000)
    assert cache.file_sha256([f]) != first


@pytest.mark.parametrize("chunks,stops,expected", [
    (["Hello ", "Us", "er: more"], ["User:"], "Hello "),
    (["a", "b", "c"], [], "abc"),
    (["end<", "|im", "_end|>x"], ["<|im_end|>"], "end"),
    (["U", "nder"], ["User:"], "Under"),
])
def test_stop_strings_are_trimmed_and_never_half_shown(chunks, stops, expected):
    trimmer = StopTrimmer(stops)
    shown = "".join(trimmer.feed(c) for c in chunks) + trimmer.flush()
    assert shown == expected
