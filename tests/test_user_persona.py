"""The user's own persona: `persona me set|list|use`, `--as`, the prompt, the REPL and the TUI."""

from __future__ import annotations

import io
import json

import pytest

from persona import user_personas
from persona.cli import main
from persona.engine import Engine
from persona.models.scripted import ScriptedBackend
from persona.packs import get_pack, load_pack
from persona.plugins import make_manager
from persona.store import Store
from persona.tui.app import PersonaApp
from persona.tui.widgets import ChatMessage, Composer, Notice, StatusBar

from .conftest import MINIMAL, run_cli, write_pack

KNIGHT = "{{user}} is a tall knight who distrusts {{char}}."

# A backend that answers with the system prompt it was given, so a CLI run shows what the model saw.
MIRROR = '''
from persona.hookspecs import hookimpl
from persona.models.scripted import ScriptedBackend


class Mirror(ScriptedBackend):
    def stream(self, messages, params, cancel, stats):
        self.replies = [messages[0]["content"].replace("\\n", " ")]
        yield from super().stream(messages, params, cancel, stats)


@hookimpl
def register_backends(register):
    register("mirror", lambda base, progress=None: Mirror())
'''


def me(*args: str) -> int:
    return main(["me", *args])


@pytest.fixture
def mirror_pack(persona_home):
    (persona_home / "plugins").mkdir(parents=True)
    (persona_home / "plugins" / "mirror.py").write_text(MIRROR)
    return write_pack(persona_home / "personas" / "mirror", MINIMAL + '[model]\nbackend = "mirror"\n')


