"""Reading a pack's files: each resolved (symlinks too) and kept inside the pack, a regular file,
bounded while it is read, UTF-8; persona.toml against the JSON schema; examples as ShareGPT lines."""

from __future__ import annotations

import json
import os
import re
import stat
import tomllib
from pathlib import Path
from typing import Any

from persona import jsonlimits, paths
from persona.conversation import Conversation
from persona.errors import PackError, PersonaError

MANIFEST = "persona.toml"
MAX_MANIFEST_BYTES = 256 * 1024
MAX_TEXT_BYTES = 1024 * 1024


def read_manifest(path: Path) -> dict[str, Any]:
    raw = read_limited(path, MAX_MANIFEST_BYTES, "keep long texts in separate files (system.md, examples.jsonl)")
    try:
        return tomllib.loads(newlines(raw.decode("utf-8")))
    except tomllib.TOMLDecodeError as exc:
        raise PackError(f"{path}: malformed TOML: {exc}",
                        "fix the line named above; https://toml.io describes the syntax") from None
    except UnicodeDecodeError:
        raise PackError(f"{path} is not UTF-8 text", "save persona.toml as UTF-8") from None
    except RecursionError:
        raise PackError(f"{path} nests too deeply", "flatten the tables and arrays in persona.toml") from None


def newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")  # as text-mode reading did


def read_limited(path: Path, limit: int, hint: str, error: type[PersonaError] = PackError,
                 not_regular: str = "a pack holds plain files", size: str = "") -> bytes:
    """At most ``limit`` bytes of a regular file, checked while reading (the file may change after a stat).

    Opened non-blocking: a FIFO swapped in for the file is refused, not waited on."""
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC), "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise error(f"{path} is not a regular file", not_regular)
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise error(f"{path} is larger than {size or f'{limit // 1024} KiB'}", hint)
    return data


def check_schema(data: dict[str, Any], path: Path) -> None:
    import jsonschema

    schema = json.loads((paths.PACKAGE_DIR / "pack_schema.json").read_text())
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        err = errors[0]
        where = ".".join(str(p) for p in err.path) or "(top level)"
        raise PackError(f"{path}: {where}: {err.message}",
                        "see docs/packs.md for the persona.toml format, or run `persona new` for a working example")


def looks_like_file(value: str) -> bool:
    return "\n" not in value and bool(re.fullmatch(r"[\w./-]+\.(md|txt)", value))


def inside(root: Path, rel: str, manifest: Path, what: str) -> Path:
    if "\0" in rel:
        raise PackError(f"{manifest}: {what} path {rel!r} contains a NUL byte", "name a plain file in the pack")
    target = (root / rel).resolve()
    if not target.is_relative_to(root):
        raise PackError(f"{manifest}: {what} path {rel!r} points outside the pack",
                        "keep every file a pack names inside its folder")
    return target


def read_text(root: Path, rel: str, manifest: Path, what: str) -> str:
    target = inside(root, rel, manifest, what)
    if not target.is_file():
        raise PackError(f"{manifest}: {what} file {rel} is missing",
                        f"create {root / rel}, or put the text inline in persona.toml")
    raw = read_limited(target, MAX_TEXT_BYTES, "shorten it")
    try:
        return newlines(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise PackError(f"{target} is not UTF-8 text", "save it as UTF-8") from None


def read_examples(root: Path, rel: str, manifest: Path) -> list[Conversation]:
    text = read_text(root, rel, manifest, "examples")
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(Conversation.from_sharegpt(jsonlimits.loads(line)))
        except (ValueError, TypeError, AttributeError, RecursionError) as exc:
            raise PackError(f"{root / rel}:{lineno}: not a ShareGPT line ({exc})",
                            'each line is {"conversations": [{"from": "human", "value": ...}, {"from": "gpt", ...}]}') from None
    return out
