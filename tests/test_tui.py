"""The Textual app under Pilot, on the scripted backend and real SQLite."""

from __future__ import annotations

import time

from persona.engine import Engine
from persona.models.scripted import ScriptedBackend
from persona.plugins import make_manager
from persona.store import Store
from persona.tui.app import PersonaApp
from persona.tui.screens import HelpScreen, PersonaPicker, SessionBrowser
from persona.tui.widgets import ChatMessage, Composer, Notice, StatusBar

SIZE = (100, 32)


class SlowBackend(ScriptedBackend):
    """Streams one word every 50 ms, so a test can stop it midway."""

    def stream(self, messages, params, cancel, stats):
        for chunk in super().stream(messages, params, cancel, stats):
            time.sleep(0.05)
            yield chunk


def make_app(replies=("Aye.",), persona="captain-mara", session=None, backend=None):
    backend = backend or ScriptedBackend(list(replies))
    engine = Engine(pm=make_manager(load_entrypoints=False), backend_loader=lambda r, p=None, **kw: backend)
    return PersonaApp(persona, session, engine=engine), backend


def bubbles(app):
    return [(w.role, w._markdown) for w in app.query(ChatMessage)]


def notices(app):
    return [str(w.render()) for w in app.query(Notice)]


async def until(pilot, predicate, what: str, timeout: float = 10.0) -> None:
    """Wait for a condition of the app, not for a fixed time (a loaded machine is slow)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await pilot.pause(0.05)


async def send(pilot, text):
    app = pilot.app
    app.query_one(Composer).text = text
    await pilot.press("enter")
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_send_a_message_and_see_the_reply_streamed_and_saved():
    app, _ = make_app(["Ahoy, friend. Sit down."])
    async with app.run_test(size=SIZE) as pilot:
        assert bubbles(app) == [("assistant", app.chat.persona.greetings[0])]
        await send(pilot, "Who are you?")
        assert bubbles(app)[-2:] == [("user", "Who are you?"), ("assistant", "Ahoy, friend. Sit down.")]
        status = str(app.query_one(StatusBar).render())
        assert "Captain Mara" in status and "smollm2-135m" in status and "tok/s" in status
        assert app.query_one(Composer).text == ""
    stored = Store().load(app.chat.session_id)[1]
    assert [m.content for m in stored.messages[-2:]] == ["Who are you?", "Ahoy, friend. Sit down."]


async def test_markup_and_terminal_escapes_are_shown_literally():
    nasty = "[bold]x[/] [link=https://e.vil]y[/link] \x1b[31mred \x1b]8;;http://e.vil\x07z \x1b]52;c;aGk=\x07"
    app, _ = make_app([nasty])
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "[red]me[/red] \x1b[2J")
        user, reply = bubbles(app)[-2:]
        assert user[1] == "[red]me[/red] ␛[2J"
        assert "\x1b" not in reply[1] and "[bold]x[/]" in reply[1] and "[link=https://e.vil]" in reply[1]
        assert "␛]52;c;aGk=" in reply[1]


async def test_escape_stops_generation_and_keeps_the_partial_reply():
    words = " ".join(f"word{i}" for i in range(200))
    app, _ = make_app(backend=SlowBackend([words]))
    async with app.run_test(size=SIZE) as pilot:
        app.query_one(Composer).text = "talk"
        await pilot.press("enter")
        await until(pilot, lambda: bubbles(app)[-1][1].startswith("word0"), "the reply to start streaming")
        assert app.busy
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not app.busy
        partial = bubbles(app)[-1][1]
        assert partial.startswith("word0") and "word199" not in partial
        assert "(stopped)" in notices(app)
    reply = Store().load(app.chat.session_id)[1].messages[-1]
    assert reply.metadata["stopped"] is True and reply.content == partial


async def test_a_crash_in_generation_shows_an_error_and_the_app_stays_usable():
    app, backend = make_app(["Fine now."])
    async with app.run_test(size=SIZE) as pilot:
        backend.fail_with = RuntimeError("GPU on fire")
        await send(pilot, "first")
        assert any("GPU on fire" in n for n in notices(app))
        assert [r for r, _ in bubbles(app)] == ["assistant"]  # only the greeting
        backend.fail_with = None
        await send(pilot, "second")
        assert bubbles(app)[-1] == ("assistant", "Fine now.")
    assert [m.content for m in Store().load(app.chat.session_id)[1].messages if m.role == "user"] == ["second"]


async def test_resume_shows_every_committed_turn():
    app, _ = make_app(["One.", "Two."])
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "a")
        await send(pilot, "b")
    session = app.chat.session_id
    again, _ = make_app(session=session)
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert [t for _, t in bubbles(again)][-4:] == ["a", "One.", "b", "Two."]


async def test_session_browser_resumes_a_past_session():
    app, _ = make_app(["Old reply."])
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "an old question")
        old = app.chat.session_id
        await send(pilot, "/reset")
        assert app.chat.session_id != old
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert isinstance(app.screen, SessionBrowser)
        await pilot.press("enter")
        await pilot.pause()
        assert app.chat.session_id == old
        assert ("user", "an old question") in bubbles(app)


async def test_persona_picker_and_slash_persona_switch_character():
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, PersonaPicker)
        await pilot.press("escape")
        await send(pilot, "/persona professor-thistle")
        assert app.chat.persona.id == "professor-thistle"
        assert bubbles(app) == [("assistant", app.chat.persona.render(app.chat.persona.greetings[0]))]
        await send(pilot, "/persona nobody")
        assert any("unknown persona 'nobody'" in n for n in notices(app))


async def test_slash_commands_help_system_undo_export_and_tools(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app, _ = make_app(["Rolled well.", "Second."])
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "/help")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await send(pilot, "/system")
        assert any("You are Captain Mara" in n for n in notices(app))
        await send(pilot, "/roll 2d6")
        assert any(n.startswith("[roll_dice] 2d6: ") for n in notices(app))
        assert bubbles(app)[-1] == ("assistant", "Rolled well.")
        await send(pilot, "/export markdown")
        exported = tmp_path / f"persona-{app.chat.session_id}.md"
        assert "**You:** /roll 2d6" in exported.read_text()
        await send(pilot, "/undo")
        assert [r for r, _ in bubbles(app)] == ["assistant"]
        await send(pilot, "/frobnicate")
        assert any("unknown command /frobnicate" in n for n in notices(app))
    assert [m.role for m in Store().load(app.chat.session_id)[1].messages] == ["system", "assistant"]


async def test_ctrl_j_makes_a_multi_line_message_and_arrows_browse_greetings():
    app, _ = make_app(["Got both lines."])
    async with app.run_test(size=SIZE) as pilot:
        greetings = app.chat.persona.greetings
        await pilot.press("right")
        assert bubbles(app) == [("assistant", greetings[1])]
        await pilot.press("left", "left")
        assert bubbles(app) == [("assistant", greetings[-1])]
        await pilot.press(*"line one", "ctrl+j", *"line two", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert ("user", "line one\nline two") in bubbles(app)



async def test_regenerate_and_browse_the_kept_replies():
    app, _ = make_app(["First.", "Second."])
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Say something.")
        await pilot.press("ctrl+r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert bubbles(app)[-1] == ("assistant", "Second.")
        assert list(app.query(ChatMessage))[-1].border_subtitle == "←/→ 2/2"
        await pilot.press("left")
        await pilot.pause()
        assert bubbles(app)[-1] == ("assistant", "First.")
        assert list(app.query(ChatMessage))[-1].border_subtitle == "←/→ 1/2"
        await send(pilot, "/regen")
        assert bubbles(app)[-1] == ("assistant", "Second.")
    assert Store().load(app.chat.session_id)[1].messages[-1].metadata["alternatives"] == ["First.", "Second.",
                                                                                         "Second."]


async def test_edit_an_earlier_message_forks_a_branch_reachable_from_the_branch_list():
    app, _ = make_app(["Red.", "Because.", "A sloop!"])
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Favourite colour?")
        await send(pilot, "Why?")
        original = app.chat.session_id
        await pilot.press("ctrl+e")
        await pilot.pause()
        await pilot.press("enter")  # the first of your messages
        await pilot.pause()
        assert app.query_one(Composer).text == "Favourite colour?"
        await send(pilot, "Favourite ship?")
        assert app.chat.session_id != original
        assert [t for r, t in bubbles(app) if r == "user"] == ["Favourite ship?"]
        assert bubbles(app)[-1] == ("assistant", "A sloop!")
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert isinstance(app.screen, SessionBrowser)
        await pilot.press("enter")  # the original, listed first
        await pilot.pause()
        assert app.chat.session_id == original
        assert [t for r, t in bubbles(app) if r == "user"] == ["Favourite colour?", "Why?"]


async def test_packs_dropped_into_persona_home_appear_in_the_picker(persona_home):
    from tests.conftest import MINIMAL, write_pack

    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        write_pack(persona_home / "personas" / "new-friend", MINIMAL.replace("Test Char", "New Friend"))
        await pilot.press("ctrl+p")
        await pilot.pause()
        ids = [o.id for o in app.screen.query_one("OptionList")._options]
        assert "new-friend" in ids


async def test_quitting_mid_reply_and_resuming_shows_every_committed_turn():
    words = " ".join(f"w{i}" for i in range(300))
    app, _ = make_app(backend=SlowBackend(["Done.", words]))
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "first")
        app.query_one(Composer).text = "second"
        await pilot.press("enter")
        await until(pilot, lambda: bubbles(app)[-1][1].startswith("w0"), "the second reply to start streaming")
        await app.action_quit()
    session = app.chat.session_id
    deadline = time.monotonic() + 10  # the worker saves the stopped turn as it winds down
    while len(Store().load(session)[1].messages) != 6:
        assert time.monotonic() < deadline, "the stopped turn was not saved"
        time.sleep(0.1)
    again, _ = make_app(session=session)
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        texts = [t for _, t in bubbles(again)]
        assert "first" in texts and "Done." in texts and "second" in texts


async def test_ctrl_u_undoes_the_last_turn_even_from_the_input_box():
    app, _ = make_app(["One."])
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "hello")
        await pilot.press("ctrl+u")
        await pilot.pause()
        assert [r for r, _ in bubbles(app)] == ["assistant"]
