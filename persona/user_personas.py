"""The user's own personas (a name for ``{{user}}`` and a description for the prompt), kept in PERSONA_HOME."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from persona import paths
from persona.errors import InputError, PersonaError, StoreError

log = logging.getLogger("persona")

FILENAME = "user_personas.json"
MAX_PERSONAS = 200
MAX_DESCRIPTION = 8_000  # characters; it goes into every prompt
MAX_FILE_BYTES = 4 * 1024 * 1024
# Letters of any script, digits, spaces inside, and . ' - _: a name is shown in one line and
# goes into prompts, so no braces (macros), no control characters, no line breaks.
_NAME = re.compile(r"[^\W_](?:[\w .'-]{0,62}[\w.'])?")
DEFAULT_NAME = "User"


@dataclass(frozen=True)
class UserPersona:
    name: str = DEFAULT_NAME
    description: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "description": self.description}


def path() -> Path:
    return paths.home() / FILENAME


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InputError(f"{name!r} is not a valid user persona name",
                         "use 1-64 letters, digits, spaces, '.', \"'\", '-' or '_', starting with a letter or digit")
    return name


def check_description(text: str) -> str:
    if len(text) > MAX_DESCRIPTION:
        raise InputError(f"the description is {len(text)} characters, over the {MAX_DESCRIPTION} limit",
                         "shorten it: it is sent with every message")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError("the description is not valid UTF-8", "give the description as UTF-8 text") from None
    if "\x00" in text:
        raise InputError("the description contains a NUL character", "remove it")
    return text


def _read() -> dict:
    file = path()
    try:
        with open(file, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return {"active": None, "personas": []}
    except OSError as exc:
        raise StoreError(f"cannot read {file} ({exc.strerror or exc})", "check the file's permissions") from None
    hint = f"fix or delete {file}; `persona me set NAME` writes a new one"
    if len(raw) > MAX_FILE_BYTES:
        raise StoreError(f"{file} is over {MAX_FILE_BYTES // 2**20} MiB", hint)
    try:
        data = json.loads(raw.decode("utf-8"))
        items = data["personas"]
        personas = [UserPersona(check_name(p["name"]), check_description(str(p.get("description", ""))))
                    for p in items[:MAX_PERSONAS]]
        active = data.get("active")
    except (ValueError, KeyError, TypeError, AttributeError, PersonaError, RecursionError) as exc:
        raise StoreError(f"{file} is damaged ({type(exc).__name__})", hint) from None
    return {"active": active if isinstance(active, str) else None, "personas": personas}


def _write(active: str | None, personas: list[UserPersona]) -> None:
    home = paths.writable_home()
    text = json.dumps({"version": 1, "active": active, "personas": [p.to_dict() for p in personas]},
                      ensure_ascii=False, indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(dir=home, prefix=".user_personas-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, home / FILENAME)  # readers see the old file or the new one, never half
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def all_personas() -> tuple[list[UserPersona], str | None]:
    """Every user persona, and the active one's name."""
    data = _read()
    return data["personas"], data["active"]


def find(name: str, personas: list[UserPersona]) -> UserPersona | None:
    key = name.casefold()
    return next((p for p in personas if p.name.casefold() == key), None)


def get(name: str) -> UserPersona:
    """A user persona by name (case-insensitive); InputError saying how to create it."""
    check_name(name)
    personas, _ = all_personas()
    found = find(name, personas)
    if found is None:
        known = ", ".join(p.name for p in personas[:10])
        raise InputError(f"unknown user persona {name!r}",
                         f"create it with `persona me set {name} --description ...`"
                         + (f"; yours: {known}" if known else ""))
    return found


def lookup(name: str) -> UserPersona:
    """The persona a session recorded: its current description, or just the name if it is gone."""
    try:
        return find(name, all_personas()[0]) or UserPersona(name)
    except PersonaError as exc:
        log.warning("%s (hint: %s)", exc.message, exc.hint)
        return UserPersona(name)


def active() -> UserPersona:
    """The persona `persona me use` chose, else plain "User"; a damaged file warns and gives "User"."""
    try:
        personas, name = all_personas()
    except PersonaError as exc:
        log.warning("%s (hint: %s)", exc.message, exc.hint)
        return UserPersona()
    return (find(name, personas) if name else None) or UserPersona()


def choose(name: str | None) -> UserPersona:
    """``--as NAME`` if given (it must exist), else the active persona."""
    return get(name) if name else active()


def save(name: str, description: str | None = None) -> tuple[UserPersona, bool]:
    """Create or update one; keeps the description when none is given. Returns it and whether it is active."""
    check_name(name)
    if description is not None:
        check_description(description)
    personas, current = all_personas()
    old = find(name, personas)
    if old is None and len(personas) >= MAX_PERSONAS:
        raise InputError(f"there are already {MAX_PERSONAS} user personas", "reuse one with `persona me set`")
    new = UserPersona(old.name if old else name, old.description if description is None and old else description or "")
    personas = [new if p is old else p for p in personas] if old else [*personas, new]
    current = current if current and find(current, personas) else new.name  # the first one is used at once
    _write(current, personas)
    return new, current == new.name


def use(name: str) -> UserPersona:
    """Make one the active persona (it must exist)."""
    chosen = get(name)
    personas, _ = all_personas()
    _write(chosen.name, personas)
    return chosen
