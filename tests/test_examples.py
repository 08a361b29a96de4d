"""The example plugin from the README works exactly as documented."""

from __future__ import annotations

import shutil

from persona.engine import Engine
from persona.models.scripted import ScriptedBackend
from persona.packs import get_pack
from persona.plugins import make_manager
from tests.conftest import ROOT


def test_example_plugin_dropped_into_persona_home_works(persona_home):
    (persona_home / "plugins").mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "plugins" / "catchphrase.py", persona_home / "plugins")
    backend = ScriptedBackend(["Heads it is, by the tides!"])
    engine = Engine(pm=make_manager(load_entrypoints=False), backend_loader=lambda r, p=None, **kw: backend)
    pack = get_pack("captain-mara")
    pack.extensions["catchphrase"] = {"phrase": "By the tides!"}
    pack.tools.append("flip_coin")
    chat = engine.new_chat(pack)
    result = engine.turn(chat, "/flip")
    assert chat.conversation.messages[-2].content in ("heads", "tails")
    assert 'say your catchphrase: "By the tides!"' in backend.calls[0][0]["content"]
    assert chat.conversation.messages[-1].metadata["words"] == 6
    assert result.reply == "Heads it is, by the tides!"
