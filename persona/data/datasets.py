"""Training data as ``persona train`` and ``persona build`` read it: a dataset folder, or a file people have."""

from __future__ import annotations

from pathlib import Path

from persona.data.records import DataError


def load_training_data(path: str | Path, val_fraction: float = 0.1, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """``(train, val)`` samples in persona's ShareGPT shape (``system``, ``conversations``) from ``path``.

    Today: a folder with ``train.jsonl`` and ``val.jsonl`` (``persona data build``'s output).
    """
    from persona.train import read_samples

    path = Path(path)
    if not path.is_file():
        return read_samples(path / "train.jsonl"), read_samples(path / "val.jsonl")
    raise DataError(f"{path} is a file, not a dataset folder (train.jsonl, val.jsonl)",
                    "build one with `persona data build`")
