"""Training data as ``persona train`` and ``persona build`` read it: a dataset folder, or a file people have.

``path`` may be:

* persona's own dataset folder (``train.jsonl`` + ``val.jsonl``, ``persona data build``'s output), used as it is;
* a folder with LLaMA-Factory's ``dataset_info.json``: every entry's ``file_name`` in that folder, read
  with the entry's ``formatting`` ("alpaca" by default, or "sharegpt") and its ``columns``/``tags`` mapping;
* an Alpaca file (``instruction``/``input``/``output``/``system``/``history``) or a ShareGPT file
  (``conversations`` with ``from``/``value``, or OpenAI-style ``messages`` with ``role``/``content``),
  a JSON array or JSON Lines.

A file or ``dataset_info.json`` has no held-out part, so one is split off: ``val_fraction`` of the
records (rounded, at least one, never all), chosen by ``seed``. Alpaca files without ``history``
are usually consecutive lines of a script (huanhuan's are: each instruction is the line before the
character's), so they are held out in runs of :data:`ALPACA_RUN` consecutive records, like scenes,
and a held-out line's neighbours are not in training; ShareGPT records are whole conversations and
are held out one by one.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from persona import jsonlimits
from persona.data import dataset_formats as DF
from persona.data.records import DataError

ALPACA_RUN = 16  # consecutive Alpaca records held out together (about a scene of a script)
INFO = "dataset_info.json"
MAX_INFO_BYTES = 1024 * 1024
MISSING_HINT = ("build the dataset with `persona data build`, or pass an Alpaca/ShareGPT .json/.jsonl file "
                "or a folder with dataset_info.json")
_REMOTE = ("hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name")


@dataclass
class Dataset:
    """What a path holds: its format, the files read, and its rows in runs that are held out together."""

    format: str  # "persona", "alpaca", "sharegpt", "openai" or "dataset_info"
    files: list[Path]
    runs: list[list[dict]] = field(default_factory=list)
    given: tuple[list[dict], list[dict]] | None = None  # a persona folder's own train/val

    @property
    def records(self) -> int:
        return sum(map(len, self.given)) if self.given else sum(map(len, self.runs))


def load_training_data(path: str | Path, val_fraction: float = 0.1, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """``(train, val)`` samples in persona's ShareGPT shape (``system``, ``conversations``) from ``path``."""
    data = read_dataset(path)
    return data.given if data.given else split(data.runs, val_fraction, seed, path)


def is_dataset(path: str | Path) -> bool:
    """Whether ``persona build`` should train on ``path`` as it is (not extract a character's lines from it)."""
    path = Path(path)
    if path.is_dir():
        return (path / "train.jsonl").is_file() or (path / INFO).is_file()
    return path.suffix.lower() in (".json", ".jsonl")


def read_dataset(path: str | Path) -> Dataset:
    path = Path(path)
    if path.name == INFO and path.is_file():
        path = path.parent
    if path.is_dir():
        if (path / "train.jsonl").is_file():
            files = [path / "train.jsonl", path / "val.jsonl"]
            return Dataset("persona", files, given=(_persona_rows(files[0]), _persona_rows(files[1])))
        if (path / INFO).is_file():
            return _dataset_info(path)
        raise DataError(f"{path} has neither train.jsonl/val.jsonl nor {INFO}", MISSING_HINT)
    if not path.exists():
        raise DataError(f"cannot read {path}: no such file or folder", MISSING_HINT)
    records = DF.read_records(path)
    fmt = DF.detect(path, records)
    return Dataset(fmt, [path], _runs(path, records, DF.Mapping.default(fmt)))


def split(runs: list[list[dict]], val_fraction: float, seed: int, name: str | Path = "the dataset"):
    """``(train, val)``: whole runs in an order shuffled by ``seed`` go to val until it holds
    ``round(val_fraction * n)`` rows (at least 1, at most n - 1); the last run may be cut."""
    if not 0 < val_fraction < 1:
        raise DataError(f"the held-out fraction must be between 0 and 1, not {val_fraction}",
                        "pass --val-fraction 0.1, say")
    n = sum(map(len, runs))
    if n < 2:
        raise DataError(f"{name} has {n} record{'s' if n != 1 else ''}; training needs at least 2 "
                        "(one to learn from, one held out to validate on)", "add records to it")
    target = min(n - 1, max(1, round(val_fraction * n)))
    order = list(range(len(runs)))
    random.Random(seed).shuffle(order)
    held: set[tuple[int, int]] = set()
    for r in order:
        for k in range(min(len(runs[r]), target - len(held))):
            held.add((r, k))
        if len(held) >= target:
            break
    train = [row for r, run in enumerate(runs) for k, row in enumerate(run) if (r, k) not in held]
    val = [row for r, run in enumerate(runs) for k, row in enumerate(run) if (r, k) in held]
    return train, val


