"""The core imports neither Textual, torch, Pillow nor PyYAML: the CLI starts fast and its error paths cost nothing."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import persona

# Every module but the TUI's (Textual is its job) and __main__ (it runs the CLI): a new
# module is covered the day it lands.
CORE = ["persona", *sorted(m.name for m in pkgutil.walk_packages(persona.__path__, "persona.")
                           if not m.name.startswith("persona.tui.") and m.name != "persona.__main__")]


def test_core_does_not_import_textual_or_torch():
    code = (f"import sys\nfor m in {CORE!r}: __import__(m)\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'torch', 'transformers', 'peft', 'PIL', 'yaml'))\n"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_listing_packs_loads_the_plugins_without_numpy():
    """The safety classifier (numpy) loads on the first message a rail judges, not at start-up."""
    code = ("import sys\nfrom persona.plugins import make_manager\nmake_manager(load_entrypoints=False)\n"
            "print('numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_no_pickle_loading_anywhere_in_the_package():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for path in [*(root / "persona").rglob("*.py"), *(root / "plugins").rglob("*.py")]:
        text = path.read_text()
        for banned in ("torch.load(", "pickle.load", "trust_remote_code=True"):
            assert banned not in text, f"{path}: {banned}"
