"""Turn extracted utterances into a fine-tuning dataset for one character.

Each sample is a multi-turn ShareGPT conversation that ends with one turn of
the character (``gpt``); what came before it in the same scene, up to
``history`` utterances, is the context. Decisions:

* Other speakers keep their names: a ``human`` turn is ``"NAME: text"`` lines,
  one per utterance, because a scene has many speakers and one user role.
  Consecutive lines of the character merge into one ``gpt`` turn, and one
  sample is made per such turn (a sample per line would end mid-turn).
* A sample must start with ``human``: leading ``gpt`` turns of the window are
  dropped. When the character speaks first in a scene there is nothing to
  answer, so that turn gives no sample (counted as ``no_context``); we do not
  invent an opener, which would teach the model dialogue nobody wrote.
* Train/val are split by scene (seeded), so no scene is in both files and the
  validation loss measures lines the model has not seen the context of.
* Filtered lines (empty, stage directions only, too long, repeated lines of
  the character) are removed before windows are cut, so they never reach a
  sample, neither as target nor as context.
* Identity samples (:mod:`persona.data.identity`, on by default): a few
  one-turn "who are you?" conversations answered with the character's own
  lines from the train scenes, so the model answers as the character, not as
  an AI. They go to train only, marked ``"scene": "identity"``, and are
  counted apart in the report; ``identity=False`` gives exactly the dataset
  built before they existed.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import random
import re
import shutil
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from persona.data import identity as ident
from persona.data.records import DataError, Utterance

DEFAULT_SYSTEM = "You are {character}. Stay in character."

# A line that is nothing but bracketed directions: "（跪下）", "(laughs)", "[beat] (exits)".
_STAGE_ONLY = re.compile(r"^\s*(?:[（(\[【][^（()）\[\]【】]*[）)\]】]\s*)+$")
_UNKNOWN = ("", "?")  # speaker unknown: the line is kept, without a name prefix


@dataclass
class BuildSummary:
    character: str
    speakers_matched: list[str]  # the spellings in the data that matched, case-insensitively
    lines_found: int  # the character's speech lines before filtering
    lines_kept: int
    dropped: dict[str, int]  # per reason, over every speaker's lines
    character_dropped: dict[str, int]  # per reason, the character's lines only
    no_context: int  # character turns that open a scene, so have nothing to answer
    samples_train: int
    samples_val: int
    scenes_train: int
    scenes_val: int
    val_scenes: list[str]
    parameters: dict[str, Any]
    dataset_sha256: str  # sha256 of train.jsonl then val.jsonl bytes; the pack provenance cites it
    source_hashes: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    identity_samples: int = 0  # of samples_train, the identity conversations ("scene": "identity")
    identity_kinds: dict[str, int] = field(default_factory=dict)  # {"who": n, "machine": n}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def format(self) -> str:
        dropped = ", ".join(f"{k} {v}" for k, v in self.character_dropped.items() if v) or "none"
        return "\n".join([
            f"character: {self.character} (as {', '.join(self.speakers_matched)})",
            f"lines: {self.lines_found} found, {self.lines_kept} kept; dropped: {dropped}",
            f"turns opening a scene (no sample): {self.no_context}",
            f"samples: {self.samples_train} train, {self.samples_val} val "
            f"(scenes: {self.scenes_train} train, {self.scenes_val} val)",
            f"identity samples (train only): {self.identity_samples}"
            + (f" ({', '.join(f'{k} {v}' for k, v in self.identity_kinds.items())})" if self.identity_samples else ""),
            f"dataset sha256: {self.dataset_sha256}",
        ])


def build_dataset(utterances: Iterable[Utterance], character: str, out_dir: str | Path,
                  history: int = 6, val_fraction: float = 0.1, seed: int = 0, min_lines: int = 20,
                  max_chars: int = 400, system: str | None = None, overwrite: bool = False,
                  source_hashes: dict[str, str] | None = None, identity: bool = True,
                  identity_samples: int | None = None, description: str | None = None) -> BuildSummary:
    """Write train.jsonl, val.jsonl, alpaca.json, dataset_info.json and build_report.json.

    Args:
        history: how many utterances before the character's turn form its context.
        val_fraction: about this share of the character's lines goes to val, whole scenes at a time.
        min_lines: refuse with fewer usable lines of the character than this.
        max_chars: lines longer than this are dropped.
        system: the system prompt; default "You are {character}. Stay in character."
        overwrite: replace a non-empty ``out_dir``.
        source_hashes: e.g. {"script.txt": sha256}, copied into build_report.json.
        identity: add identity samples ("who are you?" answered in character) to train.
        identity_samples: how many; None is 3% of the script's train samples, 4 to 60.
        description: a phrase about the character that some identity answers say after the name.
    """
    out_dir = Path(out_dir)
    _check_out_dir(out_dir, overwrite)
    if not 0 < val_fraction < 1:
        raise DataError(f"--val-fraction must be between 0 and 1, not {val_fraction}",
                        "a scene-level validation split is required; try 0.1")
    if history < 1:
        raise DataError(f"--history must be at least 1, not {history}", "the default is 6 utterances")
    if identity_samples is not None and identity_samples < 0:
        raise DataError(f"--identity-samples must be 0 or more, not {identity_samples}",
                        "leave it out for the automatic count, or pass --no-identity for none")
    system_text = system if system is not None else DEFAULT_SYSTEM.format(character=character)

    speech = [u for u in utterances if u.kind == "speech"]
    line_counts = Counter(u.speaker for u in speech)
    names = {s for s in line_counts if _norm(s) == _norm(character)}
    kept, dropped, char_dropped = _filter(speech, names, max_chars)
    found = sum(line_counts[s] for s in names)
    n_kept = sum(1 for u in kept if u.speaker in names)
    if n_kept < min_lines:
        raise _too_few(character, names, found, n_kept, min_lines, line_counts)

    by_scene: dict[str, list[Utterance]] = {}
    for u in kept:
        by_scene.setdefault(u.scene, []).append(u)
    samples: dict[str, list[dict[str, Any]]] = {}
    weight: dict[str, int] = {}  # the character's target lines per scene, for sizing val
    no_context = 0
    for scene, lines in by_scene.items():
        got, lines_used, missed = _scene_samples(scene, lines, names, history, system_text)
        no_context += missed
        if got:
            samples[scene], weight[scene] = got, lines_used
    if len(samples) < 2:
        what = (f"{character} answers someone in only scene {next(iter(samples))!r}" if samples
                else f"{character} never answers anyone (each of their turns opens a scene)")
        raise DataError(f"{what}, so no scene is left for validation",
                        "train and val are split by whole scenes; give more of the script "
                        "(more scenes or episodes), or choose a character who appears in more scenes")
    val_scenes = _split(weight, val_fraction, seed)

    train = [s for scene in samples if scene not in val_scenes for s in samples[scene]]
    val = [s for scene in samples if scene in val_scenes for s in samples[scene]]
    extra: list[dict[str, Any]] = []
    if identity:
        count = ident.auto_count(len(train)) if identity_samples is None else identity_samples
        display = min(names)
        display = display.title() if display.isupper() else display
        train_lines = [u for u in kept if u.scene not in val_scenes]  # val's lines must not leak
        extra = ident.identity_samples(train_lines, names, display, system_text, count, seed, description)
        train = _interleave(train, extra, seed)
    train_bytes, val_bytes = _jsonl(train), _jsonl(val)
    summary = BuildSummary(
        character=character, speakers_matched=sorted(names), lines_found=found, lines_kept=n_kept,
        dropped=dropped, character_dropped=char_dropped, no_context=no_context,
        samples_train=len(train), samples_val=len(val),
        scenes_train=len(samples) - len(val_scenes), scenes_val=len(val_scenes),
        val_scenes=[s for s in samples if s in val_scenes],
        parameters={"history": history, "val_fraction": val_fraction, "seed": seed,
                    "min_lines": min_lines, "max_chars": max_chars, "system": system_text,
                    "identity": identity, "identity_samples": identity_samples, "description": description},
        dataset_sha256=hashlib.sha256(train_bytes + val_bytes).hexdigest(),
        source_hashes=dict(source_hashes or {}),
        files=["train.jsonl", "val.jsonl", "alpaca.json", "dataset_info.json", "build_report.json"],
        identity_samples=len(extra), identity_kinds=dict(Counter(s["kind"] for s in extra)),
    )
    files = {
        "train.jsonl": train_bytes,
        "val.jsonl": val_bytes,
        "alpaca.json": _json([_to_alpaca(s) for s in train]),
        "dataset_info.json": _json(DATASET_INFO),
        "build_report.json": _json(summary.to_dict()),
    }
    _write_atomically(out_dir, files)
    return summary


def _norm(name: str) -> str:
    # NFKC folds full-width letters (ＪＵＬＩＥＴ); casefold makes "Juliet" match "JULIET".
    return unicodedata.normalize("NFKC", name).strip().casefold()


def _filter(speech: list[Utterance], names: set[str],
            max_chars: int) -> tuple[list[Utterance], dict[str, int], dict[str, int]]:
    reasons = ("empty", "stage_direction", "too_long", "duplicate")
    dropped, char_dropped = dict.fromkeys(reasons, 0), dict.fromkeys(reasons, 0)
    seen: set[str] = set()
    kept = []
    for u in speech:
        text = u.text.strip()
        reason = None
        if not text:
            reason = "empty"
        elif _STAGE_ONLY.match(text):
            reason = "stage_direction"
        elif len(text) > max_chars:
            reason = "too_long"
        elif u.speaker in names:
            # Only the character's repeats: they would be trained on again and again,
            # while another speaker's repeated "是。" is harmless context.
            reason = "duplicate" if text in seen else None
            seen.add(text)
        if reason:
            dropped[reason] += 1
            if u.speaker in names:
                char_dropped[reason] += 1
        else:
            kept.append(u)
    return kept, dropped, char_dropped


def _scene_samples(scene: str, lines: list[Utterance], names: set[str], history: int,
                   system: str) -> tuple[list[dict[str, Any]], int, int]:
    """Samples of one scene, the character's lines they answer with, and turns with no context."""
    out, used, missed = [], 0, 0
    i = 0
    while i < len(lines):
        if lines[i].speaker not in names:
            i += 1
            continue
        end = i
        while end < len(lines) and lines[end].speaker in names:
            end += 1
        turns = _turns(lines[max(0, i - history):i], names)
        while turns and turns[0]["from"] == "gpt":
            turns.pop(0)
        if turns:
            turns.append({"from": "gpt", "value": "\n".join(u.text.strip() for u in lines[i:end])})
            # "scene" and "line" ride along for provenance; LLaMA-Factory reads only mapped columns.
            out.append({"conversations": turns, "system": system, "scene": scene, "line": lines[i].line})
            used += end - i
        else:
            missed += 1
        i = end
    return out, used, missed


