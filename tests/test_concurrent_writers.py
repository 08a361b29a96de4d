"""Two processes writing one session: no turn is lost, and the slower one says so.

Each case runs real processes on one real store. The order is forced, not
hoped for: a process stops at a barrier (it creates ``<name>.started`` and waits
for ``<name>.go``) while the other writes, so the race happens every time.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from persona.branching import MOVED_NOTICE
from persona.engine import Engine
from persona.packs import get_pack
from persona.plugins import make_manager
from persona.store import Store
from tests.conftest import MINIMAL, ROOT, write_pack

# A drop-in plugin: backend "barrier" replies "<name> heard: <the last user message>";
# with PERSONA_TEST_PAUSE=generate it waits at the barrier before replying.
PLUGIN = '''
import os
import time
from pathlib import Path

from persona.hookspecs import hookimpl
from persona.models.scripted import ScriptedBackend


def barrier(stage):
    if os.environ.get("PERSONA_TEST_PAUSE") != stage:
        return
    folder, name = Path(os.environ["PERSONA_TEST_BARRIER"]), os.environ["PERSONA_TEST_NAME"]
    (folder / (name + ".started")).touch()
    deadline = time.monotonic() + 120
    while not (folder / (name + ".go")).exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the test never opened the barrier")
        time.sleep(0.01)


class Barrier(ScriptedBackend):
    def stream(self, messages, params, cancel, stats):
        barrier("generate")
        heard = [m["content"] for m in messages if m["role"] == "user"][-1]
        self.replies = [os.environ.get("PERSONA_TEST_NAME", "other") + " heard: " + heard]
        yield from super().stream(messages, params, cancel, stats)


@hookimpl
def register_backends(register):
    register("barrier", lambda base, progress=None: Barrier())
'''

# One engine operation in its own process; prints what it saw as JSON.
ENGINE = '''
import json, sys
from persona.engine import Engine
from persona.errors import PersonaError
from persona.notices import turn_notices
from persona.packs import get_pack
from persona.plugins import make_manager

op, session, text = sys.argv[1:4]
engine = Engine(pm=make_manager(load_entrypoints=False))
from persona_dropin_barrier import barrier  # the drop-in above, loaded by make_manager

chat = engine.resume(session, get_pack("racer"))
barrier("load")
out = {}
try:
    if op == "turn":
        result = engine.turn(chat, text)
        out.update(concurrent=result.concurrent, notices=turn_notices(result.messages))
    elif op == "regenerate":
        engine.regenerate(chat)
    elif op == "undo":
        engine.undo(chat)
    elif op == "swipe":
        engine.swipe(chat, -1)
except PersonaError as exc:
    out.update(error=type(exc).__name__, message=exc.message, hint=exc.hint)
out["chat"] = [m.content for m in chat.conversation.messages]
print(json.dumps(out))
'''


@pytest.fixture
def session(persona_home) -> str:
    """A stored session of pack ``racer`` (backend ``barrier``) with one turn."""
    (persona_home / "plugins").mkdir(parents=True)
    (persona_home / "plugins" / "barrier.py").write_text(PLUGIN)
    write_pack(persona_home / "personas" / "racer", MINIMAL + '[model]\nbackend = "barrier"\n')
    engine = Engine(pm=make_manager(load_entrypoints=False))
    chat = engine.new_chat(get_pack("racer"))
    engine.turn(chat, "setup")
    return chat.session_id


def stored(session_id: str) -> list[str]:
    return [m.content for m in Store().load(session_id)[1].messages[2:]]  # after system and greeting


class Racer:
    """A process that stops at the barrier named ``name`` until :meth:`go`."""

    def __init__(self, tmp_path: Path, name: str, pause: str, *cmd: str) -> None:
        self.folder, self.name = tmp_path, name
        env = {**os.environ, "PERSONA_TEST_BARRIER": str(tmp_path), "PERSONA_TEST_NAME": name,
               "PERSONA_TEST_PAUSE": pause}
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while not (tmp_path / f"{name}.started").exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{name} never reached the barrier: {self.proc.communicate()}")
            time.sleep(0.01)

    def go(self) -> subprocess.CompletedProcess:
        (self.folder / f"{self.name}.go").touch()
        out, err = self.proc.communicate(timeout=120)
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out, err)


def engine_op(op: str, session_id: str, text: str = "") -> list[str]:
    return [sys.executable, "-c", ENGINE, op, session_id, text]


def ask(session_id: str, text: str) -> list[str]:
    return [sys.executable, "-m", "persona", "ask", "racer", "--session", session_id, text]


def run(cmd: list[str], name: str = "other") -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PERSONA_TEST_NAME": name},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_two_engines_appending_to_one_session_keep_both_turns(session, tmp_path):
    slow = Racer(tmp_path, "slow", "generate", *engine_op("turn", session, "from slow"))
    run(engine_op("turn", session, "from fast"), name="fast")
    done = slow.go()
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    expected = ["setup", "other heard: setup", "from fast", "fast heard: from fast",
                "from slow", "slow heard: from slow"]
    assert stored(session) == expected
    assert out["concurrent"] is True and out["notices"] == [MOVED_NOTICE]
    assert out["chat"][2:] == expected  # the slow engine reloaded: its chat is the store's order


def test_two_asks_on_one_session_both_succeed_and_the_later_says_so(session, tmp_path):
    slow = Racer(tmp_path, "slow", "generate", *ask(session, "from slow"))
    run(ask(session, "from fast"), name="fast")
    done = slow.go()
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "slow heard: from slow"
    assert f"notice: {MOVED_NOTICE}" in done.stderr and "error" not in done.stderr
    assert stored(session)[2:] == ["from fast", "fast heard: from fast", "from slow", "slow heard: from slow"]


def test_a_repl_whose_session_another_process_extended_keeps_working(session):
    repl = subprocess.Popen([sys.executable, "-m", "persona", "repl", "racer", "--session", session], cwd=ROOT,
                            env={**os.environ, "PERSONA_TEST_NAME": "repl"}, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line.rstrip("\n")) for line in repl.stdout], daemon=True)
    reader.start()
    seen: list[str] = []

    def say(text: str) -> None:
        repl.stdin.write(text + "\n")
        repl.stdin.flush()
        while not seen or not seen[-1].endswith(f"repl heard: {text}"):
            seen.append(lines.get(timeout=120))

    try:
        say("first")
        run(ask(session, "from ask"))  # another process extends the session under the REPL
        say("second")
        say("third")  # and every later turn works too
    finally:
        repl.stdin.close()
        repl.wait(timeout=120)
    reader.join(timeout=60)
    while not lines.empty():
        seen.append(lines.get())
    assert repl.returncode == 0 and "error" not in repl.stderr.read()
    assert [line for line in seen if line.startswith("notice:")] == [f"notice: {MOVED_NOTICE}"]
    assert seen.index(f"notice: {MOVED_NOTICE}") > next(i for i, x in enumerate(seen) if x.endswith("heard: second"))
    assert stored(session)[2:] == ["first", "repl heard: first", "from ask", "other heard: from ask",
                                   "second", "repl heard: second", "third", "repl heard: third"]


async def test_a_tui_whose_session_another_process_extended_reloads_and_says_so(session):
    from persona.tui.app import PersonaApp
    from persona.tui.widgets import ChatMessage, Composer

    app = PersonaApp("racer", session, engine=Engine(pm=make_manager(load_entrypoints=False)))
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        run(ask(session, "from ask"))
        app.query_one(Composer).text = "from the tui"
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        for _ in range(200):  # the worker's "turn done" message is handled after it ends: wait for it
            if app._notifications and not app.busy:
                break
            await pilot.pause(0.05)
        await pilot.pause()
        shown = [w._markdown for w in app.query(ChatMessage)][1:]
        toasts = [n.message for n in app._notifications]
    expected = ["setup", "other heard: setup", "from ask", "other heard: from ask",
                "from the tui", "other heard: from the tui"]
    assert stored(session) == expected and shown == expected  # the transcript is the store's, reloaded
    assert toasts == [MOVED_NOTICE]


@pytest.mark.parametrize("pause", ["load", "generate"])
def test_regenerate_after_another_process_appended_is_refused_and_loses_nothing(session, tmp_path, pause):
    # "load": the session moved before regenerate began; "generate": while the new reply was written.
    slow = Racer(tmp_path, "slow", pause, *engine_op("regenerate", session))
    run(ask(session, "from ask"))
    out = json.loads(slow.go().stdout)
    expected = ["setup", "other heard: setup", "from ask", "other heard: from ask"]
    assert out["error"] == "SessionMoved" and "reloaded" in out["hint"]
    assert stored(session) == expected and out["chat"][2:] == expected


def test_undo_after_another_process_appended_is_refused_and_loses_nothing(session, tmp_path):
    slow = Racer(tmp_path, "slow", "load", *engine_op("undo", session))
    run(ask(session, "from ask"))
    out = json.loads(slow.go().stdout)
    expected = ["setup", "other heard: setup", "from ask", "other heard: from ask"]
    assert out["error"] == "SessionMoved" and stored(session) == expected and out["chat"][2:] == expected


def test_swipe_after_another_process_appended_is_refused_and_loses_nothing(session, tmp_path):
    run(engine_op("regenerate", session), name="again")  # the last reply now has two swipes
    slow = Racer(tmp_path, "slow", "load", *engine_op("swipe", session))
    run(ask(session, "from ask"))
    out = json.loads(slow.go().stdout)
    expected = ["setup", "again heard: setup", "from ask", "other heard: from ask"]
    assert out["error"] == "SessionMoved" and stored(session) == expected and out["chat"][2:] == expected
    reply = Store().load(session)[1].messages[3]
    assert reply.metadata["swipe"] == 1 and reply.metadata["alternatives"] == ["other heard: setup",
                                                                               "again heard: setup"]
