"""``persona new``: a working pack to start from."""

from __future__ import annotations

import json
import re
from pathlib import Path

from persona import paths
from persona.errors import PackError

MANIFEST = """spec = "persona-pack"
spec_version = "1"
id = "{id}"
name = "{name}"
description = "Describe {name} in one line."
language = "{language}"
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
    if not name.strip() or '"' in name or "\\" in name:
        raise PackError(f"{name!r} is not a usable name", 'give the character a plain name, e.g. persona new "Ada Finch"')
    pack_id = slugify(name)
    base = Path(parent) if parent else paths.writable_home() / "personas"
    folder = base / pack_id
    if folder.exists():
        raise PackError(f"{folder} already exists", "choose another name, or edit the existing pack")
    folder.mkdir(parents=True)
    (folder / "persona.toml").write_text(MANIFEST.format(id=pack_id, name=name.strip(), language=language))
    (folder / "system.md").write_text(SYSTEM.format())
    (folder / "examples.jsonl").write_text(json.dumps(EXAMPLE) + "\n")
    return folder
