"""Which backend a pack gets, and the one-line errors when the choice is wrong."""

from __future__ import annotations

import pytest

from persona.errors import ModelError
from persona.models import choose_backend
from persona.models.registry import ModelSpec
from tests.conftest import run_cli

GGUF = ModelSpec("m.gguf", "gguf", "/x/m.gguf")
FOLDER = ModelSpec("./model", "hf", "/x/model")


def test_auto_picks_llama_for_gguf_and_hf_for_folders(monkeypatch):
    monkeypatch.delenv("PERSONA_BACKEND", raising=False)
    assert choose_backend(GGUF) == "llama" and choose_backend(FOLDER) == "hf"
    assert choose_backend(GGUF, "hf") == "hf"
    monkeypatch.setenv("PERSONA_BACKEND", "hf")
    assert choose_backend(GGUF, "auto") == "hf"


def test_llama_on_a_hugging_face_folder_is_a_clear_error():
    with pytest.raises(ModelError, match="runs GGUF models") as err:
        choose_backend(FOLDER, "llama")
    assert "--backend hf" in err.value.hint


def test_unknown_backend_from_the_environment_says_where_it_came_from():
    proc = run_cli("ask", "captain-mara", "hi", env={"PERSONA_BACKEND": "bogus"})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "error: unknown backend 'bogus' in --backend / PERSONA_BACKEND" in proc.stderr and "hint:" in proc.stderr


def test_unknown_llama_encoding_is_a_clear_error(monkeypatch):
    from persona.models import llama_files

    monkeypatch.setenv("PERSONA_LLAMA_ENCODING", "q2_k")
    with pytest.raises(ModelError, match="PERSONA_LLAMA_ENCODING='q2_k'") as err:
        llama_files.encoding()
    assert "bf16" in err.value.hint
