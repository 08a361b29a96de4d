from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys

import pytest

from persona.conversation import Message
from persona.errors import StoreError
from persona.models import cache
from persona.models.base import StopTrimmer
from persona.store import SessionMoved, Store
from tests.conftest import ROOT, run_cli


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
    store.commit_turn("s1", "p", "b", [Message("user", "kept"), Message("assistant", "ok")], 0)
    broken = Message("assistant", "y")
    broken.content = None  # NOT NULL: the second row fails, so the whole turn must roll back
    with pytest.raises(StoreError, match="could not save the turn"):
        store.commit_turn("s1", "p", "b", [Message("user", "x"), broken], 2)
    with pytest.raises(StoreError):
        store.commit_turn("s2", "p", "b", [Message("user", "x"), broken], 0)
    assert [m.content for m in Store().load("s1")[1].messages] == ["kept", "ok"]
    assert [s.id for s in Store().sessions()] == ["s1"]  # nor the new session's row


def test_a_turn_goes_at_the_real_end_and_reports_that_the_session_moved(persona_home):
    store = Store()
    first = store.commit_turn("s1", "p", "b", [Message("user", "a"), Message("assistant", "A")], 0, head=0)
    assert (first.start, first.moved) == (0, False)
    other = Store().commit_turn("s1", "p", "b", [Message("user", "b"), Message("assistant", "B")], 2,
                                head=first.head)
    assert not other.moved
    # A writer still holding the first head (or the old position) appends after the other turn.
    late = [Message("user", "c"), Message("assistant", "C")]
    saved = store.commit_turn("s1", "p", "b", late, 2, head=first.head, moved_notice="moved on")
    assert (saved.start, saved.moved) == (4, True) and saved.head == store.head("s1")
    assert [m.content for m in store.load("s1")[1].messages] == ["a", "A", "b", "B", "c", "C"]
    assert store.load("s1")[1].messages[-1].metadata["notices"] == ["moved on"] == late[-1].metadata["notices"]


@pytest.mark.parametrize("rewrite", ["truncate", "replace_from", "update_message"])
def test_rewrites_of_a_session_that_moved_on_are_refused_and_change_nothing(persona_home, rewrite):
    store = Store()
    stale = store.commit_turn("s1", "p", "b", [Message("user", "a"), Message("assistant", "A")], 0).head
    Store().commit_turn("s1", "p", "b", [Message("user", "b"), Message("assistant", "B")], 2)
    call = {"truncate": lambda: store.truncate("s1", 0, head=stale),
            "replace_from": lambda: store.replace_from("s1", 1, [Message("assistant", "X")], head=stale),
            "update_message": lambda: store.update_message("s1", 1, Message("assistant", "X"), head=stale)}
    with pytest.raises(SessionMoved, match="changed by another persona process") as err:
        call[rewrite]()
    assert "reloaded" in err.value.hint
    assert [m.content for m in Store().load("s1")[1].messages] == ["a", "A", "b", "B"]


def test_store_from_a_newer_version_is_refused(persona_home):
    Store().close()
    db = sqlite3.connect(persona_home / "sessions.db")
    db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(StoreError, match="newer persona"):
        Store()


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _stored_session(home) -> None:
    store = Store()
    for i in range(40):  # enough rows for several pages
        store.commit_turn("s1", "captain-mara", "smollm2-135m",
                          [Message("user", f"question {i} " * 20), Message("assistant", f"answer {i} " * 20)])
    store.close()  # the last connection checkpoints: everything is in sessions.db itself


def _clean_error(proc, *needles: str) -> None:
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "error: " in proc.stderr and "hint: " in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


def _garbage(db) -> None:
    db.write_bytes(b"this is not a database, it only shares the name " * 100)


def _damaged_pages(db) -> None:
    data = bytearray(db.read_bytes())
    data[4096:] = b"\xa5" * (len(data) - 4096)  # every page after the schema page
    db.write_bytes(bytes(data))


def _damaged_needing(pragma: str):
    def damage(db) -> None:  # a damaged store that opening would write to: a migration, the switch to WAL
        con = sqlite3.connect(db)
        con.execute(pragma)
        con.close()
        _damaged_pages(db)
    return damage


@pytest.mark.parametrize("damage", [_garbage, _damaged_pages, _damaged_needing("PRAGMA user_version=2"),
                                    _damaged_needing("PRAGMA journal_mode=DELETE")])
def test_a_damaged_store_is_an_error_and_its_bytes_are_never_changed(persona_home, damage):
    _stored_session(persona_home)
    db = persona_home / "sessions.db"
    damage(db)
    before = _sha(db)
    _clean_error(run_cli("sessions"), "sessions.db")
    _clean_error(run_cli("export", "s1"), "sessions.db")
    _clean_error(run_cli("ask", "captain-mara", "--session", "s1", "hello"), "sessions.db")
    with pytest.raises(StoreError, match="damaged|not a SQLite database") as err:
        store = Store()
        store.sessions()
        store.load("s1")
    assert "has not changed" in err.value.hint
    assert _sha(db) == before