def test_me_set_list_use_through_the_cli(capsys, persona_home):
    assert me("list") == 0
    assert "no user personas yet" in capsys.readouterr().out
    assert me("set", "Alice", "--description", KNIGHT) == 0
    assert "saved user persona Alice (in use)" in capsys.readouterr().out  # the first one is used at once
    assert me("set", "Bob Ray") == 0
    assert "persona me use Bob Ray" in capsys.readouterr().out
    assert me("list", "--json") == 0
    assert json.loads(capsys.readouterr().out) == [
        {"name": "Alice", "description": KNIGHT, "active": True},
        {"name": "Bob Ray", "description": "", "active": False}]
    assert me("use", "bob ray") == 0  # names match in any case
    assert "you are now Bob Ray" in capsys.readouterr().out
    assert me("set", "alice") == 0  # updating without --description keeps the description
    capsys.readouterr()
    assert me("list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["Alice", *KNIGHT.split()] and lines[2].split() == ["*", "Bob", "Ray"]
    assert [p.name for p in persona_home.iterdir()] == ["user_personas.json"]  # no temp file left behind


@pytest.mark.parametrize("args, message", [
    (("set", "{{char}}"), "is not a valid user persona name"),
    (("set", "Al\x1bice"), "is not a valid user persona name"),
    (("set", " Alice"), "is not a valid user persona name"),
    (("set", "x" * 65), "is not a valid user persona name"),
    (("set", "Alice", "--description", "y" * 9000), "over the 8000 limit"),
    (("use", "Nobody"), "unknown user persona 'Nobody'"),
])
def test_bad_names_and_descriptions_are_refused_and_nothing_is_written(args, message, capsys, persona_home):
    assert me(*args) == 2
    err = capsys.readouterr().err
    assert f"error: " in err and message in err and "\nhint: " in err
    assert not (persona_home / user_personas.FILENAME).exists()


def test_a_damaged_file_is_an_error_for_me_and_a_warning_for_chats(capsys, persona_home, pm):
    persona_home.mkdir(parents=True)
    (persona_home / user_personas.FILENAME).write_text('{"personas": [{"name": "{{x}}"}]}')
    assert me("list") == 2
    assert "is damaged" in capsys.readouterr().err
    engine = Engine(pm=pm, backend_loader=lambda *a, **k: ScriptedBackend())
    assert engine.user.name == "User"


def test_the_user_persona_names_user_and_its_description_ends_the_system_prompt(pm):
    user_personas.save("Alice", KNIGHT)
    backend = ScriptedBackend(["Aye."])
    engine = Engine(pm=pm, backend_loader=lambda *a, **k: backend)
    pack = get_pack("captain-mara")  # has a lorebook: the description comes after the lore, as SillyTavern
    chat = engine.new_chat(pack)
    engine.turn(chat, "Tell me about the Gull's Rest tavern and the kraken")
    system = backend.calls[0][0]["content"]
    assert system.endswith("\n\nAlice is a tall knight who distrusts Captain Mara.")
    assert "Facts you know:" in system and system.index("Facts you know:") < system.index("Alice is a tall")
    assert chat.conversation.messages[2].metadata["user_persona"] == "Alice"


def test_switching_user_mid_chat_is_recorded_and_a_resume_keeps_it(pm, tmp_path):
    user_personas.save("Alice", "")
    user_personas.save("Bob", "{{user}} is a sailor.")
    backend = ScriptedBackend(["One.", "Two.", "Three."])
    pack = load_pack(write_pack(tmp_path / "p", MINIMAL))
    engine = Engine(pm=pm, backend_loader=lambda *a, **k: backend)
    chat = engine.new_chat(pack)
    assert chat.conversation.messages[1].content == "Hi, Alice, I am Test Char."
    engine.turn(chat, "hello")
    engine.set_user(chat, user_personas.get("bob"))
    engine.turn(chat, "again")
    assert backend.calls[1][0]["content"] == "You are Test Char. Talk to Bob.\n\nBob is a sailor."
    resumed = Engine(pm=pm, backend_loader=lambda *a, **k: backend).resume(chat.session_id, pack)
    assert resumed.conversation.messages[-2].metadata["user_persona"] == "Bob"
    engine.turn(resumed, "third")
    assert backend.calls[2][0]["content"].endswith("Talk to Bob.\n\nBob is a sailor.")


def test_ask_as_names_the_user_and_a_resumed_session_keeps_it(mirror_pack, capsys):
    assert me("set", "Alice", "--description", KNIGHT) == 0
    assert me("set", "Bob") == 0
    capsys.readouterr()
    assert main(["ask", "mirror", "hi", "--as", "bob", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["reply"] == "You are Test Char. Talk to Bob."
    assert record["messages"][1]["content"] == "Hi, Bob, I am Test Char."
    assert record["messages"][2]["metadata"]["user_persona"] == "Bob"
    assert main(["ask", "mirror", "again", "--session", record["session"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["reply"] == "You are Test Char. Talk to Bob."
    assert main(["ask", "mirror", "new chat", "--json"]) == 0  # no --as: the one in use
    assert json.loads(capsys.readouterr().out)["reply"] == (
        "You are Test Char. Talk to Alice.  Alice is a tall knight who distrusts Test Char.")


def test_ask_as_an_unknown_persona_fails_before_anything_is_stored(mirror_pack, capsys):
    assert main(["ask", "mirror", "hi", "--as", "Nobody"]) == 2
    err = capsys.readouterr().err
    assert "error: unknown user persona 'Nobody'" in err and "hint: create it with `persona me set Nobody" in err
    assert Store(readonly=True).sessions() == []


def test_repl_and_chat_take_as_and_refuse_an_unknown_one(mirror_pack, capsys, monkeypatch):
    from persona.cli import build_parser

    assert build_parser().parse_args(["chat", "--as", "Ann"]).as_user == "Ann"
    assert main(["repl", "mirror", "--as", "Nobody"]) == 2
    assert "error: unknown user persona 'Nobody'" in capsys.readouterr().err
    user_personas.save("Alice", "")
    user_personas.save("Bob", "")
    monkeypatch.setattr("sys.stdin", io.StringIO("hi\n"))
    assert main(["repl", "mirror", "--as", "Bob"]) == 0
    assert "Test Char: You are Test Char. Talk to Bob." in capsys.readouterr().out


def test_repl_as_switches_the_user_persona(mirror_pack):
    user_personas.save("Alice", "")
    user_personas.save("Bob", "")
    from persona import repl

    out = io.StringIO()
    repl.run_repl("mirror", stdin=io.StringIO("/as Bob\nhi\n/as Alice\n/as\n/as Nobody\nbye\n"), stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[:3] == ["Test Char: Hi, Alice, I am Test Char.",  # before the first message the greeting
                         "Test Char: Hi, Bob, I am Test Char.", "(you are now Bob)"]  # is redone
    assert "Test Char: You are Test Char. Talk to Bob." in lines and "(you are now Alice)" in lines
    assert "you are Alice; yours: Alice, Bob (persona me set NAME to add one)" in lines
    assert lines[-1] == "Test Char: You are Test Char. Talk to Alice."
    session = Store(readonly=True).sessions()[0].id
    users = [m.metadata.get("user_persona") for m in Store(readonly=True).load(session)[1].messages if m.role == "user"]
    assert users == ["Bob", "Alice"]


async def test_tui_shows_the_user_persona_and_switches_it_with_as():
    user_personas.save("Alice", "")
    user_personas.save("Bob", "{{user}} is a sailor.")
    backend = ScriptedBackend(["Aye."])
    engine = Engine(pm=make_manager(load_entrypoints=False), backend_loader=lambda r, p=None, **kw: backend)
    app = PersonaApp("captain-mara", engine=engine)
    async with app.run_test(size=(100, 32)) as pilot:
        assert "you: Alice" in str(app.query_one(StatusBar).render())
        for text in ("/as Bob", "Who are you?", "/as Nobody"):
            app.query_one(Composer).text = text
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
        assert "you: Bob" in str(app.query_one(StatusBar).render())
        notes = [str(w.render()) for w in app.query(Notice)]
        assert "you are now Bob" in notes and any("unknown user persona 'Nobody'" in n for n in notes)
        assert backend.calls[0][0]["content"].endswith("Bob is a sailor.")
        assert [w.role for w in app.query(ChatMessage)] == ["assistant", "user", "assistant"]
    user = [m for m in Store().load(app.chat.session_id)[1].messages if m.role == "user"]
    assert user[0].metadata["user_persona"] == "Bob"


@pytest.mark.slow
def test_a_real_ask_as_run_on_the_default_model(capsys):
    assert me("set", "Alice", "--description", KNIGHT) == 0
    proc = run_cli("ask", "captain-mara", "Who am I?", "--as", "Alice", "--json", "--max-tokens", "16",
                   "--seed", "1")
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["reply"].strip()
    assert [m["metadata"].get("user_persona") for m in record["messages"] if m["role"] == "user"] == ["Alice"]
