"""The core imports neither textual nor torch: the CLI starts fast and its error paths cost nothing."""

from __future__ import annotations

import subprocess
import sys

CORE = ["persona", "persona.cli", "persona.cli.common", "persona.cli.chat", "persona.cli.packs", "persona.cli.data",
        "persona.engine", "persona.packs", "persona.context", "persona.conversation",
        "persona.store", "persona.plugins", "persona.hookspecs", "persona.models", "persona.models.registry",
        "persona.models.hf", "persona.models.convert", "persona.progress", "persona.repl", "persona.scaffold",
        "persona.models.llama", "persona.models.llama_ctx", "persona.models.llama_kv", "persona.models.llama_sampling",
        "persona.models.llama_files", "persona.models.gguf_lora", "persona.models.template"]


def test_core_does_not_import_textual_or_torch():
    code = (f"import sys\nfor m in {CORE!r}: __import__(m)\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'torch', 'transformers', 'peft'))\n"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_no_pickle_loading_anywhere_in_the_package():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for path in [*(root / "persona").rglob("*.py"), *(root / "plugins").rglob("*.py")]:
        text = path.read_text()
        for banned in ("torch.load(", "pickle.load", "trust_remote_code=True"):
            assert banned not in text, f"{path}: {banned}"
