"""Terminal escape injection: packs, model replies and tool results reach no writer raw.

Every human-readable writer shows control characters (persona.textsafe.sanitize);
``--json`` keeps the exact strings, with C1 written as \\u escapes."""

from __future__ import annotations

import json
import re

import pytest

from persona.textsafe import dumps_json, sanitize
from tests.conftest import MINIMAL, run_cli, write_pack

OSC52 = "\x1b]52;c;SGVsbG8=\x07"  # write "Hello" to the clipboard
CLEAR = "\x1b[2J"
C1_CSI = "\x9b31m"  # one-byte CSI: red
LINK = "\x1b]8;;http://evil\x1b\\"  # OSC 8 hyperlink, ST-terminated
EVIL = f"{OSC52} {CLEAR} {C1_CSI} {LINK}"
# The same, as the user sees it.
SHOWN = "␛]52;c;SGVsbG8=␇ ␛[2J \\x9b31m ␛]8;;http://evil␛\\"
RAW = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # ESC, BEL, C1 … (\t and \n are fine)

NAME, DESCRIPTION, GREETING = f"Evil {EVIL} Name", f"desc {EVIL}", f"greet {EVIL}"
REPLY, TOOL_RESULT, TOOL_ERROR = f"reply {EVIL} end", f"result {EVIL}", f"broke {EVIL}"

PLUGIN = '''
from persona.hookspecs import hookimpl
from persona.models.scripted import ScriptedBackend
from persona.tools import Tool, ToolError


class CharByChar(ScriptedBackend):
    """Streams one character at a time: every escape sequence is split across chunks."""

    def stream(self, messages, params, cancel, stats):
        for chunk in super().stream(messages, params, cancel, stats):
            yield from chunk


def boom(args, ctx):
    raise ToolError(%(error)r)


@hookimpl
def register_backends(register):
    register("hostile", lambda base, progress=None: CharByChar([%(reply)r]))


@hookimpl
def register_tools(register):
    register(Tool("evil", "hostile result", {"type": "object"}, lambda a, c: %(result)r, command="evil"))
    register(Tool("boom", "hostile error", {"type": "object"}, boom, command="boom"))
''' % {"reply": REPLY, "result": TOOL_RESULT, "error": TOOL_ERROR}


def toml(text: str) -> str:
    return json.dumps(text)  # a JSON string with \\u escapes is a TOML basic string


@pytest.fixture
def hostile(persona_home):
    """A hostile pack ``evil`` (name, description, greeting) on a backend that replies with escapes."""
    (persona_home / "plugins").mkdir(parents=True)
    (persona_home / "plugins" / "hostile.py").write_text(PLUGIN)
    manifest = MINIMAL.replace('name = "Test Char"', f"name = {toml(NAME)}\ndescription = {toml(DESCRIPTION)}")
    manifest = manifest.replace('greetings = ["Hi, {{user}}, I am {{char}}."]', f"greetings = [{toml(GREETING)}]")
    return write_pack(persona_home / "personas" / "evil",
                      manifest + '[model]\nbackend = "hostile"\n[tools]\nallow = ["evil", "boom"]\n')


def assert_safe(*outputs: str) -> None:
    for out in outputs:
        assert not RAW.search(out), f"raw control character in {out!r}"


def ok(*args: str, input: str | None = None):
    proc = run_cli(*args, input=input)
    assert proc.returncode == 0, proc.stderr
    assert_safe(proc.stdout, proc.stderr)
    return proc


# -- the function -------------------------------------------------------------------


def test_sanitize_shows_every_control_character_and_keeps_text():
    assert sanitize(EVIL) == SHOWN
    assert sanitize("a\tb\nc\rd\x00\x7f\x85") == "a\tb\nc␍d␀␡\\x85"
    assert sanitize("a\tb\nc", one_line=True) == "a␉b␊c"
    assert sanitize("Ahoy — 你好 ☠ [bold]x[/]") == "Ahoy — 你好 ☠ [bold]x[/]"
    every = "".join(map(chr, range(0x20))) + "\x7f" + "".join(map(chr, range(0x80, 0xA0)))
    for one_line, kept in ((False, {"\t", "\n"}), (True, set())):
        shown = sanitize(every, one_line)
        assert set(shown) & set(every) == kept
        assert sanitize(shown, one_line) == shown  # idempotent: safe to apply at every layer


