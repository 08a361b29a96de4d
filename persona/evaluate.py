"""``persona eval``: is the adapter better than the base at being the character (or the novel's writer)?

On the held-out scenes (``val.jsonl``):
- perplexity of the character's real lines, with and without the adapter (same
  loss mask as training);
- fidelity: a classifier trained on the script's lines (character n-grams, so
  Chinese works without word splitting) attributes generated replies to the
  target character or to the others; the share attributed to the character,
  for adapter and base;
- distinct-1/2 and mean length of generated replies against the real lines.

A writer pack (``persona build --writer``) is judged on its held-out paragraphs
instead: perplexity given their summaries, and length and distinct-n of what
it writes from those summaries (:func:`evaluate_writer`).
"""

from __future__ import annotations

import json
import math
import re
import threading
from pathlib import Path

from persona.data.records import DataError
from persona.train import IGNORE, batches, collate, read_samples, to_messages, tokenize

_NAME_PREFIX = re.compile(r"^([^:：\n]{1,40})[:：]\s*(.+)$")


def speaker_lines(rows: list[dict]) -> tuple[list[str], list[str]]:
    """The character's lines (gpt turns) and the other speakers' (``NAME: text`` lines of human turns)."""
    mine, others = [], []
    for row in rows:
        for turn in row["conversations"]:
            if turn["from"] == "gpt":
                mine.append(turn["value"])
            elif turn["from"] == "human":
                for line in turn["value"].splitlines():
                    m = _NAME_PREFIX.match(line.strip())
                    if m:
                        others.append(m.group(2))
    return mine, others


def fidelity_classifier(rows: list[dict]):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    mine, others = speaker_lines(rows)
    if len(mine) < 5 or len(others) < 5:
        raise DataError("too few lines to train the fidelity classifier",
                        "the dataset needs the character's lines and other speakers' (NAME: text) lines")
    clf = make_pipeline(TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True),
                        LogisticRegression(max_iter=1000, class_weight="balanced"))
    clf.fit(mine + others, [1] * len(mine) + [0] * len(others))
    return clf


def distinct(texts: list[str], n: int) -> float:
    grams, total = set(), 0
    for text in texts:
        tokens = list(text) if re.search(r"[\u4e00-\u9fff]", text) else text.split()
        for i in range(len(tokens) - n + 1):
            grams.add(tuple(tokens[i:i + n]))
            total += 1
    return round(len(grams) / total, 4) if total else 0.0


def _load(pack_dir, data_dir):
    from persona.models import load_backend
    from persona.packs import load_pack

    pack = load_pack(pack_dir)
    data_dir = Path(data_dir) if data_dir else pack.path / "data"
    train_rows, val_rows = read_samples(data_dir / "train.jsonl"), read_samples(data_dir / "val.jsonl")
    if not val_rows:
        raise DataError(f"no held-out samples in {data_dir / 'val.jsonl'}", "rebuild with `persona data build`")
    if pack.adapter is None:
        raise DataError(f"pack {pack.id} has no adapter to evaluate", "train one with `persona train`")
    backend = load_backend(pack.base, backend="hf")  # perplexity needs transformers' logits
    return pack, train_rows, val_rows, backend


def perplexity(backend, rows: list[dict], max_len: int = 512) -> float:
    """exp of the mean loss on the assistant's tokens (the training mask) of ``rows``."""
    import random

    import torch

    tok, model = backend.tokenizer, backend.model
    items = [tokenize(tok, to_messages(r), max_len) for r in rows]
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    total, count = 0.0, 0
    with torch.no_grad():
        for idx in batches(items, 2048, random.Random(0)):
            ids, mask, labels = collate(items, idx, pad)
            n = int((labels[:, 1:] != IGNORE).sum())
            total += float(model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device),
                                 labels=labels.to(model.device)).loss) * n
            count += n
    return round(math.exp(total / max(count, 1)), 3)


def generate(backend, rows: list[dict], max_new_tokens: int, seed: int, temperature: float = 0.7) -> list[str]:
    """One reply for each row, from its turns before the last assistant turn."""
    from persona.models.base import GenerationParams, Stats

    out = []
    for i, row in enumerate(rows):
        msgs = to_messages(row)
        while msgs and msgs[-1]["role"] == "assistant":
            msgs.pop()
        params = GenerationParams(temperature=temperature, top_p=0.9, max_new_tokens=max_new_tokens, seed=seed + i)
        out.append("".join(backend.stream(msgs, params, threading.Event(), Stats())).strip())
    return out