def test_a_sqlite_file_that_is_not_a_session_store_is_left_alone(persona_home):
    persona_home.mkdir()
    con = sqlite3.connect(persona_home / "sessions.db")
    con.execute("CREATE TABLE accounts (id INTEGER)")
    con.commit()
    con.close()
    before = _sha(persona_home / "sessions.db")
    for readonly in (False, True):
        with pytest.raises(StoreError, match="not a persona session store"):
            Store(readonly=readonly)
    assert _sha(persona_home / "sessions.db") == before


def test_read_only_commands_on_a_missing_store_create_nothing(persona_home):
    assert json.loads(run_cli("sessions", "--json").stdout) == []
    _clean_error(run_cli("export", "s1"), "no session 's1'")
    assert not persona_home.exists()


def test_a_read_only_store_cannot_be_written(persona_home):
    _stored_session(persona_home)
    store = Store(readonly=True)
    with pytest.raises(StoreError, match="read-only"):
        store.commit_turn("s1", "p", "b", [Message("user", "x")])
    assert store.info("s1").messages == 80


def _as_unprivileged(*args: str) -> subprocess.CompletedProcess:
    """``persona ARGS`` as a user the file modes apply to (root ignores them: drop it in a user namespace)."""
    cmd = [sys.executable, "-m", "persona", *args]
    if os.geteuid() == 0:
        if not shutil.which("unshare") or subprocess.run(["unshare", "--user", "--map-user=1000", "true"],
                                                         capture_output=True).returncode:
            pytest.skip("running as root and cannot drop root in a user namespace")
        cmd = ["unshare", "--user", "--map-user=1000", "--map-group=1000", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_sessions_and_export_work_on_a_read_only_store(persona_home):
    _stored_session(persona_home)
    db = persona_home / "sessions.db"
    before = _sha(db)
    db.chmod(0o444)
    persona_home.chmod(0o555)
    try:
        listed = _as_unprivileged("sessions", "--json")
        exported = _as_unprivileged("export", "s1", "--format", "sharegpt")
        refused = _as_unprivileged("ask", "captain-mara", "--session", "s1", "hello")
    finally:
        persona_home.chmod(0o755)
        db.chmod(0o644)
    assert listed.returncode == 0, listed.stderr
    assert [(r["id"], r["messages"]) for r in json.loads(listed.stdout)] == [("s1", 80)]
    assert exported.returncode == 0 and len(json.loads(exported.stdout)["conversations"]) == 80
    _clean_error(refused, "PERSONA_HOME is not writable")
    assert _sha(db) == before and sorted(p.name for p in persona_home.iterdir()) == ["sessions.db"]


@pytest.mark.parametrize("column,value", [("metadata", "{oops"), ("metadata", "[1, 2]"), ("tool_call", "{\"name\":")])
def test_a_message_row_with_damaged_json_is_refused_naming_session_and_row(persona_home, column, value):
    _stored_session(persona_home)
    con = sqlite3.connect(persona_home / "sessions.db")
    con.execute(f"UPDATE messages SET {column} = ? WHERE session_id = 's1' AND seq = 5", (value,))
    con.commit()
    con.close()
    with pytest.raises(StoreError, match=f"session s1: message 5 has a damaged {column}") as err:
        Store().load("s1")
    assert "UPDATE messages SET" in err.value.hint and "seq = 5" in err.value.hint
    _clean_error(run_cli("export", "s1"), "message 5")
    assert json.loads(run_cli("sessions", "--json").stdout)[0]["id"] == "s1"  # the list still works


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


def test_a_second_store_in_one_process_keeps_the_first_ones_locks(persona_home):
    """Opening a Store must not drop another in-process connection's POSIX locks (closing any
    descriptor of the file does): else another process deletes the WAL under it and turns vanish.
    Before the fix the last load failed with SQLITE_IOERR_SHORT_READ and the turn was lost."""
    first = Store()
    first.commit_turn("s1", "captain-mara", "b", [Message("system", "s"), Message("assistant", "hi")], 0)
    second = Store()  # as the TUI's engine opens its own after the CLI's
    other = ("import sys; from persona.store import Store; from persona.conversation import Message; "
             "s = Store(); s.commit_turn('s2', 'captain-mara', 'b', [Message('system', 's')], 0); s.close()")
    subprocess.run([sys.executable, "-c", other], check=True, env={**os.environ})
    second.commit_turn("s1", "captain-mara", "b", [Message("user", "still here?"), Message("assistant", "aye")], 2)
    fresh = Store()
    assert [m.content for m in fresh.load("s1")[1].messages] == ["s", "hi", "still here?", "aye"]
    assert fresh.info("s2").messages == 1
    for s in (first, second, fresh):
        s.close()