def test_bidi_overrides_are_shown_so_a_name_cannot_display_as_another():
    spoof = "Mara\u202egnp.exe\u2066x\u2069"  # RLO would show "Maraexe.png"
    shown = sanitize(spoof)
    assert not set(shown) & {chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]}
    assert shown == "Mara\\u202egnp.exe\\u2066x\\u2069" and sanitize(shown) == shown
    assert sanitize("שלום עולם, مرحبا") == "שלום עולם, مرحبا"  # right-to-left text needs no override


def test_sanitizing_a_stream_chunk_by_chunk_equals_sanitizing_it_whole():
    text = REPLY + "\x9d0;title\x9c"
    whole = sanitize(text)
    for cut in range(len(text) + 1):
        assert sanitize(text[:cut]) + sanitize(text[cut:]) == whole
    assert "".join(sanitize(ch) for ch in text) == whole


def test_sanitize_is_one_pass_over_long_input():
    big = "\x1b" * 1_000_000 + "\x9b" * 1_000_000
    out = sanitize(big)
    assert len(out) == 1_000_000 + 4 * 1_000_000 and not RAW.search(out)


def test_json_escapes_c1_which_json_dumps_leaves_raw():
    assert "\x9b" in json.dumps(EVIL, ensure_ascii=False)  # why print_json does more than json.dumps
    data = {"s": EVIL + "\x85\x7f\u2028\u2029", "n": [1, "你好"]}
    out = dumps_json(data, indent=2)
    assert_safe(out.replace("\n", ""))
    assert "\u2028" not in out and "\u2029" not in out and "你好" in out and "\\u009b31m" in out
    assert json.loads(out) == data


# -- persona list, show, validate ----------------------------------------------------------


def test_list_shows_a_hostile_pack_visibly_and_json_keeps_it(hostile):
    table = ok("list").stdout
    assert sanitize(NAME, one_line=True) in table
    pack = next(p for p in json.loads(ok("list", "--json").stdout) if p["id"] == "evil")
    assert pack["name"] == NAME and pack["description"] == DESCRIPTION


def test_show_shows_a_hostile_pack_visibly_and_json_keeps_it(hostile):
    out = ok("show", "evil").stdout
    assert sanitize(NAME) in out and sanitize(DESCRIPTION) in out and f"greeting: {sanitize(GREETING)}" in out
    data = json.loads(ok("show", "evil", "--json").stdout)
    assert (data["name"], data["description"], data["greetings"]) == (NAME, DESCRIPTION, [GREETING])


def test_a_newline_in_a_name_cannot_fake_a_line_of_show(persona_home):
    write_pack(persona_home / "personas" / "liar",
               MINIMAL.replace('name = "Test Char"', 'name = "Liar\\n  adapter: yes"'))
    out = ok("show", "liar").stdout
    assert out.splitlines()[0].startswith("Liar␊  adapter: yes (liar)")


def test_validate_shows_the_hostile_name_visibly(hostile):
    out = ok("validate", str(hostile)).stdout
    assert out.startswith("ok: evil (" + sanitize(NAME) + ")")


def test_errors_hints_and_warnings_show_control_characters(capsys):
    from persona.cli.common import log, print_error, setup_logging

    setup_logging(False)
    print_error(f"bad {EVIL}", f"try {EVIL}")  # messages may quote a pack's text or an exception's
    log.warning("plugin %s failed", EVIL)
    err = capsys.readouterr().err
    assert err == f"error: bad {SHOWN}\nhint: try {SHOWN}\nwarning: plugin {SHOWN} failed\n"


# -- persona ask, repl, sessions, export -----------------------------------------------------