def text_figures(texts: list[str]) -> dict:
    texts = texts or [""]
    return {"distinct_1": distinct(texts, 1), "distinct_2": distinct(texts, 2),
            "mean_chars": round(sum(map(len, texts)) / len(texts), 1)}


def is_writer(pack) -> bool:
    return (pack.provenance or {}).get("kind") == "writer"


def evaluate(pack_dir: str | Path, data_dir: str | Path | None = None, samples: int = 20,
             max_new_tokens: int | None = None, seed: int = 0) -> dict:
    """The character eval; a writer pack (``provenance.kind = "writer"``) gets :func:`evaluate_writer`'s."""
    from persona.packs import load_pack

    if is_writer(load_pack(pack_dir)):
        return evaluate_writer(pack_dir, data_dir, samples, max_new_tokens, seed)
    pack, train_rows, val_rows, backend = _load(pack_dir, data_dir)
    prompts = val_rows[:samples]
    real = [t["value"] for r in prompts for t in r["conversations"][-1:] if t["from"] == "gpt"]
    results = {}
    for label, adapter in (("base", None), ("adapter", pack.adapter)):
        backend.use_adapter(pack.id if adapter else None, str(adapter) if adapter else None)
        results[label] = {"replies": generate(backend, prompts, max_new_tokens or 48, seed),
                          "perplexity": perplexity(backend, val_rows)}
    backend.use_adapter(None, None)
    clf = fidelity_classifier(train_rows)
    report = {"pack": pack.id, "base": pack.base, "val_samples": len(val_rows), "generated": len(prompts)}
    for label in ("base", "adapter"):
        replies = [r for r in results[label]["replies"] if r] or [""]
        report[label] = {"perplexity": results[label]["perplexity"],
                         "fidelity": round(float(clf.predict(replies).mean()), 3), **text_figures(replies)}
    report["real"] = {"fidelity": round(float(clf.predict(real).mean()), 3) if real else None, **text_figures(real)}
    report["examples"] = [{"real": r, "adapter": a, "base": b} for r, a, b in
                          zip(real[:5], results["adapter"]["replies"], results["base"]["replies"])]
    return report


def evaluate_writer(pack_dir: str | Path, data_dir: str | Path | None = None, samples: int = 4,
                    max_new_tokens: int | None = None, seed: int = 0) -> dict:
    """A writer pack: perplexity of the held-out paragraphs given their summaries, with and without
    the adapter, and length and distinct-n of passages written from held-out summaries against the
    real paragraphs. There is no fidelity score: a novel has no other speakers to tell apart."""
    pack, _, val_rows, backend = _load(pack_dir, data_dir)
    max_len = int((pack.provenance.get("hyperparameters") or {}).get("max_len") or 1024)
    tokens = max_new_tokens or int(pack.sampling.get("max_new_tokens") or 600)
    prompts = val_rows[:samples]
    real = [r["conversations"][-1]["value"] for r in prompts]
    report = {"pack": pack.id, "kind": "writer", "base": pack.base, "val_samples": len(val_rows),
              "generated": len(prompts), "max_new_tokens": tokens}
    passages = {}
    for label, adapter in (("base", None), ("adapter", pack.adapter)):
        backend.use_adapter(pack.id if adapter else None, str(adapter) if adapter else None)
        passages[label] = generate(backend, prompts, tokens, seed, temperature=0.8)
        report[label] = {"perplexity": perplexity(backend, val_rows, max_len),
                         **text_figures([p for p in passages[label] if p])}
    backend.use_adapter(None, None)
    report["real"] = text_figures(real)
    report["examples"] = [{"premise": r["conversations"][0]["value"], "real": t, "adapter": a, "base": b}
                          for r, t, a, b in zip(prompts[:3], real, passages["adapter"], passages["base"])]
    return report


def format_table(report: dict) -> str:
    rows = [("", "perplexity", "fidelity", "distinct-1", "distinct-2", "chars")]
    for label in ("base", "adapter", "real"):
        r = report[label]
        rows.append((label, str(r.get("perplexity", "–")), str(r.get("fidelity", "–")), str(r["distinct_1"]),
                     str(r["distinct_2"]), str(r["mean_chars"])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)


def write_eval(pack_dir: str | Path, report: dict) -> Path:
    path = Path(pack_dir) / "eval.json"
    path.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    return path
