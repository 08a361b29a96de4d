"""The author's note (issue 11, item 7): /note in the REPL and the TUI, ask --note, kept with the session."""

from __future__ import annotations

import io
import json

from persona import repl
from persona.cli import main
from persona.engine import Engine
from persona.models.scripted import ScriptedBackend
from persona.packs import load_pack
from persona.plugins import make_manager
from persona.store import Store
from persona.tui.app import PersonaApp
from persona.tui.widgets import Composer, Notice

from .conftest import MINIMAL, write_pack

# A backend that answers with every message it was sent after the system prompt, so a
# front end's output shows where the note went.
MIRROR = '''
from persona.hookspecs import hookimpl
from persona.models.scripted import ScriptedBackend


class Mirror(ScriptedBackend):
    def stream(self, messages, params, cancel, stats):
        self.replies = [" | ".join(f"{m['role']}={m['content']}" for m in messages[1:])]
        yield from super().stream(messages, params, cancel, stats)


@hookimpl
def register_backends(register):
    register("mirror", lambda base, progress=None: Mirror())
'''


def mirror_pack(home):
    (home / "plugins").mkdir(parents=True, exist_ok=True)
    (home / "plugins" / "mirror.py").write_text(MIRROR)
    return write_pack(home / "personas" / "mirror", MINIMAL + '[model]\nbackend = "mirror"\n')


def plain_pack(tmp_path):
    return load_pack(write_pack(tmp_path / "plain", MINIMAL))


def scripted(pack):
    backend = ScriptedBackend(["Aye."] * 20)
    return Engine(pm=make_manager(load_entrypoints=False), backend_loader=lambda *a, **k: backend), backend


def users(session: str) -> list:
    return [m for m in Store(readonly=True).load(session)[1].messages if m.role == "user"]


def test_repl_note_shows_sets_moves_and_clears_the_note_and_the_session_keeps_it(persona_home, capsys):
    mirror_pack(persona_home)
    out = io.StringIO()
    script = "/note\n/note Keep replies short.\n/note depth 0\nhi\n/note off\nbye\n/note depth x\n"
    repl.run_repl("mirror", stdin=io.StringIO(script), stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[1:4] == ["author's note: none (depth 4)",
                          "author's note (depth 4, system): Keep replies short.",
                          "author's note (depth 0, system): Keep replies short."]
    assert lines[4] == ("Test Char: assistant=Hi, User, I am Test Char. | user=hi | system=Keep replies short.")
    assert lines[5] == "author's note: none (depth 4)"
    assert lines[6].endswith("| user=bye") and lines[6].count("system=Keep replies short.") == 1  # in the echo
    assert "error: /note depth needs a number" in capsys.readouterr().err
    session = Store(readonly=True).sessions()[0].id
    assert [u.metadata.get("authors_note") for u in users(session)] == [
        {"text": "Keep replies short.", "depth": 0, "role": "system"}, None]


async def test_tui_note_sets_the_note_the_next_turn_uses(tmp_path):
    pack = plain_pack(tmp_path)
    engine, backend = scripted(pack)
    app = PersonaApp(str(pack.path), engine=engine)
    async with app.run_test(size=(100, 32)) as pilot:
        for text in ("/note The storm is coming.", "/note depth 1", "/note depth -3", "Hello?", "/note"):
            app.query_one(Composer).text = text
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
        notes = [str(w.render()) for w in app.query(Notice)]
    assert "author's note (depth 1, system): The storm is coming." in notes
    assert any("depth must be 0-1000" in n for n in notes)
    assert backend.calls[0][-2:] == [{"role": "system", "content": "The storm is coming."},
                                     {"role": "user", "content": "Hello?"}]
    assert users(app.chat.session_id)[0].metadata["authors_note"]["text"] == "The storm is coming."


def test_ask_note_is_in_the_json_record_and_a_resumed_session_keeps_it(persona_home, capsys):
    mirror_pack(persona_home)
    assert main(["ask", "mirror", "hi", "--note", "Speak in rhyme.", "--note-depth", "1", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    user = [m for m in record["messages"] if m["role"] == "user"][0]
    assert user["metadata"]["authors_note"] == {"text": "Speak in rhyme.", "depth": 1, "role": "system"}
    assert record["reply"].endswith("system=Speak in rhyme. | user=hi")
    assert main(["ask", "mirror", "again", "--session", record["session"], "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["reply"].endswith("system=Speak in rhyme. | user=again")
    assert main(["ask", "mirror", "hi", "--note-depth", "2000"]) == 2
    assert "depth must be 0-1000" in capsys.readouterr().err


def test_the_note_sits_at_its_depth_default_4_and_the_history_before_it_is_untouched(tmp_path):
    pack = plain_pack(tmp_path)
    engine, backend = scripted(pack)
    chat = engine.new_chat(pack)
    for text in ("one", "two", "three"):
        engine.turn(chat, text)
    engine.set_note(chat, "Mind the tide.")
    engine.turn(chat, "four")
    sent = [(m["role"], m["content"]) for m in backend.calls[-1][1:]]
    # greeting, one, Aye., two, [note], Aye., three, Aye., four: 4 messages before the end
    assert sent[4] == ("system", "Mind the tide.") and sent[5:] == [
        ("assistant", "Aye."), ("user", "three"), ("assistant", "Aye."), ("user", "four")]
    assert backend.calls[-1][:5] == backend.calls[-2][:5]  # the prompt before it is as last turn


def test_a_note_set_between_turns_of_a_stored_chat_is_kept_at_once(tmp_path):
    pack = plain_pack(tmp_path)
    engine, _ = scripted(pack)
    chat = engine.new_chat(pack)
    engine.turn(chat, "one")
    engine.set_note(chat, "Whisper.", depth=2)
    engine2, backend2 = scripted(pack)
    resumed = engine2.resume(chat.session_id, pack)  # no turn in between
    engine2.turn(resumed, "two")
    assert {"role": "system", "content": "Whisper."} in backend2.calls[-1]
    engine2.set_note(resumed, off=True)
    engine3, backend3 = scripted(pack)
    engine3.turn(engine3.resume(chat.session_id, pack), "three")
    assert all(m["content"] != "Whisper." for m in backend3.calls[-1])
