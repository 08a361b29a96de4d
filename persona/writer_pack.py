"""``persona build NOVEL --writer``: novel → chunks → teacher summaries → adapter → eval → a writer pack.

The recipe: cut the novel into paragraphs of about ``size`` characters at
sentence ends, ask a teacher for a one-sentence plot summary of each, and train
on (instruction, summary) → paragraph. Chatting with the pack means giving a
premise and getting a passage in the novel's style. The teacher's answers are
cached under the persona cache folder by novel, so a killed build, or the same
novel built again, asks only for what is missing.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from persona.data.records import DataError
from persona.pack_builder import _language, _sha256, check_target, finish, staged, training_facts

WRITER_MAX_LEN = 1024  # tokens a training sample: an 800-character paragraph and its prompt fit
GREETING = {
    "zh": "给我一句情节，我照《{source}》的文风写一段八百字左右的小说。",
    "en": "Give me a premise in one sentence, and I will write a passage of about 500 words in the style of {source}.",
}
MAX_NEW_TOKENS = {"zh": 1024, "en": 768}


def synth_folder(source_sha: str, size: int, lang: str) -> Path:
    """Where the teacher's answers for this novel are cached (shared by every build of it)."""
    from persona.paths import cache_dir

    key = hashlib.sha256(f"{source_sha}\0{size}\0{lang}".encode()).hexdigest()[:16]
    return cache_dir() / "synth" / key


def build_writer(source: str | Path, out: str | Path, *, size: int = 800, lang: str = "auto",
                 limit: int | None = None, teacher=None, prompt_file: str | None = None, concurrency: int = 4,
                 base: str | None = None, train_config=None, eval_samples: int = 4,
                 eval_tokens: int | None = None, name: str | None = None, overwrite: bool = False,
                 progress=print, synth_progress=None) -> dict:
    """Build a writer pack at ``out``; ``teacher`` is from :func:`persona.data.synth.make_teacher`."""
    from persona.data.chunk import chunk_file
    from persona.data.synth import INSTRUCTION, synth
    from persona.evaluate import evaluate_writer
    from persona.scaffold import slugify
    from persona.train import TrainConfig, train

    source, out = Path(source), Path(out)
    check_target(out, overwrite)
    if limit is not None and limit < 2:
        raise DataError(f"--chunks {limit} leaves nothing to hold out", "pass --chunks 2 or more (or leave it out)")
    progress(f"[1/4] chunking {source.name} into paragraphs of about {size} characters …")
    chunks, _ = chunk_file(source, size, lang)
    chunks = chunks[:limit] if limit else chunks
    lang = lang if lang in ("zh", "en") else _language([c.text for c in chunks])
    source_sha = _sha256(source)
    work = synth_folder(source_sha, size, lang)
    work.mkdir(parents=True, exist_ok=True)
    progress(f"[2/4] asking {teacher.name} for a summary of each of {len(chunks)} chunks (cached in {work}) …")
    report = synth(chunks, "summary", work, teacher, lang=lang, prompt_file=prompt_file,
                   concurrency=concurrency, progress=synth_progress)
    if report["ok"] < 2:
        raise DataError(f"the teacher summarised {report['ok']} of {report['chunks']} chunks usably; "
                        f"a writer needs at least 2 (see {work / 'report.json'})",
                        "use a stronger teacher (--teacher URL --model NAME); the local default model is small")
    with staged(out) as tmp:
        (tmp / "data").mkdir()
        for name_ in ("alpaca.json", "train.jsonl", "val.jsonl", "report.json"):
            shutil.copyfile(work / name_, tmp / "data" / ("synth_report.json" if name_ == "report.json" else name_))
        config = train_config or TrainConfig(max_len=WRITER_MAX_LEN)
        config.base = base or ("gemma3-270m" if lang == "zh" else config.base)
        progress(f"[3/4] training a LoRA adapter on {config.base} ({report['records']} summaries → paragraphs) …")
        trained = train(tmp / "data", tmp, config)
        title = name or f"{source.stem} writer"
        manifest = {
            "spec": "persona-pack", "spec_version": "1", "id": slugify(out.name) or "writer", "name": title,
            "description": f"Writes passages in the style of {source.name} from a one-sentence premise.",
            "language": lang, "greetings": [GREETING[lang].format(source=source.stem)], "system": "system.md",
            "model": {"base": config.base, "adapter": "adapter"},
            "sampling": {"temperature": 0.8, "top_p": 0.9, "repetition_penalty": 1.1,
                         "max_new_tokens": MAX_NEW_TOKENS[lang]},
            "provenance": {"kind": "writer", "source": source.name, "source_sha256": source_sha,
                           "chunk_size": size, "chunks": len(chunks), "teacher": report["teacher"],
                           "teacher_model": report["model"], "prompt_sha256": report["prompt_sha256"],
                           "summaries": report["ok"], "skipped": report["skipped"],
                           "hyperparameters": trained["config"], "training": training_facts(trained),
                           "best_val_loss": trained["best_val_loss"],
                           "eval": "eval.json"},
        }
        progress("[4/4] evaluating on the held-out paragraphs …")
        result = finish(tmp, manifest, INSTRUCTION[lang] + "\n", progress,
                        lambda folder: evaluate_writer(folder, samples=eval_samples, max_new_tokens=eval_tokens))
    return {"pack": str(out), "id": manifest["id"], "synth": report, "train": trained, "eval": result}
