"""``persona build``: script → dialogues → dataset → adapter → eval → a complete pack.

The pack is assembled in a temporary folder beside the target and renamed into
place only when every step succeeded, so a failed or killed build never leaves
a half pack where ``persona chat`` would find it. (Training itself resumes from
its own checkpoints with ``persona train --resume``.)
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from persona.data.records import DataError, Utterance


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _language(lines: list[str]) -> str:
    from persona.data.identity import language_of  # one rule for "is this Chinese?"

    return language_of(lines)


def greetings_from(lines: list[Utterance], limit: int = 3) -> list[str]:
    """The character's own short opening lines of scenes: real words, not invented ones."""
    seen_scenes, out = set(), []
    for u in lines:
        if u.scene in seen_scenes:
            continue
        seen_scenes.add(u.scene)
        text = u.text.strip()
        if 8 <= len(text) <= 160 and text not in out:
            out.append(text)
        if len(out) >= limit:
            break
    return out or [lines[0].text.strip()]


def system_prompt(name: str, source: str, lines: list[Utterance], language: str) -> str:
    samples = [u.text.strip() for u in lines if 10 <= len(u.text.strip()) <= 80][:4]
    if language == "zh":
        quoted = "\n".join(f"- {s}" for s in samples)
        return (f"你是{name}，出自《{source}》。始终以{name}的身份和口吻说话，不要说自己是AI。\n"
                f"{name}说话的样子：\n{quoted}\n用一两句话回答{{{{user}}}}。\n")
    quoted = "\n".join(f'- "{s}"' for s in samples)
    return (f"You are {name}, a character from {source}. Always speak as {name} does, in their voice; "
            f"never say you are an AI.\nThis is how {name} talks:\n{quoted}\nAnswer {{{{user}}}} in one or two sentences.\n")


def check_target(out: Path, overwrite: bool) -> None:
    """Refuse a non-empty pack folder unless ``--overwrite``, and a missing parent, before any work."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise DataError(f"{out} already exists and is not empty", "choose another -o folder, or pass --overwrite")
    if not out.parent.is_dir():
        raise DataError(f"the folder {out.parent} does not exist", f"create it first (mkdir -p {out.parent})")


def partial_folder(out: Path) -> Path:
    return out.parent / f".{out.name}.partial"


@contextmanager
def staged(out: Path, resume: bool = False) -> Iterator[Path]:
    """The build's work folder beside ``out`` (``.NAME.partial``), renamed onto ``out`` when the block succeeds.

    A build that fails or is killed after training began leaves the folder (hidden,
    and no pack: ``persona chat`` never finds it), so ``--resume`` continues from
    its checkpoint; one that fails before has nothing worth keeping and is removed.
    """
    work = partial_folder(out)
    if work.exists() and not resume:
        raise DataError(f"an unfinished build of {out.name} is in {work}",
                        "pass --resume to continue it, or delete that folder to start over")
    if resume and not work.is_dir():
        raise DataError(f"there is no unfinished build of {out.name} to resume ({work} is missing)",
                        "run the same command without --resume")
    work.mkdir(exist_ok=True)
    try:
        yield work
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        os.replace(work, out)
    except BaseException:
        if not (work / "checkpoint").exists() and not (work / "training_report.json").exists():
            shutil.rmtree(work, ignore_errors=True)
        raise


def train_stage(work: Path, config, progress) -> dict:
    """Train into ``work``, or continue: from its checkpoint, or not at all when a killed build had finished training."""
    import json

    from persona.train import train

    done = work / "training_report.json"
    if done.is_file() and (work / "adapter").is_dir():
        progress("training finished in the unfinished build; going on to the eval")
        return json.loads(done.read_text(encoding="utf-8"))
    resume = (work / "checkpoint" / "state.json").is_file()
    if resume:
        progress("resuming training from the unfinished build's checkpoint …")
    return train(work / "data", work, config, resume=resume)


def built_dataset_sha(work: Path) -> str | None:
    """The dataset hash an unfinished build recorded, if any."""
    import json

    report = work / "data" / "build_report.json"
    return json.loads(report.read_text(encoding="utf-8")).get("dataset_sha256") if report.is_file() else None


def check_same_dataset(work: Path, before: str | None, after: str | None) -> None:
    """A resumed build's dataset must come out as it was, or the checkpoint is for other data."""
    if before and after != before:
        raise DataError("the script or the dataset options changed since the unfinished build",
                        f"run it with the same command and --resume, or delete {work} to start over")


def finish(tmp: Path, manifest: dict, system: str, progress, evaluate_pack) -> dict:
    """Write the manifest and system prompt, drop training state, evaluate and record the figures."""
    from persona.evaluate import format_table, write_eval

    (tmp / "system.md").write_text(system, encoding="utf-8")
    (tmp / "persona.toml").write_text(_toml(manifest), encoding="utf-8")
    shutil.rmtree(tmp / "checkpoint", ignore_errors=True)  # training state, not part of a pack
    result = evaluate_pack(tmp)
    write_eval(tmp, result)
    record_eval(tmp, result)
    progress(format_table(result))
    return result


def extract_all(sources: list[Path], fmt: str):
    """One Extraction of several script files in order (episodes); each file's scenes keep their own names."""
    from dataclasses import replace

    from persona.data.extract import extract

    parts = [extract(s, fmt) for s in sources]
    if len(parts) == 1:
        return parts[0]
    utterances = [replace(u, scene=f"{s.name}: {u.scene}") for s, x in zip(sources, parts) for u in x.utterances]
    formats = sorted({x.format for x in parts})
    return replace(parts[0], format="+".join(formats), utterances=utterances,
                   narration=[n for x in parts for n in x.narration], skipped=[k for x in parts for k in x.skipped])


def character_manifest(pack_id: str, name: str, description: str, language: str, greetings: list[str],
                       base: str, provenance: dict) -> dict:
    """persona.toml of a built character pack (its system prompt in system.md, its adapter in adapter/)."""
    return {"spec": "persona-pack", "spec_version": "1", "id": pack_id, "name": name, "description": description,
            "language": language, "greetings": greetings, "system": "system.md",
            "model": {"base": base, "adapter": "adapter"},
            "sampling": {"temperature": 0.7, "top_p": 0.9, "repetition_penalty": 1.15, "max_new_tokens": 120},
            "provenance": provenance}


def training_facts(report: dict) -> dict:
    """What training did, from its report (``hyperparameters`` says what was asked for)."""
    return {k: report[k] for k in ("steps", "tokens", "train_samples", "val_samples", "best_step", "stopped",
                                   "resumed_from") if report.get(k) is not None}


def record_training(pack_dir: Path) -> None:
    """Copy training_report.json's facts into the manifest's [provenance.training]."""
    import json
    import tomllib

    path = Path(pack_dir) / "persona.toml"
    manifest = tomllib.loads(path.read_text(encoding="utf-8"))
    report = json.loads((Path(pack_dir) / "training_report.json").read_text(encoding="utf-8"))
    manifest.setdefault("provenance", {})["training"] = training_facts(report)
    path.write_text(_toml(manifest), encoding="utf-8")


def base_for(language: str, base: str | None, config) -> str:
    """The default model is English-only; Chinese packs default to the multilingual base."""
    return base or (config.base if language == "en" else "gemma3-270m")


def build_pack(source: str | Path | list, character: str, out: str | Path, fmt: str = "auto",
               base: str | None = None, build_options: dict | None = None, train_config=None,
               eval_samples: int | None = None, overwrite: bool = False, progress=print, title: str | None = None,
               resume: bool = False) -> dict:
    """Build a character pack at ``out`` from one script or several (episodes, in order)."""
    from persona.data.build import build_dataset
    from persona.evaluate import evaluate
    from persona.scaffold import slugify
    from persona.train import TrainConfig

    sources = [Path(s) for s in (source if isinstance(source, (list, tuple)) else [source])]
    out = Path(out)
    check_target(out, overwrite)
    names = ", ".join(s.name for s in sources)
    progress(f"[1/4] extracting {names} …")
    extraction = extract_all(sources, fmt)
    hashes = {s.name: _sha256(s) for s in sources}
    with staged(out, resume) as tmp:
        progress(f"[2/4] building the dataset for {character} ({extraction.format}, {len(extraction.utterances)} lines) …")

        before = built_dataset_sha(tmp)
        summary = build_dataset(extraction.utterances, character, tmp / "data", overwrite=resume,
                                source_hashes=hashes, **(build_options or {}))
        check_same_dataset(tmp, before, summary.to_dict().get("dataset_sha256"))
        matched = summary.to_dict().get("speakers_matched") or [character]
        speakers = {n.lower() for n in matched}
        mine = [u for u in extraction.utterances if u.speaker.lower() in speakers]
        # The script's own spelling of the name; stage plays shout theirs (JULIET → Juliet).
        character = matched[0].title() if matched[0].isupper() else matched[0]
        language = _language([u.text for u in mine])
        config = train_config or TrainConfig()
        config.base = base_for(language, base, config)
        progress(f"[3/4] training a LoRA adapter on {config.base} …")
        report = train_stage(tmp, config, progress)
        description = (build_options or {}).get("description") or f"{character}, trained on their lines from {names}."
        manifest = character_manifest(
            slugify(out.name) or slugify(character) or "character", character, description, language,
            greetings_from(mine), config.base,
            {"source": names, "source_sha256": hashes[sources[0].name] if len(sources) == 1 else None,
             "sources": hashes, "dataset_sha256": summary.to_dict().get("dataset_sha256", ""),
             "format": extraction.format, "hyperparameters": report["config"],
             "training": training_facts(report), "best_val_loss": report["best_val_loss"], "eval": "eval.json"})
        pack_id = manifest["id"]
        progress("[4/4] evaluating on the held-out scenes …")
        title = title or (sources[0].stem if len(sources) == 1 else _common_title([s.stem for s in sources]))
        result = finish(tmp, manifest, system_prompt(character, title, mine, language), progress,
                        lambda folder: evaluate(folder, samples=eval_samples))
    return {"pack": str(out), "id": pack_id, "train": report, "eval": result}


def _common_title(stems: list[str]) -> str:
    """zhenhuan_ep01-10, zhenhuan_ep11-20 → zhenhuan: the files' common name before episode numbers."""
    prefix = os.path.commonprefix(stems)
    return re.sub(r"[\W_]*(ep|episode|第)?[\W_\d]*$", "", prefix, flags=re.IGNORECASE) or stems[0]


def record_eval(pack_dir: Path, result: dict) -> None:
    """Copy the eval's headline numbers into the manifest's [provenance]."""
    import tomllib

    path = Path(pack_dir) / "persona.toml"
    manifest = tomllib.loads(path.read_text(encoding="utf-8"))
    manifest.setdefault("provenance", {})["eval_results"] = {
        side: {k: result[side][k] for k in ("perplexity", "fidelity", "distinct_2", "mean_chars") if k in result[side]}
        for side in ("base", "adapter")
    }
    path.write_text(_toml(manifest), encoding="utf-8")


def _toml(data: dict) -> str:
    import tomli_w

    def clean(v):  # TOML has no null
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items() if x is not None}
        return v

    return tomli_w.dumps(clean(data))
