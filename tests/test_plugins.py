"""The plugin host: loading order, drop-ins, broken plugins, tracing, `persona plugins`."""

from __future__ import annotations

import json

from persona.engine import Engine
from persona.hookspecs import hookimpl
from persona.models.scripted import ScriptedBackend
from persona.packs import get_pack
from persona.plugins import make_manager
from tests.conftest import run_cli

RECORDER = '''
from persona.hookspecs import hookimpl
CALLS = []

@hookimpl
def moderate_input(text, persona, conversation):
    CALLS.append("moderate_input")

@hookimpl
def analyze_message(message):
    CALLS.append("analyze_message:" + message.role)

@hookimpl
def prepare_messages(messages):
    CALLS.append("prepare_messages")

@hookimpl
def moderate_output(text):
    CALLS.append("moderate_output")

@hookimpl
def response_complete(message, persona):
    CALLS.append("response_complete")
    persona.extensions.setdefault("recorder", {})["seen"] = True
'''


def test_drop_in_plugin_sees_a_real_turn_in_documented_order(persona_home):
    (persona_home / "plugins").mkdir(parents=True)
    (persona_home / "plugins" / "recorder.py").write_text(RECORDER)
    pm = make_manager(load_entrypoints=False)
    engine = Engine(pm=pm, backend_loader=lambda ref, progress=None, **kw: ScriptedBackend(["Aye."]))
    pack = get_pack("captain-mara")
    engine.turn(engine.new_chat(pack), "hello")
    calls = pm.get_plugin("recorder").CALLS
    assert calls == ["moderate_input", "analyze_message:user", "prepare_messages", "moderate_output",
                     "analyze_message:assistant", "response_complete"]


def test_pack_extensions_reach_the_plugin(persona_home):
    (persona_home / "plugins").mkdir(parents=True)
    (persona_home / "plugins" / "level.py").write_text(
        "from persona.hookspecs import hookimpl\nSEEN = []\n\n@hookimpl\n"
        "def moderate_input(text, persona):\n    SEEN.append(persona.extensions.get('level', {}).get('x'))\n")
    pm = make_manager(load_entrypoints=False)
    engine = Engine(pm=pm, backend_loader=lambda ref, progress=None, **kw: ScriptedBackend(["ok"]))
    pack = get_pack("captain-mara")
    pack.extensions["level"] = {"x": "strict"}
    engine.turn(engine.new_chat(pack), "hi")
    assert pm.get_plugin("level").SEEN == ["strict"]


def test_broken_drop_in_is_reported_and_the_engine_still_runs(persona_home, caplog):
    (persona_home / "plugins").mkdir(parents=True)
    (persona_home / "plugins" / "broken.py").write_text("raise ImportError('missing dependency foo')\n")
    pm = make_manager(load_entrypoints=False)
    assert not pm.has_plugin("broken")
    failed = [p for p in pm.persona_plugins if p.name == "broken"]
    assert failed and "missing dependency foo" in failed[0].error
    assert "plugin broken failed to load" in caplog.text
    engine = Engine(pm=pm, backend_loader=lambda ref, progress=None, **kw: ScriptedBackend(["still here"]))
    assert engine.turn(engine.new_chat(get_pack("captain-mara")), "hi").reply == "still here"


def test_plugins_path_and_disable_list(tmp_path, monkeypatch):
    (tmp_path / "extra.py").write_text("from persona.hookspecs import hookimpl\n@hookimpl\ndef startup(engine): pass\n")
    monkeypatch.setenv("PERSONA_PLUGINS_PATH", str(tmp_path))
    assert make_manager(load_entrypoints=False).has_plugin("extra")
    monkeypatch.setenv("PERSONA_DISABLE_PLUGINS", "extra,tools_basic")
    pm = make_manager(load_entrypoints=False)
    assert not pm.has_plugin("extra") and not pm.has_plugin("tools_basic")


def test_tryfirst_and_trylast_order_and_firstresult_stops_at_first_answer(pm):
    from persona.verdict import Verdict

    order = []

    class Default:
        @hookimpl(trylast=True)
        def moderate_input(self, text):
            order.append("default")
            return Verdict("allow")

    class First:
        @hookimpl(tryfirst=True)
        def moderate_input(self, text):
            order.append("first")
            return None

    class Blocker:
        @hookimpl
        def moderate_input(self, text):
            order.append("blocker")
            return Verdict("block", category="test", reply="no")

    for plugin in (Default(), First(), Blocker()):
        pm.register(plugin)
    verdict = pm.hook.moderate_input(text="x", persona=None, conversation=None)
    assert verdict.action == "block"
    assert order[0] == "first" and "blocker" in order and "default" not in order


def test_trace_logs_every_hook_call_with_its_duration(monkeypatch, capsys):
    monkeypatch.setenv("PERSONA_TRACE_HOOKS", "1")
    pm = make_manager(load_entrypoints=False)
    engine = Engine(pm=pm, backend_loader=lambda ref, progress=None, **kw: ScriptedBackend(["ok"]))
    engine.turn(engine.new_chat(get_pack("captain-mara")), "hi")
    err = capsys.readouterr().err
    for hook in ("register_tools", "moderate_input", "analyze_message", "prepare_messages", "response_complete"):
        assert f"trace: {hook} [" in err
    assert " ms" in err


def test_persona_plugins_lists_builtins_and_drop_ins(persona_home):
    (persona_home / "plugins").mkdir(parents=True)
    (persona_home / "plugins" / "mine.py").write_text(
        "from persona.hookspecs import hookimpl\n@hookimpl\ndef response_complete(message): pass\n")
    rows = {p["name"]: p for p in json.loads(run_cli("plugins", "--json").stdout)}
    assert rows["tools_basic"]["source"] == "builtin" and "register_tools" in rows["tools_basic"]["hooks"]
    assert rows["mine"]["source"] == "drop-in" and rows["mine"]["hooks"] == ["response_complete"]
    assert "mine  (drop-in:" in run_cli("plugins").stdout


def test_plugin_adds_a_cli_command_and_a_backend(persona_home, tmp_path):
    (persona_home / "plugins").mkdir(parents=True)
    (persona_home / "plugins" / "extras.py").write_text('''
from persona.hookspecs import hookimpl
from persona.models.scripted import ScriptedBackend

@hookimpl
def register_commands(cli):
    cli.add_parser("hello", help="say hello").set_defaults(func=lambda args: print("hello from a plugin") or 0)

@hookimpl
def register_backends(register):
    register("echo", lambda base, progress=None: ScriptedBackend(["echo backend says hi"]))
''')
    proc = run_cli("hello")
    assert proc.returncode == 0 and proc.stdout == "hello from a plugin\n"
    from tests.conftest import MINIMAL, write_pack

    pack_dir = write_pack(tmp_path / "echo-pack", MINIMAL + '[model]\nbackend = "echo"\n')
    proc = run_cli("ask", str(pack_dir), "hi")
    assert proc.returncode == 0 and proc.stdout.strip() == "echo backend says hi"
    pack_dir = write_pack(tmp_path / "nope-pack", MINIMAL + '[model]\nbackend = "nope"\n')
    proc = run_cli("ask", str(pack_dir), "hi")
    assert proc.returncode == 2 and "error: unknown backend 'nope'" in proc.stderr
