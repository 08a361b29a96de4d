"""Snapshot tests of what a person sees (pytest-textual-snapshot).

Update after an intended change with `pytest tests/test_tui_snapshots.py --snapshot-update`
and look at the SVGs in tests/__snapshots__/ before committing them.
"""

from __future__ import annotations

import time

import pytest

from persona.conversation import Message
from persona.store import Store
from tests.test_tui import SIZE, make_app


def steady(app) -> None:
    """A cursor that does not blink: a blink at the wrong moment would change the picture."""
    app.query_one("#composer").cursor_blink = False


def one_turn(app, question: str, name: str, model: str):
    """A run_before that sends ``question``, waits for the reply and fills the status bar."""

    async def chat(pilot):
        steady(app)
        app.query_one("#composer").text = question
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        app.query_one("StatusBar").show(name, model, 12.5, {"label": "neutral"})

    return chat


def test_chat_screen(snap_compare):
    """Captain Mara's greeting in a green-bordered bubble titled "Captain Mara", the
    user's question in an accent bubble on the right, her reply below; an empty input
    box; a status bar reading "Captain Mara │ smollm2-135m │ … tok/s │ 😐 neutral";
    the footer lists Edit, Undo, Quit, Help, Personas, Sessions, Regenerate, Branches."""
    app, _ = make_app(["Aye, **Captain Mara** of the Black Gull. What'll you drink?"])
    assert snap_compare(app, terminal_size=SIZE, run_before=one_turn(app, "Who are you?", "Captain Mara", "smollm2-135m"))


def test_persona_picker(snap_compare):
    """A centred dialog "Choose a character": Captain Mara, Mara (adapter: yes, the trained
    pack), Professor Thistle and 甄嬛 ([zh], adapter: yes, her Chinese description and greeting
    wrapped in double-width cells), each with language, adapter yes/no, a one-line description
    and a quoted greeting preview."""
    app, _ = make_app()

    async def open_picker(pilot):
        steady(app)
        await pilot.press("ctrl+p")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=open_picker)


@pytest.fixture
def utc(monkeypatch):
    """Local time is UTC for one test; the process's zone is put back after it."""
    with monkeypatch.context() as m:
        m.setenv("TZ", "UTC")
        time.tzset()
        yield
    time.tzset()


def test_session_browser(snap_compare, utc):
    """A centred dialog "Resume a conversation" listing two sessions, newest first, each
    with persona, date, message count and the first line the user wrote."""
    store = Store()
    for sid, persona, title, when in (("a1", "captain-mara", "Tell me about the Black Gull", 1_700_000_000),
                                      ("b2", "professor-thistle", "What is your favourite beetle?", 1_700_100_000)):
        store.commit_turn(sid, persona, "smollm2-135m", [Message("user", title), Message("assistant", "…")], 0, title)
        store.db.execute("UPDATE sessions SET created = ?, updated = ? WHERE id = ?", (when, when, sid))
    app, _ = make_app()

    async def open_browser(pilot):
        steady(app)
        await pilot.press("ctrl+o")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=open_browser)


def test_help_screen(snap_compare):
    """A centred "Help" dialog listing every key (Enter, ctrl+j, Esc, ←/→, ctrl+r, ctrl+e,
    ctrl+b, ctrl+p, ctrl+o, ctrl+u, F1, ctrl+q) and the slash commands, tools included."""
    app, _ = make_app()

    async def open_help(pilot):
        steady(app)
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=open_help)


def test_chinese_chat_is_laid_out_in_double_width_cells(snap_compare, persona_home):
    """A Chinese pack, 嬛嬛: her greeting, the user's Chinese question, and her reply mixing
    full-width punctuation, ASCII and a long line that wraps. Every CJK character takes two
    cells: the bubbles' right borders line up, wrapped lines break between characters and
    nothing runs past the border or overlaps; the status bar reads "嬛嬛 │ gemma3-270m"."""
    from tests.conftest import write_pack

    write_pack(persona_home / "personas" / "huanhuan", '''spec = "persona-pack"
spec_version = "1"
id = "huanhuan"
name = "嬛嬛"
language = "zh"
greetings = ["臣妾甄嬛，参见皇上。"]
system = "你是甄嬛。"
[model]
base = "gemma3-270m"
''')
    reply = ("回皇上的话，臣妾在碎玉轩一切都好，只是夜里风大，难免想起家中父母（甄远道）。"
             "皇上若得空，臣妾备了新茶——是今年的「雨前龙井」，Version 2 of the recipe，请皇上品鉴。")
    app, _ = make_app([reply], persona="huanhuan")
    assert snap_compare(app, terminal_size=SIZE, run_before=one_turn(app, "你近来可好？宫里住得惯吗？", "嬛嬛", "gemma3-270m"))
