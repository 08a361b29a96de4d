"""SIGKILL at random moments never damages the store or leaves half a turn.

A child process runs a seeded stream of turns, regenerates, undos, swipes and
forks against a real store and is killed at a random moment (seeded too). The
child prints ``done N`` after each operation. After each kill the store must
pass ``PRAGMA integrity_check``, every session must be whole (each user message
answered, positions without gaps), and the store must equal exactly the state
after operation N or N+1 of the same stream replayed here, in-process, on a
copy of the store as it was before the child started: every earlier turn
unchanged, every operation all or nothing.

PERSONA_CRASH_KILLS sets the number of kills (50 by default).
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

KILLS = int(os.environ.get("PERSONA_CRASH_KILLS", "50"))
CHILD = "import sys; from tests.test_crash_safety import work; work(sys.argv[1], int(sys.argv[2]))"


def work(path: str, seed: int, steps: int | None = None, after=None) -> None:
    """The operation stream of ``seed``: forever (the child, until killed), or ``steps`` operations,
    calling ``after(n)`` after operation n (the replay)."""
    from persona import branching
    from persona import engine as engine_module

    rng = random.Random(seed)
    ids = iter(f"k{seed}-{n}" for n in range(10**6))
    # Session ids from the seed, so the replay names its sessions as the child did.
    original = engine_module.new_session_id
    engine_module.new_session_id = branching.new_session_id = lambda: next(ids)
    try:
        _operations(path, seed, rng, steps, after)
    finally:
        engine_module.new_session_id = branching.new_session_id = original


def _operations(path: str, seed: int, rng: random.Random, steps: int | None, after) -> None:
    from persona.engine import Engine
    from persona.models.scripted import ScriptedBackend
    from persona.packs import get_pack
    from persona.plugins import make_manager
    from persona.store import Store

    backend = ScriptedBackend([f"reply {n} of run {seed}." for n in range(10**4)])
    engine = Engine(pm=make_manager(load_builtins=False, load_entrypoints=False), store=Store(path),
                    backend_loader=lambda ref, progress=None, **kw: backend)
    pack = get_pack("captain-mara")
    chats = [engine.resume(s.id, pack) for s in sorted(engine.store.sessions(10**6), key=lambda s: s.id)]
    if after is None:
        print("ready", flush=True)
    n = 0
    while steps is None or n < steps:
        n += 1
        op = rng.choice(["new", "turn", "turn", "turn", "regenerate", "undo", "swipe", "fork"] if chats else ["new"])
        chat = rng.choice(chats) if chats else None
        last = chat.conversation.messages[-1] if chat else None
        if op == "new":
            chats.append(engine.new_chat(pack))
            engine.turn(chats[-1], f"hello {n}")
        elif op == "turn":
            engine.turn(chat, f"message {n} " * rng.randint(1, 200))  # some turns span pages
        elif op == "regenerate" and last.role == "assistant" and not last.metadata.get("greeting"):
            engine.regenerate(chat)
        elif op == "undo":
            engine.undo(chat)
        elif op == "swipe" and last.metadata.get("alternatives"):
            engine.swipe(chat, rng.choice([-1, 1]))
        elif op == "fork":
            users = [i for i, m in enumerate(chat.conversation.messages) if m.role == "user"]
            if users:
                chats.append(engine.fork(chat, rng.choice(users), f"edited {n}")[0])
        if after is None:
            print(f"done {n}", flush=True)
        else:
            after(n)


def state(db: sqlite3.Connection) -> dict[str, list[tuple]]:
    rows = db.execute("SELECT session_id, seq, role, content, name, tool_call, metadata FROM messages "
                      "ORDER BY session_id, seq").fetchall()
    out: dict[str, list[tuple]] = {s: [] for (s,) in db.execute("SELECT id FROM sessions")}
    for session, *row in rows:
        meta = json.loads(row[-1])
        meta.pop("sent", None)  # the wall-clock time a message was sent ({{idle_duration}}): differs in the replay
        out.setdefault(session, []).append((*row[:-1], json.dumps(meta, sort_keys=True)))
    return out


def assert_whole(sessions: dict[str, list[tuple]]) -> None:
    for session, rows in sessions.items():
        assert [r[0] for r in rows] == list(range(len(rows))), f"{session}: positions with gaps"
        roles = [r[1] for r in rows]
        assert roles[:2] == ["system", "assistant"], f"{session}: starts {roles[:2]}"
        for i, role in enumerate(roles):
            if role == "user":  # answered: tool messages may come between, then the reply
                rest = [r for r in roles[i + 1:] if r not in ("function_call", "observation")]
                assert rest and rest[0] == "assistant", f"{session}: message {i} has no reply"
        assert roles[-1] == "assistant", f"{session}: ends with {roles[-1]}"


def copy_of(path: Path, to: Path) -> None:
    src, dst = sqlite3.connect(path), sqlite3.connect(to)
    src.backup(dst)  # a consistent copy, the -wal file's commits included
    src.close()
    dst.close()


@pytest.mark.slow
def test_sigkill_at_random_moments_never_leaves_half_an_operation(persona_home, tmp_path):
    persona_home.mkdir()
    store, before = persona_home / "sessions.db", tmp_path / "before.db"
    rng = random.Random(20240611)
    # Where the kills landed: the store as at the last reported op, or one op further
    # (killed in or after the next op's commit, before it was reported: a write() that
    # reached the WAL is committed even if the process dies in the fsync after it).
    landed = {"last reported": 0, "one further": 0}
    ops = 0
    for kill in range(KILLS):
        if store.exists():
            copy_of(store, before)
        elif before.exists():
            before.unlink()
        seed = rng.randrange(10**9)
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(store), str(seed)], cwd=ROOT,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
        time.sleep(rng.uniform(0, 0.25))
        child.send_signal(signal.SIGKILL)
        out, err = child.communicate(timeout=60)
        assert child.returncode == -signal.SIGKILL, f"the child ended on its own: {err}"
        done = max((int(line.split()[1]) for line in out.splitlines() if line.startswith("done ")), default=0)

        db = sqlite3.connect(store)
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)], f"kill {kill}"
        after = state(db)
        db.close()
        assert_whole(after)

        # Replay the same stream on the copy: the store must be the state after op `done` or `done + 1`.
        replay = tmp_path / f"replay{kill}.db"
        if before.exists():
            copy_of(before, replay)
        con = sqlite3.connect(replay)
        states = {0: state(con) if before.exists() else {}} if done == 0 else {}

        def record(n: int) -> None:
            if n >= done:
                states[n] = state(con)

        work(str(replay), seed, steps=done + 1, after=record)
        con.close()
        match = [n for n in (done, done + 1) if states[n] == after]
        assert match, f"kill {kill} (seed {seed}) after op {done}: the store is no state of the stream"
        landed["last reported" if match[0] == done else "one further"] += 1
        ops += done
        replay.unlink()
    print(f"{KILLS} kills after {ops} operations in all; the store was at: {landed}")