def test_ask_streams_a_hostile_reply_visibly_and_json_keeps_it(hostile):
    proc = ok("ask", "evil", "hi")
    assert proc.stdout.strip() == sanitize(REPLY)  # streamed one character per chunk
    turn = json.loads(ok("ask", "evil", "hi", "--json").stdout)
    assert turn["reply"] == REPLY and turn["messages"][1]["content"] == GREETING


def test_ask_shows_hostile_tool_results_and_tool_errors_visibly(hostile):
    out = ok("ask", "evil", "/evil").stdout
    assert f"[evil] {sanitize(TOOL_RESULT)}" in out
    err = ok("ask", "evil", "/boom").stderr
    assert sanitize(TOOL_ERROR) in err


def test_repl_shows_greeting_reply_and_tool_lines_visibly(hostile):
    out = ok("repl", "evil", input="hello\n/evil\n/boom\n").stdout
    name = sanitize(NAME, one_line=True)
    assert f"{name}: {sanitize(GREETING)}" in out and f"{name}: {sanitize(REPLY)}" in out
    assert f"[evil] {sanitize(TOOL_RESULT)}" in out and sanitize(TOOL_ERROR) in out


def test_repl_function_on_a_scripted_engine_writes_no_raw_escape(hostile):
    """The REPL loop itself, in process: greeting, streamed reply, resumed session."""
    import io

    from persona.repl import run_repl

    out = io.StringIO()
    assert run_repl(str(hostile), stdin=io.StringIO("hi\n"), stdout=out) == 0
    assert_safe(out.getvalue())
    assert sanitize(REPLY) in out.getvalue()


def test_sessions_shows_a_hostile_first_line_on_one_line_and_json_keeps_it(hostile):
    title = f"line one {EVIL}\nline two"
    ok("ask", "evil", title)
    out = ok("sessions").stdout
    rows = out.splitlines()
    assert len(rows) == 2 and "line one ␛]52;c;SGVsbG8=␇" in rows[1]
    assert json.loads(ok("sessions", "--json").stdout)[0]["title"] == title


def test_export_sanitises_markdown_on_stdout_and_keeps_files_and_json_exact(hostile, tmp_path):
    session = json.loads(ok("ask", "evil", f"hi {EVIL}", "--json").stdout)["session"]
    md = ok("export", session, "--format", "markdown").stdout
    assert f"**You:** hi {SHOWN}" in md and sanitize(REPLY) in md
    out = tmp_path / "chat.md"
    ok("export", session, "--format", "markdown", "-o", str(out))
    assert f"**You:** hi {EVIL}" in out.read_text() and REPLY in out.read_text()  # a file is data: exact
    sharegpt = ok("export", session).stdout
    assert json.loads(sharegpt)["conversations"][-1]["value"] == REPLY


# -- the TUI ------------------------------------------------------------------------------------


def test_border_title_from_a_hostile_name_is_one_literal_line():
    from persona.tui.widgets import border_label

    label = border_label(f"[link=http://evil]x[/link] {EVIL}\nsecond")
    assert label.plain == f"[link=http://evil]x[/link] {SHOWN}␊second" and not label.spans


async def test_tui_shows_a_hostile_pack_name_and_reply_visibly(hostile):
    from persona.engine import Engine
    from persona.plugins import make_manager
    from persona.tui.app import PersonaApp
    from persona.tui.widgets import ChatMessage, StatusBar
    from tests.test_tui import SIZE, send

    # The pack's backend is the drop-in's: the reply streams in one character per Token.
    app = PersonaApp(str(hostile), engine=Engine(pm=make_manager(load_entrypoints=False)))
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "hi")
        titles = [w._border_title.plain for w in app.query(ChatMessage)]
        assert titles == [sanitize(NAME), "You", sanitize(NAME)]
        bodies = [w._markdown for w in app.query(ChatMessage)]
        assert bodies == [sanitize(GREETING), "hi", sanitize(REPLY)]
        assert sanitize(NAME) in str(app.query_one(StatusBar).render())
