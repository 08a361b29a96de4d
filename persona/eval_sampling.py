"""``persona eval PACK --sweep-sampling``: which temperature and repetition penalty make the adapter sound most like the character.

For each setting in the grid, the adapter answers the same held-out prompts
(same seeds); the eval's style scorer, checked first on the real held-out
lines, gives each reply its probability of being the character's. The best
setting is the one with the highest mean probability among those whose
replies are not more repetitive than the character's own lines allow
(distinct-2 at least ``MIN_DISTINCT_SHARE`` of the real lines'), so a setting
cannot win by saying one in-character phrase over and over. Every figure has
its 95 % bootstrap interval; settings whose intervals overlap the best one's are
marked as not distinguishable from it. ``--apply`` writes the winner into the
pack's ``[sampling]`` and the sweep into ``sampling_sweep.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from persona.eval_stats import figure

GRID = [{"temperature": t, "top_p": 0.9, "repetition_penalty": r} for t in (0.3, 0.6, 0.9) for r in (1.05, 1.2)]
MIN_DISTINCT_SHARE = 0.8
DEFAULT_SAMPLES = 24


def sweep(pack_dir: str | Path, grid: list[dict] | None = None, samples: int = DEFAULT_SAMPLES, tokens: int = 40,
          seed: int = 0, progress=None) -> dict:
    from persona.evaluate import _backend, _read, pick_prompts, real_figures, text_figures
    from persona.eval_model import generate
    from persona.eval_style import StyleScorer

    pack, train_rows, val_rows = _read(pack_dir, None)
    scorer = StyleScorer(train_rows, seed)
    style = scorer.check(val_rows, seed, True)
    prompts, groups = pick_prompts(val_rows, samples)
    backend = _backend(pack)
    backend.use_adapter(pack.id, str(pack.adapter))
    settings = []
    try:
        for i, params in enumerate(grid or GRID, 1):
            if progress:
                progress(f"setting {i}/{len(grid or GRID)}: " + ", ".join(f"{k} {v}" for k, v in params.items()))
            replies = generate(backend, prompts, tokens, seed, sampling=params)
            probs = scorer.score([r or " " for r in replies])
            fid = figure(probs, groups=groups)
            kept = [(g, r) for g, r in zip(groups, replies) if r]
            settings.append({**params, "fidelity": fid["value"], "fidelity_ci95": fid["ci95"],
                             **text_figures([r for _, r in kept], [g for g, _ in kept]), "example": replies[0]})
    finally:
        backend.use_adapter(None, None)
    real = real_figures(scorer, val_rows)
    floor = MIN_DISTINCT_SHARE * real["distinct_2"]
    allowed = [s for s in settings if s["distinct_2"] >= floor] or settings
    best = max(allowed, key=lambda s: s["fidelity"])
    for s in settings:
        s["repetitive"] = s["distinct_2"] < floor
        s["overlaps_best"] = s["fidelity_ci95"][1] >= best["fidelity_ci95"][0]
    return {"pack": pack.id, "samples": samples, "max_new_tokens": tokens, "seed": seed, "style": style,
            "real": real, "distinct_2_floor": round(floor, 3), "settings": settings,
            "best": {k: best[k] for k in ("temperature", "top_p", "repetition_penalty")}}


def format_sweep(report: dict) -> str:
    lines = [f"sampling sweep of {report['pack']}: {report['samples']} replies a setting, "
             f"{report['max_new_tokens']} tokens (real lines: distinct-2 {report['real']['distinct_2']}, "
             f"{report['real']['mean_chars']} chars)",
             "temperature  top_p  rep.pen  fidelity [95% CI]        distinct-2  chars"]
    for s in report["settings"]:
        lo, hi = s["fidelity_ci95"]
        mark = " best" if all(s[k] == v for k, v in report["best"].items()) else \
            " (repetitive)" if s["repetitive"] else ""
        lines.append(f"{s['temperature']:<12} {s['top_p']:<6} {s['repetition_penalty']:<8} "
                     f"{s['fidelity']:.3f} [{lo:.3f}-{hi:.3f}]    {s['distinct_2']:<11} {s['mean_chars']}{mark}")
    return "\n".join(lines)


def apply(pack_dir: str | Path, report: dict) -> Path:
    """The best setting into the pack's [sampling]; the sweep into sampling_sweep.json beside it."""
    import tomllib

    from persona.pack_builder import _toml

    pack_dir = Path(pack_dir)
    path = pack_dir / "persona.toml"
    manifest = tomllib.loads(path.read_text(encoding="utf-8"))
    manifest.setdefault("sampling", {}).update(report["best"])
    path.write_text(_toml(manifest), encoding="utf-8")
    out = pack_dir / "sampling_sweep.json"
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return out
