"""Writing a file the user named with ``-o``: checked first, replaced atomically, never half-written.

The folder must already exist (a typo in it should not grow a tree of new
folders), a folder is not a file, an existing file is kept unless ``force``,
and the text goes to a temporary file beside the target that is renamed over
it only when complete: a full disk or a ``/proc`` target leaves nothing behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

from persona.errors import PersonaError


def check(path: str | Path, force: bool = False) -> Path:
    """The target as a Path, or a PersonaError saying why it cannot be written."""
    out = Path(path)
    if out.is_dir():
        raise PersonaError(f"{out} is a folder", "name a file, not a folder")
    folder = out.parent
    if not folder.is_dir():
        raise PersonaError(f"the folder {folder} does not exist", f"create it first (mkdir -p {folder})")
    if (out.exists() or out.is_symlink()) and not force:
        raise PersonaError(f"{out} already exists", "choose another file name, or pass --force to overwrite it")
    return out


def write(path: str | Path, text: str, force: bool = False) -> Path:
    """Write ``text`` (UTF-8) to ``path`` after :func:`check`; OSError becomes a PersonaError."""
    return write_bytes(path, text.encode("utf-8"), force)


def write_bytes(path: str | Path, data: bytes, force: bool = False) -> Path:
    """Write ``data`` to ``path`` after :func:`check`, whole or not at all."""
    return write_with(path, lambda fh: fh.write(data), force)


def write_with(path: str | Path, writer: Callable[[BinaryIO], object], force: bool = False) -> Path:
    """Call ``writer`` with a binary file beside ``path``, then rename it over ``path``."""
    out = check(path, force)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name[:64]}.", suffix=".tmp", dir=out.parent)
        with os.fdopen(fd, "wb") as fh:
            writer(fh)
        os.replace(tmp, out)
        tmp = None
    except OSError as exc:
        raise PersonaError(f"cannot write {out}: {exc.strerror or exc}",
                           "check the folder's permissions and free disk space") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    return out
