"""``persona eval``: is the adapter better than the base at being the character (or the novel's writer)?

Every figure comes with a 95 % percentile bootstrap interval (:mod:`persona.eval_stats`):
- perplexity of the character's real held-out lines (val.jsonl), with and without
  the adapter (the training loss mask), resampling the held-out samples;
- fidelity: the style scorer (:mod:`persona.eval_style`), trained on train.jsonl
  and first checked on the real held-out lines (its ROC AUC, character against
  other speakers), gives each generated reply a probability of being the
  character's; ``fidelity`` is its mean, ``fidelity_share`` the share above the
  threshold chosen on train. A scorer under the AUC floor marks them untrustworthy;
- ai_admission: the share of the fixed identity probes (:mod:`persona.eval_identity`)
  whose reply admits being an AI, asked under the pack's system prompt;
- distinct-1/2 and mean length of generated replies against the real lines.

Generation figures resample whole prompts (a prompt may be answered more than
once, with different seeds). A writer pack (``persona build --writer``) is
judged on its held-out paragraphs instead (:func:`evaluate_writer`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from persona.data.records import DataError
from persona.eval_identity import admits_ai, probe_rows
from persona.eval_model import generate, pooled_perplexity, row_losses
from persona.eval_stats import figure
from persona.eval_style import StyleScorer, speaker_lines, unique_lines  # noqa: F401 (speaker_lines: public here)
from persona.train import read_samples

# 48 replies and 16 probes of 40 tokens a side: about 5 s a reply for the 135M model on 2 idle CPU
# cores, some 11 minutes in all (far more on a loaded machine); with 48 replies a mean probability's
# interval is about ±0.1, narrow enough to see a real difference.
DEFAULT_SAMPLES = 48
DEFAULT_TOKENS = 40
PROBE_TOKENS = 40  # at most; an admission comes in the first sentence


def distinct(texts: list[str], n: int) -> float:
    grams, total = set(), 0
    for text in texts:
        tokens = list(text) if re.search(r"[\u4e00-\u9fff]", text) else text.split()
        for i in range(len(tokens) - n + 1):
            grams.add(tuple(tokens[i:i + n]))
            total += 1
    return round(len(grams) / total, 4) if total else 0.0


def text_figures(texts: list[str], groups: list | None = None) -> dict:
    """distinct-1/2 (no interval: a resample repeats replies, which distinct-n would count as
    repetition) and the mean length in characters, with its interval."""
    texts = texts or [""]
    chars = figure([len(t) for t in texts], digits=1, groups=groups)
    return {"distinct_1": distinct(texts, 1), "distinct_2": distinct(texts, 2),
            "mean_chars": chars["value"], "mean_chars_ci95": chars["ci95"]}


def is_writer(pack) -> bool:
    return (pack.provenance or {}).get("kind") == "writer"


def _read(pack_dir, data_dir):
    from persona.packs import load_pack

    pack = load_pack(pack_dir)
    data_dir = Path(data_dir) if data_dir else pack.path / "data"
    train_rows, val_rows = read_samples(data_dir / "train.jsonl"), read_samples(data_dir / "val.jsonl")
    if not val_rows:
        raise DataError(f"no held-out samples in {data_dir / 'val.jsonl'}", "rebuild with `persona data build`")
    if pack.adapter is None:
        raise DataError(f"pack {pack.id} has no adapter to evaluate", "train one with `persona train`")
    return pack, train_rows, val_rows


def _backend(pack):
    from persona.models import load_backend

    return load_backend(pack.base, backend="hf")  # perplexity needs transformers' logits


def perplexity(backend, rows: list[dict], max_len: int = 512) -> float:
    """exp of the mean loss on the assistant's tokens (the training mask) of ``rows``."""
    return round(pooled_perplexity(row_losses(backend, rows, max_len)), 3)


