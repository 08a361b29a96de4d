"""The converted-model cache: ``<cache>/models/<sha256>/``, written atomically.

A GGUF file is de-quantized once into a bf16 safetensors folder keyed by the
file's sha256. A conversion is written to a temporary folder and renamed into
place only when complete, with a marker file written last; a folder without the
marker is never trusted, so a killed conversion costs a redo, never a bad load.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from persona import paths

MARKER = "persona-cache.json"


def models_dir() -> Path:
    return paths.cache_dir() / "models"


def _signature(files: list[Path]) -> str:
    parts = []
    for f in files:
        st = f.stat()
        parts.append(f"{f.resolve()}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


def file_sha256(files: list[Path], progress: Callable[[str], None] | None = None) -> str:
    """sha256 of the files' concatenation, remembered by path, size and mtime.

    Hashing 100 MB costs ~0.3 s; the index keeps cached loads well under a second.
    """
    index_path = models_dir() / "sha256-index.json"
    sig = _signature(files)
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError):
        index = {}
    if sig in index:
        return index[sig]
    if progress:
        progress(f"hashing {files[0].name} …")
    digest = hashlib.sha256()
    for f in files:
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    sha = digest.hexdigest()
    index[sig] = sha
    try:
        _atomic_write_text(index_path, json.dumps(index, indent=1))
    except OSError:
        pass  # a read-only cache still works, only slower
    return sha


def cached(sha: str) -> Path | None:
    """The complete cache folder for this sha256, or None."""
    folder = models_dir() / sha
    return folder if (folder / MARKER).is_file() else None


def write_atomically(sha: str, fill: Callable[[Path], dict]) -> Path:
    """Run ``fill(tmp_dir)`` and move the result into place with a marker.

    ``fill`` returns metadata stored in the marker file.
    """
    root = models_dir()
    root.mkdir(parents=True, exist_ok=True)
    final = root / sha
    tmp = Path(tempfile.mkdtemp(prefix=f".{sha[:12]}-", dir=root))
    try:
        meta = fill(tmp)
        (tmp / MARKER).write_text(json.dumps({"sha256": sha, **meta}, indent=1))
        if final.exists():  # a stale, unmarked leftover from a killed run
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def write_file_atomically(target: Path, fill: Callable[[Path], None]) -> Path:
    """Run ``fill(tmp_file)`` beside ``target`` and rename it into place when complete."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}-", dir=target.parent)
    os.close(fd)
    try:
        fill(Path(tmp))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def assemble_parts(parts: list[Path], name: str) -> Path:
    """Concatenate a GGUF split over several package files into one cached file."""
    target = models_dir() / "gguf" / name
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 20)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
