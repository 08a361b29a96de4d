"""Where persona keeps its files: PERSONA_HOME (platformdirs by default)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from persona.errors import StoreError

PACKAGE_DIR = Path(__file__).resolve().parent


def shipped(name: str) -> Path:
    """A folder that ships with persona: "personas" (packs) or "plugins" (built-ins).

    A wheel carries them inside the package as ``persona/_shipped/<name>``
    (pyproject.toml's force-include); a source checkout or editable install
    keeps them beside the package, at the top of the repository.
    """
    inside = PACKAGE_DIR / "_shipped" / name
    if inside.is_dir():
        return inside
    checkout = PACKAGE_DIR.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / name).is_dir():
        return checkout / name
    # Neither layout: an empty place, so nothing unrelated is picked up.
    return inside


SHIPPED_PERSONAS = shipped("personas")


def home() -> Path:
    """PERSONA_HOME, or the platform's user data folder for persona."""
    env = os.environ.get("PERSONA_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_path

    return user_data_path("persona", appauthor=False)


def cache_dir() -> Path:
    """Model cache; PERSONA_CACHE_DIR lets several homes share one cache."""
    env = os.environ.get("PERSONA_CACHE_DIR")
    return Path(env).expanduser() if env else home() / "cache"


def writable_home() -> Path:
    """PERSONA_HOME, created if needed; raises StoreError if it cannot be written."""
    path = home()
    try:
        path.mkdir(parents=True, exist_ok=True)
        # os.access lies for root; a real write is the only honest test.
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise StoreError(
            f"PERSONA_HOME is not writable: {path} ({exc.strerror or exc})",
            "set PERSONA_HOME to a folder you can write, e.g. export PERSONA_HOME=~/.local/share/persona",
        ) from None
    return path