def _turns(window: list[Utterance], names: set[str]) -> list[dict[str, str]]:
    turns: list[dict[str, str]] = []
    for u in window:
        role = "gpt" if u.speaker in names else "human"
        text = u.text.strip()
        if role == "human" and u.speaker.strip() not in _UNKNOWN:
            text = f"{u.speaker}: {text}"
        if turns and turns[-1]["from"] == role:
            turns[-1]["value"] += "\n" + text
        else:
            turns.append({"from": role, "value": text})
    return turns


def _split(weight: dict[str, int], val_fraction: float, seed: int) -> set[str]:
    """Pick whole scenes for val: about ``val_fraction`` of the lines, at least one scene,
    never all of them."""
    order = list(weight)  # first-seen order, so the shuffle depends on the seed alone
    random.Random(seed).shuffle(order)
    target = val_fraction * sum(weight.values())
    val: list[str] = []
    n = 0
    for scene in order[:-1]:
        if n >= target:
            break
        # Skip a scene that would overshoot by half again; a smaller one may fit.
        if n + weight[scene] > 1.5 * target:
            continue
        val.append(scene)
        n += weight[scene]
    if not val:  # every scene is big next to the target: take the smallest, not a random big one
        val.append(min(order, key=weight.__getitem__))
    return set(val)


def _interleave(train: list[dict[str, Any]], extra: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """Spread ``extra`` through ``train`` at seeded places, so a trainer that does not shuffle
    still never sees them as one block at the end."""
    rng = random.Random(f"interleave:{seed}")
    slots = sorted(rng.randrange(len(train) + 1) for _ in extra)
    out, k = [], 0
    for i, sample in enumerate(train):
        while k < len(slots) and slots[k] <= i:
            out.append(extra[k])
            k += 1
        out.append(sample)
    return out + extra[k:]


def _too_few(character: str, names: set[str], found: int, kept: int, min_lines: int,
             counts: Counter[str]) -> DataError:
    key = _norm(character)
    others = [s for s in counts if s not in names and s.strip() not in _UNKNOWN]
    # Substring hits first ("ROMEO" for "Romeo (V.O.)"), then spelling neighbours.
    subs = sorted((s for s in others if key in _norm(s) or _norm(s) in key), key=lambda s: (-counts[s], s))
    normed = {_norm(s): s for s in others}
    close = [normed[n] for n in difflib.get_close_matches(key, list(normed), n=5, cutoff=0.5)]
    guesses = list(dict.fromkeys(subs + close))[:5]
    label = "closest names" if guesses else "speakers with most lines"
    guesses = guesses or sorted(others, key=lambda s: (-counts[s], s))[:5]
    listed = ", ".join(f"{s} ({counts[s]} lines)" for s in guesses) or "none"
    if found:
        msg = f"{character} has {kept} usable lines ({found} found, {found - kept} filtered); need {min_lines}"
    else:
        msg = f"no lines found for {character!r}; need {min_lines}"
    return DataError(msg, f"{label}: {listed}. Pick one of those as the character, "
                          f"or lower --min-lines (now {min_lines}) to accept fewer")


# LLaMA-Factory's data/README.md (checked): a sharegpt entry has "formatting": "sharegpt" and
# "columns" with "messages" (default "conversations") and "system"; "tags" default to
# role_tag "from", content_tag "value", user_tag "human", assistant_tag "gpt" (written out
# here anyway so nobody has to know the defaults). An alpaca entry maps prompt/query/response/
# system/history to our instruction/input/output/system/history. Paths are relative to the
# dataset_dir, i.e. this folder; use `dataset: persona_train` and `eval_dataset: persona_val`.
_SHAREGPT = {"formatting": "sharegpt",
             "columns": {"messages": "conversations", "system": "system"},
             "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"}}