def pick_prompts(val_rows: list[dict], samples: int) -> tuple[list[dict], list[int]]:
    """``samples`` prompts spread over the held-out rows (cycling when there are fewer rows), and
    each prompt's row, the unit a bootstrap resamples."""
    n = len(val_rows)
    index = [(i * n) // samples if samples <= n else i % n for i in range(samples)]
    return [val_rows[i] for i in index], index


def measure(backend, name: str | None, adapter, prompts: list[dict], val_rows: list[dict], probes: list[dict],
            tokens: int, seed: int) -> dict:
    """One side's raw material: replies to the prompts and probes, and each held-out row's loss."""
    backend.use_adapter(name if adapter else None, str(adapter) if adapter else None)
    try:
        return {"replies": generate(backend, prompts, tokens, seed),
                "probe_replies": generate(backend, probes, min(tokens, PROBE_TOKENS), seed) if prompts else [],
                "losses": row_losses(backend, val_rows)}
    finally:
        backend.use_adapter(None, None)


def side_figures(raw: dict, scorer: StyleScorer, groups: list[int], languages: list[str]) -> dict:
    """The headline figures of one side (base or an adapter), each with ``<name>_ci95``."""
    out: dict = {}

    def put(key, fig):
        out[key], out[f"{key}_ci95"] = fig["value"], fig["ci95"]

    put("perplexity", figure(raw["losses"], pooled_perplexity))
    replies = raw["replies"]
    if replies:
        probs = scorer.score([r or " " for r in replies])
        put("fidelity", figure(probs, groups=groups))
        put("fidelity_share", figure([float(p >= scorer.threshold) for p in probs], groups=groups))
    if raw["probe_replies"]:
        admitted = [float(admits_ai(r)) for r in raw["probe_replies"]]
        put("ai_admission", figure(admitted))
        by = {}
        for lang, a in zip(languages, admitted):
            by.setdefault(lang, []).append(a)
        out["ai_admission_by_language"] = {lang: round(sum(v) / len(v), 3) for lang, v in by.items()}
    if replies:
        out.update(text_figures([r for r in replies if r], [g for g, r in zip(groups, replies) if r]))
    return out


def evaluate(pack_dir: str | Path, data_dir: str | Path | None = None, samples: int | None = None,
             max_new_tokens: int | None = None, seed: int = 0, strict: bool = False) -> dict:
    """The character eval; a writer pack (``provenance.kind = "writer"``) gets :func:`evaluate_writer`'s.

    Args:
        samples: replies generated a side (default :data:`DEFAULT_SAMPLES`, a writer pack's 4;
            0: perplexity and the scorer check only, no generation).
        strict: too few held-out lines to check the style scorer is a DataError, not a warning.
    """
    from persona.packs import load_pack

    if is_writer(load_pack(pack_dir)):
        return evaluate_writer(pack_dir, data_dir, 4 if samples is None else samples, max_new_tokens, seed)
    pack, train_rows, val_rows = _read(pack_dir, data_dir)
    scorer = StyleScorer(train_rows, seed)
    style = scorer.check(val_rows, seed, strict)  # before the model loads: a bad dataset fails fast
    backend = _backend(pack)
    prompts, groups = pick_prompts(val_rows, DEFAULT_SAMPLES if samples is None else samples)
    probes = probe_rows(pack.system_prompt())
    tokens = max_new_tokens or DEFAULT_TOKENS
    raw = {label: measure(backend, pack.id, adapter, prompts, val_rows, probes, tokens, seed)
           for label, adapter in (("base", None), ("adapter", pack.adapter))}
    report = {"pack": pack.id, "model": pack.base, "val_samples": len(val_rows), "generated": len(prompts),
              "prompts": len(set(groups)), "max_new_tokens": tokens, "seed": seed,
              "intervals": "95% percentile bootstrap, 1000 resamples, seed 0; generation figures resample prompts",
              "style": style}
    for label in ("base", "adapter"):
        report[label] = side_figures(raw[label], scorer, groups, [q["language"] for q in probes])
    report["real"] = real_figures(scorer, val_rows)
    real = [p["conversations"][-1]["value"] for p in prompts]
    report["examples"] = [{"real": r, "adapter": a, "base": b} for r, a, b in
                          zip(real[:5], raw["adapter"]["replies"], raw["base"]["replies"])]
    report["identity"] = [{"probe": q["conversations"][0]["value"], "base": b, "adapter": a,
                           "base_admits": admits_ai(b), "adapter_admits": admits_ai(a)}
                          for q, b, a in zip(probes, raw["base"]["probe_replies"], raw["adapter"]["probe_replies"])]
    return report


def real_figures(scorer: StyleScorer, val_rows: list[dict]) -> dict:
    """The real held-out lines, scored as the generations are: the character's and the others'."""
    mine, others = unique_lines(val_rows, exclude=scorer.train_lines)
    out = {}
    for key, lines in (("fidelity", mine), ("fidelity_others", others)):
        fig = figure(scorer.score(lines)) if lines else {"value": None, "ci95": None}
        out[key], out[f"{key}_ci95"] = fig["value"], fig["ci95"]
    return {**out, **text_figures(mine)}


def evaluate_writer(pack_dir: str | Path, data_dir: str | Path | None = None, samples: int = 4,
                    max_new_tokens: int | None = None, seed: int = 0) -> dict:
    """A writer pack: perplexity of the held-out paragraphs given their summaries, with and without
    the adapter, and length and distinct-n of passages written from held-out summaries against the
    real paragraphs. There is no fidelity score: a novel has no other speakers to tell apart."""
    pack, _, val_rows = _read(pack_dir, data_dir)
    backend = _backend(pack)
    max_len = int((pack.provenance.get("hyperparameters") or {}).get("max_len") or 1024)
    tokens = max_new_tokens or int(pack.sampling.get("max_new_tokens") or 600)
    prompts = val_rows[:samples]
    real = [r["conversations"][-1]["value"] for r in prompts]
    report = {"pack": pack.id, "kind": "writer", "model": pack.base, "val_samples": len(val_rows),
              "generated": len(prompts), "max_new_tokens": tokens,
              "intervals": "95% percentile bootstrap, 1000 resamples, seed 0"}
    passages = {}
    for label, adapter in (("base", None), ("adapter", pack.adapter)):
        backend.use_adapter(pack.id if adapter else None, str(adapter) if adapter else None)
        passages[label] = generate(backend, prompts, tokens, seed, temperature=0.8)
        ppl = figure(row_losses(backend, val_rows, max_len), pooled_perplexity)
        report[label] = {"perplexity": ppl["value"], "perplexity_ci95": ppl["ci95"],
                         **text_figures([p for p in passages[label] if p])}
    backend.use_adapter(None, None)
    report["real"] = text_figures(real)
    report["examples"] = [{"premise": r["conversations"][0]["value"], "real": t, "adapter": a, "base": b}
                          for r, t, a, b in zip(prompts[:3], real, passages["adapter"], passages["base"])]
    return report


def _cell(side: dict, key: str) -> str:
    value, ci = side.get(key), side.get(f"{key}_ci95")
    if value is None:
        return "–"
    return f"{value} [{ci[0]:g}–{ci[1]:g}]" if ci else str(value)


def format_table(report: dict) -> str:
    """base, adapter and the real lines, one row each; every figure with its 95 % interval."""
    cols = [("perplexity", "perplexity"), ("fidelity", "fidelity"), ("ai_admission", "AI-admission"),
            ("distinct_1", "distinct-1"), ("distinct_2", "distinct-2"), ("mean_chars", "chars")]
    if report.get("kind") == "writer":
        cols = [c for c in cols if c[0] not in ("fidelity", "ai_admission")]
    rows = [("", *(title for _, title in cols))]
    for label in ("base", "adapter", "real"):
        rows.append((label, *(_cell(report[label], key) for key, _ in cols)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    style = report.get("style")
    if style:
        auc = f"{style['auc']} [{style['ci95'][0]:g}–{style['ci95'][1]:g}]" if style.get("auc") is not None else "–"
        verdict = "trustworthy" if style["trustworthy"] else "NOT trustworthy: " + style.get("reason", "")
        lines.append(f"style scorer AUC on real held-out lines (character vs others): {auc}, floor "
                     f"{style['auc_floor']}: {verdict}")
    return "\n".join(lines)


def write_eval(pack_dir: str | Path, report: dict) -> Path:
    path = Path(pack_dir) / "eval.json"
    path.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    return path
