"""``persona eval --compare A B``: two adapters on the same held-out data, figure by figure, with a paired bootstrap."""

from __future__ import annotations

from pathlib import Path

from persona.errors import InputError

# Which way is better for each figure; "real" means closer to the real held-out lines.
FIGURES = [("perplexity", "lower"), ("fidelity", "higher"), ("fidelity_share", "higher"),
           ("ai_admission", "lower"), ("distinct_2", "real"), ("mean_chars", "real")]
RULE = ("B is better (or A) when the 95% paired-bootstrap interval of the difference B - A, "
        "measured where better is positive, excludes 0; otherwise: no clear difference")


def _resolve(ref: str | Path):
    from persona.data.records import DataError
    from persona.evaluate import is_writer
    from persona.packs import get_pack

    pack = get_pack(str(ref))
    if pack.adapter is None:
        raise DataError(f"pack {pack.id} has no adapter to compare", "train one with `persona train`")
    if is_writer(pack):
        raise InputError(f"pack {pack.id} is a writer pack", "--compare judges character packs; "
                         "run `persona eval` on a writer pack alone")
    return pack


def compare(a: str | Path, b: str | Path, data_dir: str | Path | None = None, samples: int | None = None,
            max_new_tokens: int | None = None, seed: int = 0) -> dict:
    """A's and B's adapters on the same prompts, probes and held-out lines (A's data unless ``data_dir``)."""
    from persona.eval_identity import probe_rows
    from persona.eval_style import StyleScorer
    from persona.evaluate import DEFAULT_SAMPLES, DEFAULT_TOKENS, measure, pick_prompts, read_samples, side_figures
    from persona.models import load_backend

    pa, pb = _resolve(a), _resolve(b)
    if pa.base != pb.base:  # another tokenizer makes perplexity per token incomparable, and the base differs
        raise InputError(f"{pa.id} is trained on {pa.base} and {pb.id} on {pb.base}",
                         "compare adapters of the same base model")
    data = Path(data_dir) if data_dir else pa.path / "data"
    train_rows, val_rows = read_samples(data / "train.jsonl"), read_samples(data / "val.jsonl")
    if not val_rows:
        from persona.data.records import DataError

        raise DataError(f"no held-out samples in {data / 'val.jsonl'}", "pass --data with a dataset folder")
    scorer = StyleScorer(train_rows, seed)
    style = scorer.check(val_rows, seed, strict=True)
    prompts, groups = pick_prompts(val_rows, DEFAULT_SAMPLES if samples is None else samples)
    probes = probe_rows(pa.system_prompt())  # the same system prompt for both: only the adapter differs
    tokens = max_new_tokens or DEFAULT_TOKENS
    backend = load_backend(pa.base, backend="hf")
    raw = {side: measure(backend, f"{side}:{p.id}", p.adapter, prompts, val_rows, probes, tokens, seed)
           for side, p in (("A", pa), ("B", pb))}
    languages = [q["language"] for q in probes]
    report = {"A": {"pack": pa.id, "path": str(pa.path), **side_figures(raw["A"], scorer, groups, languages)},
              "B": {"pack": pb.id, "path": str(pb.path), **side_figures(raw["B"], scorer, groups, languages)},
              "data": str(data), "model": pa.base, "generated": len(prompts), "max_new_tokens": tokens,
              "seed": seed, "style": style, "rule": RULE}
    report["differences"] = differences(raw, scorer, groups, val_rows)
    return report


def differences(raw: dict, scorer, groups: list[int], val_rows: list[dict]) -> dict:
    """Per figure: B - A with its paired interval, and the verdict of :data:`RULE`."""
    from persona.eval_identity import admits_ai
    from persona.eval_model import pooled_perplexity
    from persona.eval_stats import mean, paired_difference
    from persona.eval_style import unique_lines
    from persona.evaluate import distinct

    real_lines = unique_lines(val_rows, exclude=scorer.train_lines)[0] or [""]
    real_d2, real_chars = distinct(real_lines, 2), mean([len(x) for x in real_lines])
    per_item = {
        "perplexity": ([x for x in raw["A"]["losses"]], raw["B"]["losses"], pooled_perplexity, None),
        "fidelity": (scorer.score(raw["A"]["replies"]), scorer.score(raw["B"]["replies"]), mean, groups),
        "ai_admission": ([float(admits_ai(r)) for r in raw["A"]["probe_replies"]],
                         [float(admits_ai(r)) for r in raw["B"]["probe_replies"]], mean, None),
        "distinct_2": (raw["A"]["replies"], raw["B"]["replies"], lambda xs: abs(distinct(xs, 2) - real_d2), groups),
        "mean_chars": (raw["A"]["replies"], raw["B"]["replies"],
                       lambda xs: abs(mean([len(x) for x in xs]) - real_chars), groups),
    }
    fa, fb = per_item["fidelity"][:2]
    per_item["fidelity_share"] = ([float(p >= scorer.threshold) for p in fa],
                                  [float(p >= scorer.threshold) for p in fb], mean, groups)
    out = {}
    for key, direction in FIGURES:
        a, b, stat, grouping = per_item[key]
        if not a:
            continue
        sign = 1 if direction == "higher" else -1  # lower, or closer to the real lines (a distance)
        d = paired_difference(a, b, stat, groups=grouping)
        lo, hi = (x * sign for x in d["interval"]) if d["interval"] else (0, 0)
        lo, hi = min(lo, hi), max(lo, hi)
        verdict = "B" if lo > 0 else "A" if hi < 0 else "no clear difference"
        label = "distance to the real lines" if direction == "real" else key
        out[key] = {"B_minus_A": d["difference"], "ci95": d["interval"], "measured_as": label,
                    "better": direction, "verdict": verdict}
    return out


def format_compare(report: dict) -> str:
    """One row a figure: A and B with their intervals, B - A with its interval, and which is better."""
    from persona.evaluate import _cell

    rows = [("figure", f"A ({report['A']['pack']})", f"B ({report['B']['pack']})", "B - A [95%]", "better")]
    for key, _ in FIGURES:
        d = report["differences"].get(key)
        if not d:
            continue
        diff = f"{d['B_minus_A']} [{d['ci95'][0]:g}–{d['ci95'][1]:g}]" if d["ci95"] else str(d["B_minus_A"])
        if d["measured_as"] != key:
            diff += " (distance to real)"
        winner = {"A": f"A ({report['A']['pack']})", "B": f"B ({report['B']['pack']})"}.get(d["verdict"], d["verdict"])
        rows.append((key, _cell(report["A"], key), _cell(report["B"], key), diff, winner))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    style = report["style"]
    lines.append(f"style scorer AUC on real held-out lines: {style['auc']} {style['ci95']}"
                 + ("" if style["trustworthy"] else " (NOT trustworthy: fidelity figures mean little)"))
    lines.append(f"rule: {report['rule']}")
    return "\n".join(lines)