DATASET_INFO = {
    "persona_train": {"file_name": "train.jsonl", **_SHAREGPT},
    "persona_val": {"file_name": "val.jsonl", **_SHAREGPT},
    "persona_train_alpaca": {"file_name": "alpaca.json",
                             "columns": {"prompt": "instruction", "query": "input", "response": "output",
                                         "system": "system", "history": "history"}},
}


def _to_alpaca(sample: dict[str, Any]) -> dict[str, Any]:
    turns = [t["value"] for t in sample["conversations"]]
    pairs = [[turns[k], turns[k + 1]] for k in range(0, len(turns) - 2, 2)]
    return {"instruction": turns[-2], "input": "", "output": turns[-1], "history": pairs,
            "system": sample["system"]}


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def _json(data: Any) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _check_out_dir(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"{out_dir} exists and is not a folder", "choose another --out")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise DataError(f"{out_dir} exists and is not empty",
                        "choose another --out, or pass --overwrite to replace it")


def _write_atomically(out_dir: Path, files: dict[str, bytes]) -> None:
    """Write into a temp folder beside ``out_dir`` and rename it into place, so a crash
    or a full disk never leaves a half-written dataset that looks complete."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    old = tmp.with_suffix(".old")
    try:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        if out_dir.exists():
            os.replace(out_dir, old)
            try:
                os.replace(tmp, out_dir)
            except OSError:
                os.replace(old, out_dir)  # put the previous dataset back
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
