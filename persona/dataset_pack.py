"""``persona build DATASET``: an Alpaca/ShareGPT file or a dataset folder → adapter → eval → a character pack.

The dataset is trained on as it is: its records become ``data/train.jsonl`` and
``data/val.jsonl`` (split as :mod:`persona.data.datasets` says, unless it is a
folder that has both), with their own system prompts. The pack's name is
``--character``, or the file's name before its first dot (``huanhuan.alpaca.json``
→ huanhuan). Its system prompt is the dataset's own when every record that has
one shares it, else one written from the character's lines as a script build does.
The fidelity score needs other speakers' lines (``NAME: text`` in the human
turns); a dataset without them gets the rest of the eval, and ``eval.json`` says
under ``skipped`` why fidelity is missing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from persona.data.records import DataError, Utterance
from persona.pack_builder import (_language, _sha256, base_for, character_manifest, check_same_dataset, check_target,
                                  finish, greetings_from, staged, system_prompt, train_stage, training_facts)


def default_name(source: Path) -> str:
    """huanhuan.alpaca.json → huanhuan; a folder (or its dataset_info.json) → the folder's name."""
    if source.name == "dataset_info.json":
        source = source.parent
    return source.name if source.is_dir() else source.name.split(".")[0] or source.stem


def build_from_dataset(source: str | Path, out: str | Path, character: str | None = None, *,
                       base: str | None = None, train_config=None, val_fraction: float = 0.1, seed: int = 0,
                       eval_samples: int | None = None, eval_tokens: int | None = None, overwrite: bool = False,
                       progress=print, title: str | None = None, resume: bool = False) -> dict:
    """Build a character pack at ``out`` from the dataset at ``source``; ``resume`` continues a killed
    build (its work folder), when the dataset still splits into the same bytes."""
    from persona.data.datasets import read_dataset, split
    from persona.scaffold import slugify
    from persona.train import TrainConfig

    source, out = Path(source), Path(out)
    check_target(out, overwrite)
    progress(f"[1/4] reading the dataset {source.name} …")
    data = read_dataset(source)
    train_rows, val_rows = data.given or split(data.runs, val_fraction, seed, source)
    name = character or default_name(source)
    mine = [Utterance(scene=str(row.get("scene", "")), speaker=name, text=t["value"], line=0)
            for row in train_rows for t in row["conversations"] if t["from"] == "gpt" and t["value"].strip()]
    if not mine:
        raise DataError(f"{source} has no assistant replies to learn from", "check the file's output/gpt turns")
    language = _language([u.text for u in mine])
    title = title or default_name(source)
    own = {row["system"] for row in train_rows + val_rows if row.get("system")}
    system = own.pop() + "\n" if len(own) == 1 else system_prompt(name, title, mine, language)
    hashes = {f.name: _sha256(f) for f in data.files}
    train_bytes, val_bytes = _jsonl(train_rows), _jsonl(val_rows)
    dataset_sha = hashlib.sha256(train_bytes + val_bytes).hexdigest()
    with staged(out, resume) as tmp:
        progress(f"[2/4] writing the dataset ({data.format}, {len(train_rows)} training and "
                 f"{len(val_rows)} held-out samples) …")
        report_path = tmp / "data" / "dataset_report.json"
        before = json.loads(report_path.read_text(encoding="utf-8")).get("dataset_sha256") \
            if report_path.is_file() else None
        check_same_dataset(tmp, before, dataset_sha)
        (tmp / "data").mkdir(exist_ok=True)
        (tmp / "data" / "train.jsonl").write_bytes(train_bytes)
        (tmp / "data" / "val.jsonl").write_bytes(val_bytes)
        split_note = {"given": "the folder's own train.jsonl/val.jsonl"} if data.given else \
            {"val_fraction": val_fraction, "seed": seed}
        report_path.write_text(json.dumps(
            {"source": str(source), "format": data.format, "records": data.records, "samples_train": len(train_rows),
             "samples_val": len(val_rows), "split": split_note, "dataset_sha256": dataset_sha,
             "source_sha256": hashes}, ensure_ascii=False, indent=1), encoding="utf-8")
        config = train_config or TrainConfig()
        config.base = base_for(language, base, config)
        progress(f"[3/4] training a LoRA adapter on {config.base} …")
        report = train_stage(tmp, config, progress)
        manifest = character_manifest(
            slugify(out.name) or slugify(name) or "character", name, f"{name}, trained on the dataset {source.name}.",
            language, greetings_from(mine), config.base,
            {"kind": "dataset", "source": source.name, "sources": hashes, "format": data.format,
             "records": data.records, "split": split_note, "dataset_sha256": dataset_sha,
             "hyperparameters": report["config"], "training": training_facts(report),
             "best_val_loss": report["best_val_loss"], "eval": "eval.json"})
        pack_id = manifest["id"]
        progress("[4/4] evaluating on the held-out samples …")
        result = finish(tmp, manifest, system, progress,
                        lambda folder: evaluate_dataset_pack(folder, eval_samples, eval_tokens, progress))
    return {"pack": str(out), "id": pack_id, "train": report, "eval": result}


def evaluate_dataset_pack(folder: Path, samples: int | None = None, max_new_tokens: int | None = None,
                          progress=print) -> dict:
    """The character eval; when it cannot score fidelity (a dataset without other speakers' lines:
    the style scorer refuses to train, a DataError raised before anything is generated), the rest
    of it, with the reason under ``skipped``."""
    from persona.evaluate import evaluate

    try:
        return evaluate(folder, samples=samples, max_new_tokens=max_new_tokens)
    except DataError as exc:
        reason = f"{exc.message}: {exc.hint}" if exc.hint else exc.message
    progress(f"note: fidelity skipped ({reason})")
    return _without_fidelity(Path(folder), samples or 12, max_new_tokens or 48, reason)


def _without_fidelity(folder: Path, samples: int, max_new_tokens: int, reason: str) -> dict:
    """Perplexity with and without the adapter, and length and distinct-n of replies against the real lines."""
    from persona.evaluate import generate, perplexity, text_figures
    from persona.models import load_backend
    from persona.packs import load_pack
    from persona.train import read_samples

    pack = load_pack(folder)
    val_rows = read_samples(folder / "data" / "val.jsonl")
    backend = load_backend(pack.base, backend="hf")  # perplexity needs transformers' logits
    prompts = val_rows[:samples]
    real = [t["value"] for r in prompts for t in r["conversations"][-1:] if t["from"] == "gpt"]
    report = {"pack": pack.id, "model": pack.base, "val_samples": len(val_rows), "generated": len(prompts),
              "max_new_tokens": max_new_tokens, "skipped": {"fidelity": reason}}
    replies = {}
    for label, adapter in (("base", None), ("adapter", pack.adapter)):
        backend.use_adapter(pack.id if adapter else None, str(adapter) if adapter else None)
        try:
            replies[label] = generate(backend, prompts, max_new_tokens, 0)
            report[label] = {"perplexity": perplexity(backend, val_rows),
                             **text_figures([r for r in replies[label] if r])}
        finally:
            backend.use_adapter(None, None)
    report["real"] = text_figures(real)
    report["examples"] = [{"real": r, "adapter": a, "base": b}
                          for r, a, b in zip(real[:5], replies["adapter"], replies["base"])]
    return report


def _jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
