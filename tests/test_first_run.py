"""The first run converts the default model once, quietly: one progress line of ours, JSON stdout intact."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow

THEIR_BARS = ("de-quantizing", "Loading weights", "Writing model shards", "it/s]", "%|")


@pytest.mark.parametrize("backend, line, cached", [
    ("hf", "converting smollm2-135m", "models/*/persona-cache.json"),
    ("llama", "re-encoding smollm2-135m", "models/gguf/*.gguf"),
])
def test_first_ask_converts_with_one_line_of_ours_and_keeps_stdout_pure_json(tmp_path, backend, line, cached):
    cache = tmp_path / "empty-cache"  # a cold cache: this call converts the GGUF for real
    proc = run_cli("ask", "captain-mara", "Hello!", "--json", "--max-tokens", "8", "--seed", "1",
                   "--backend", backend, env={"PERSONA_CACHE_DIR": str(cache)})
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)  # nothing but the record on stdout
    assert record["messages"][-1]["role"] == "assistant" and record["timings"]["backend"] == backend
    assert not [bar for bar in THEIR_BARS if bar in proc.stderr], proc.stderr
    ours = [ln for ln in proc.stderr.splitlines() if line in ln]
    # Not a terminal: the line's first and final states only.
    assert len(ours) == 2 and ours[-1].endswith(" s") and "done in" in ours[-1], proc.stderr
    assert list(cache.glob(cached))

    again = run_cli("ask", "captain-mara", "Hello!", "--json", "--max-tokens", "8", "--seed", "1",
                    "--backend", backend, env={"PERSONA_CACHE_DIR": str(cache)})
    assert again.returncode == 0 and line not in again.stderr