def _runs(path: Path, records, mapping: DF.Mapping) -> list[list[dict]]:
    rows = []
    for n, (line, record) in enumerate(records, 1):
        row = DF.to_row(record, mapping, f"{path}: record {n} (line {line})")
        rows.append({**row, "scene": f"{path.name}: record {n}"})
    script_lines = mapping.formatting == "alpaca" and all(len(r["conversations"]) == 2 for r in rows)
    size = ALPACA_RUN if script_lines else 1
    return [rows[i:i + size] for i in range(0, len(rows), size)]


def _persona_rows(path: Path) -> list[dict]:
    """A ``persona data build`` file as it is (its extra keys, e.g. ``scene``, kept); an empty one is no rows."""
    if not path.is_file():
        raise DataError(f"cannot read {path}: no such file", "build the dataset with `persona data build`")
    if path.stat().st_size == 0 or not path.read_bytes()[:4096].strip():
        return []
    records = DF.read_records(path)
    for n, (line, record) in enumerate(records, 1):
        DF.to_row(record, DF.Mapping.default("sharegpt"), f"{path}: record {n} (line {line})")
    return [record for _, record in records]


def _dataset_info(folder: Path) -> Dataset:
    from persona.pack_files import read_limited

    info_path = folder / INFO
    raw = read_limited(info_path, MAX_INFO_BYTES, "dataset_info.json describes files; keep the data in them",
                       error=DataError, not_regular=f"{INFO} must be a plain file")
    try:
        info = jsonlimits.loads(raw.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{info_path}: not valid JSON ({exc})", "fix the file (LLaMA-Factory's data/README.md "
                        "describes it)") from None
    if not isinstance(info, dict) or not info:
        raise DataError(f"{info_path} names no datasets", 'it maps names to {"file_name": ..., "formatting": ...}')
    files, runs, formats = [], [], set()
    for name, entry in info.items():
        where = f"{info_path}: {json.dumps(name, ensure_ascii=False)}"
        if not isinstance(entry, dict):
            raise DataError(f"{where} is not an object", 'each entry is {"file_name": ..., "formatting": ...}')
        if "file_name" not in entry:
            remote = next((k for k in _REMOTE if entry.get(k)), None)
            raise DataError(f"{where} is {'on ' + remote + ' ' + str(entry[remote]) if remote else 'not a file'}, "
                            "not a file in this folder", "persona reads local files only: download it here and "
                            'set "file_name", or remove the entry')
        if entry.get("ranking"):
            raise DataError(f"{where} is preference (ranking) data", "persona learns one reply a prompt: "
                            "use a supervised dataset, or remove the entry")
        formatting = entry.get("formatting", "alpaca")
        if formatting not in ("alpaca", "sharegpt"):
            raise DataError(f"{where}: formatting {formatting!r} is not alpaca or sharegpt", "use one of those two")
        columns, tags = entry.get("columns") or {}, entry.get("tags") or {}
        if not isinstance(columns, dict) or not isinstance(tags, dict) or \
                not all(isinstance(v, str) for v in [*columns.values(), *tags.values()]):
            raise DataError(f"{where}: columns and tags map names to key names (strings)",
                            'e.g. "columns": {"prompt": "instruction", "response": "output"}')
        path = (folder / str(entry["file_name"])).resolve()
        if not path.is_relative_to(folder.resolve()) or not path.is_file():
            raise DataError(f"{where}: {entry['file_name']!r} is not a file in {folder}",
                            "put the data file beside dataset_info.json and name it in file_name")
        mapping = DF.Mapping(formatting, columns, tags)
        runs += _runs(path, DF.read_records(path), mapping)
        files.append(path)
        formats.add(formatting)
    return Dataset("dataset_info", files, runs)
