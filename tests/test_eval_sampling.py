"""``persona eval PACK --sweep-sampling [--apply]``: a grid of sampling settings ranked by the style score."""

from __future__ import annotations

import json
import tomllib

import pytest

from persona.eval_sampling import format_sweep
from tests.conftest import run_cli
from tests.test_eval_compare import copy_pack


def test_apply_without_a_sweep_is_a_clear_error(tmp_path):
    proc = run_cli("eval", str(copy_pack(tmp_path)), "--apply")
    assert proc.returncode == 2 and "error: --apply" in proc.stderr and "hint:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_sweep_with_data_or_min_fidelity_is_a_clear_error_before_any_model_loads(tmp_path):
    pack = copy_pack(tmp_path)
    before = (pack / "persona.toml").read_bytes()
    for extra in (["--min-fidelity", "0.5"], ["--data", str(pack / "data")]):
        proc = run_cli("eval", str(pack), "--sweep-sampling", *extra)
        assert proc.returncode == 2 and "error:" in proc.stderr and "Traceback" not in proc.stderr
    assert (pack / "persona.toml").read_bytes() == before


def test_format_marks_the_best_and_the_repetitive_settings():
    report = {"pack": "p", "samples": 2, "max_new_tokens": 8, "real": {"distinct_2": 0.6, "mean_chars": 20.0},
              "best": {"temperature": 0.6, "top_p": 0.9, "repetition_penalty": 1.2},
              "settings": [{"temperature": 0.3, "top_p": 0.9, "repetition_penalty": 1.05, "fidelity": 0.9,
                            "fidelity_ci95": [0.8, 1.0], "distinct_2": 0.1, "mean_chars": 5.0, "repetitive": True},
                           {"temperature": 0.6, "top_p": 0.9, "repetition_penalty": 1.2, "fidelity": 0.7,
                            "fidelity_ci95": [0.6, 0.8], "distinct_2": 0.6, "mean_chars": 19.0,
                            "repetitive": False}]}
    lines = format_sweep(report).splitlines()
    assert lines[2].endswith("(repetitive)") and lines[3].endswith("best")


@pytest.mark.slow
def test_sweep_ranks_the_grid_on_the_real_model_and_apply_writes_the_winner(tmp_path, model_cache):
    pack = copy_pack(tmp_path)
    proc = run_cli("eval", str(pack), "--sweep-sampling", "--apply", "--samples", "2", "--max-tokens", "8",
                   "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert len(report["settings"]) == 6 and all(len(s["fidelity_ci95"]) == 2 for s in report["settings"])
    allowed = [s for s in report["settings"] if not s["repetitive"]] or report["settings"]
    best = max(allowed, key=lambda s: s["fidelity"])
    assert report["best"] == {k: best[k] for k in ("temperature", "top_p", "repetition_penalty")}
    sampling = tomllib.loads((pack / "persona.toml").read_text())["sampling"]
    assert {k: sampling[k] for k in report["best"]} == report["best"]
    assert sampling["max_new_tokens"]  # the rest of [sampling] is kept
    assert json.loads((pack / "sampling_sweep.json").read_text())["best"] == report["best"]
