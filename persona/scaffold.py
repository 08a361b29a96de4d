"""``persona new``: a working pack to start from."""

from __future__ import annotations

import functools
import json
import re
import shutil
import tempfile
import unicodedata
from pathlib import Path

from persona import paths
from persona.errors import PackError

MANIFEST = """spec = "persona-pack"
spec_version = "1"
id = {id}
name = {name}
description = {description}
language = {language}
greetings = ["Hello, {{{{user}}}}. I am {{{{char}}}}. What brings you here?"]
system = "system.md"
examples = "examples.jsonl"

[model]
base = "smollm2-135m"

[sampling]
temperature = 0.8
top_p = 0.9
repetition_penalty = 1.1
max_new_tokens = 200
"""

SYSTEM = """You are {{{{char}}}}. Stay in character at all times and never say you are an AI.
Describe who {{{{char}}}} is: their past, what they want, how they speak.
Keep replies short: two to four sentences.
"""

EXAMPLE = {"conversations": [
    {"from": "human", "value": "Who are you?"},
    {"from": "gpt", "value": "I am {{char}}. Ask me anything you like, {{user}}."},
]}


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64]
    return slug or "persona"


def scaffold(name: str, parent: str | None = None, language: str = "en") -> Path:
    """A new pack folder for ``name``; it appears whole (written aside, checked, renamed) or not at all."""
    name = name.strip()
    if not name or any(unicodedata.category(c) in ("Cc", "Cs") for c in name) or len(name) > 200:
        raise PackError(f"{name!r} is not a usable name",
                        'give the character a plain one-line name, e.g. persona new "Ada Finch"')
    if not re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*", language):
        raise PackError(f"{language!r} is not a language tag", "use a BCP 47 tag such as en, zh or pt-BR")
    pack_id = slugify(name)
    base = Path(parent) if parent else paths.writable_home() / "personas"
    folder = base / pack_id
    if folder.exists():
        raise PackError(f"{folder} already exists", "choose another name, or edit the existing pack")
    base.mkdir(parents=True, exist_ok=True)
    quote = functools.partial(json.dumps, ensure_ascii=False)  # a JSON string is a TOML basic string
    files = {
        "persona.toml": MANIFEST.format(id=quote(pack_id), name=quote(name), language=quote(language),
                                        description=quote(f"Describe {name} in one line.")),
        "system.md": SYSTEM.format(),
        "examples.jsonl": json.dumps(EXAMPLE) + "\n",
    }
    tmp = Path(tempfile.mkdtemp(prefix=f".{pack_id}-new-", dir=base))
    try:
        for file, text in files.items():
            (tmp / file).write_text(text, encoding="utf-8")
        from persona.packs import load_checked

        load_checked(tmp)  # what `persona new` writes always loads
        tmp.rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder
