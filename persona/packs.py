"""Persona packs: a folder with ``persona.toml`` → a :class:`Persona`; discovery of every pack.

Packs are untrusted files. Nothing in a pack runs as code; every file it names
must stay inside the pack folder; sizes are bounded; adapter weights are
safetensors only. Reading the files is persona/pack_files.py; adapters, persona/adapters.py.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from persona import macros
from persona import pack_files as files
from persona import paths
from persona.conversation import Conversation
from persona.errors import PackError
from persona.macros import MacroContext
from persona.pack_files import MANIFEST

log = logging.getLogger("persona")

DEFAULT_BASE = "smollm2-135m"
MAX_ADAPTER_BYTES = 512 * 1024 * 1024
# Pickle-based weight formats run code when loaded; a pack may not carry them.
UNSAFE_SUFFIXES = {".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".npy", ".npz"}
DEFAULT_SAMPLING: dict[str, Any] = {
    "temperature": 0.8,
    "top_p": 0.9,
    "repetition_penalty": 1.1,
    "max_new_tokens": 200,
}


@dataclass
class Persona:
    id: str
    name: str
    path: Path
    description: str = ""
    language: str = "en"
    greetings: list[str] = field(default_factory=list)
    system: str = ""
    examples: list[Conversation] = field(default_factory=list)
    base: str = DEFAULT_BASE
    adapter: Path | None = None
    sampling: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_SAMPLING))
    tools: list[str] = field(default_factory=list)
    lorebook: Path | None = None
    extensions: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)  # as written, unknown keys kept
    source: str = "path"
    # From a Tavern card (persona/cards/): read by the engine and `persona show`, never required.
    post_history: str = ""  # post_history_instructions: inserted after the chat history
    nickname: str = ""  # V3 nickname: {{char}} when set
    avatar: Path | None = None
    card: Path | None = None  # the card it was imported from (data for round-trips, not prompt)

    def render(self, text: str, user: str = "User", context: MacroContext | None = None) -> str:
        """Expand SillyTavern's macros (persona/macros.py): ``context`` if given, else the running
        turn's (Engine.macro_context), else ``{{user}}`` is ``user``."""
        return macros.render(self, text, user, context)

    def system_prompt(self, user: str = "User", context: MacroContext | None = None) -> str:
        return self.render(self.system, user, context)

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "language": self.language,
            "base": self.base,
            "adapter": self.adapter is not None,
            "path": str(self.path),
            "source": self.source,
        }


def load_pack(folder: str | os.PathLike[str], source: str = "path") -> Persona:
    """Load and validate one pack folder; raises PackError with a hint."""
    folder = Path(folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise PackError(
            f"no {MANIFEST} in {folder}",
            "a pack is a folder with a persona.toml; create one with `persona new NAME`",
        )
    root = folder.resolve()
    files.inside(root, MANIFEST, manifest_path, "manifest")  # a persona.toml that links elsewhere is not this pack's
    data = files.read_manifest(manifest_path)
    files.check_schema(data, manifest_path)
    pack_id = data.get("id") or root.name  # `persona validate .` names the folder it is in
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", pack_id):
        raise PackError(
            f"{manifest_path}: pack id {pack_id!r} is not valid",
            "use lowercase letters, digits, '-' and '_' (set `id = \"...\"` in persona.toml)",
        )
    system = data.get("system", "You are {{char}}.")
    if files.looks_like_file(system):
        system = files.read_text(root, system, manifest_path, "system prompt")
    examples = []
    if "examples" in data:
        examples = files.read_examples(root, data["examples"], manifest_path)
    model = data.get("model", {})
    adapter = None
    if "adapter" in model:
        adapter = check_adapter_folder(files.inside(root, model["adapter"], manifest_path, "adapter"), root)
    lorebook = None
    if "entries" in data.get("lorebook", {}):
        lorebook = files.inside(root, data["lorebook"]["entries"], manifest_path, "lorebook")
        if not lorebook.is_file():
            raise PackError(f"{manifest_path}: lorebook file {lorebook.name} is missing",
                            "add the file or remove [lorebook] from persona.toml")
    return Persona(
        id=pack_id,
        name=data["name"],
        path=root,
        description=data.get("description", ""),
        language=data.get("language", "en"),
        greetings=list(data.get("greetings", [])),
        system=system,
        examples=examples,
        base=model.get("base", DEFAULT_BASE),
        adapter=adapter,
        sampling={**DEFAULT_SAMPLING, **data.get("sampling", {})},
        tools=list(data.get("tools", {}).get("allow", [])),
        lorebook=lorebook,
        extensions=dict(data.get("extensions", {})),
        provenance=dict(data.get("provenance", {})),
        manifest=data,
        post_history=data.get("post_history", ""),
        nickname=data.get("nickname", ""),
        avatar=files.inside(root, data["avatar"], manifest_path, "avatar") if "avatar" in data else None,
        card=files.inside(root, data["card"], manifest_path, "card") if "card" in data else None,
        source=source,
    )


def check_adapter_folder(path: Path, root: Path | None = None) -> Path:
    """A peft adapter folder holding safetensors weights only, of bounded size, every
    file inside the pack, its config and weights' header checked (persona/adapters.py)."""
    if not path.is_dir():
        raise PackError(f"adapter folder {path} is missing",
                        "train one with `persona train`, or remove `adapter` from [model]")
    total = 0
    for item in path.rglob("*"):
        if item.suffix.lower() in UNSAFE_SUFFIXES:
            raise PackError(
                f"adapter {path} contains {item.name}: pickle-based weights are refused",
                "convert the adapter to adapter_model.safetensors (peft: save_pretrained(safe_serialization=True))",
            )
        if item.is_file():
            total += item.stat().st_size
    for required in ("adapter_config.json", "adapter_model.safetensors"):
        if not (path / required).is_file():
            raise PackError(f"adapter {path} has no {required}",
                            "a peft adapter folder holds adapter_config.json and adapter_model.safetensors")
    if total > MAX_ADAPTER_BYTES:
        raise PackError(f"adapter {path} is {total // 2**20} MiB, over the {MAX_ADAPTER_BYTES // 2**20} MiB limit",
                        "train a smaller LoRA (lower --rank) or prune target modules")
    from persona.adapters import check_folder

    check_folder(path, (root or path).resolve())
    return path


# -- discovery ---------------------------------------------------------------


def search_path() -> list[tuple[str, Path]]:
    """Folders searched for packs, in order; later ones shadow earlier ones."""
    dirs = [("shipped", paths.SHIPPED_PERSONAS), ("home", paths.home() / "personas")]
    for part in os.environ.get("PERSONA_PATH", "").split(os.pathsep):
        if part:
            dirs.append(("PERSONA_PATH", Path(part).expanduser()))
    return dirs


def _entry_point_dirs() -> list[tuple[str, Path]]:
    from importlib.metadata import entry_points

    out = []
    for ep in entry_points(group="persona.packs"):
        try:
            value = ep.load()
            value = value() if callable(value) else value
            items = [value] if isinstance(value, (str, os.PathLike)) else list(value)
            out.extend((f"entry point {ep.name}", Path(v)) for v in items)
        except Exception as exc:  # a broken third-party package must not stop discovery
            log.warning("pack entry point %s failed: %s", ep.name, exc)
    return out


@dataclass
class BrokenPack:
    """A pack folder that did not load, and why: listed, never fatal to the others."""

    path: Path
    source: str
    error: PackError

    def summary(self) -> dict[str, Any]:
        return {"id": None, "path": str(self.path), "source": self.source, "broken": True,
                "error": self.error.message, "hint": self.error.hint}


def load_isolated(pack_dir: Path, source: str) -> Persona | BrokenPack:
    """load_pack, with every failure of one pack turned into a BrokenPack.

    A pack is untrusted: whatever it does to the loader (deep nesting, a name the
    file system refuses, a NUL in a path, a bug of ours) must not stop the rest.
    """
    try:
        return load_pack(pack_dir, source=source)
    except PackError as exc:
        return BrokenPack(pack_dir, source, exc)
    except (OSError, ValueError, RecursionError, TypeError, KeyError) as exc:
        reason = f"{type(exc).__name__}: {str(exc)[:200]}"
        return BrokenPack(pack_dir, source, PackError(f"pack {pack_dir} could not be read ({reason})",
                                                      "fix or remove the pack; `persona validate` checks it"))


def _candidates(folder: Path) -> list[Path]:
    try:
        if (folder / MANIFEST).is_file():
            return [folder]
        # Hidden folders are skipped: `persona new` builds a pack in one before renaming it.
        return sorted(p for p in (folder.iterdir() if folder.is_dir() else [])
                      if not p.name.startswith(".") and (p / MANIFEST).is_file())
    except (OSError, ValueError) as exc:
        log.warning("cannot search %s for packs: %s", folder, exc)
        return []


def load_checked(folder: str | os.PathLike[str]) -> Persona:
    """A pack named by path: any failure is a PackError (error: and hint:), never a traceback."""
    pack = load_isolated(Path(folder), "path")
    if isinstance(pack, BrokenPack):
        raise pack.error
    return pack


def _is_pack_dir(ref: str) -> bool:
    try:
        return (Path(ref) / MANIFEST).is_file()
    except (OSError, ValueError):
        return False


def discover_all() -> tuple[dict[str, Persona], list[BrokenPack]]:
    """Every pack by id, and the folders that did not load."""
    found: dict[str, Persona] = {}
    broken: list[BrokenPack] = []
    for source, folder in search_path() + _entry_point_dirs():
        for pack_dir in _candidates(folder):
            pack = load_isolated(pack_dir, source)
            if isinstance(pack, BrokenPack):
                broken.append(pack)
                continue
            if pack.id in found:
                log.warning("pack %r from %s shadows the one in %s", pack.id, pack.path, found[pack.id].path)
            found[pack.id] = pack
    return found, broken


def discover() -> dict[str, Persona]:
    """Every loadable pack by id. Broken packs are reported and skipped."""
    found, broken = discover_all()
    for pack in broken:
        log.warning("skipping pack %s: %s", pack.path, pack.error.message)
    return found


def get_pack(ref: str) -> Persona:
    """A pack by id, or by folder path; unknown ids suggest the closest ones."""
    if os.sep in ref or ref.startswith(".") or _is_pack_dir(ref):
        return load_checked(ref)
    packs, broken = discover_all()
    if ref in packs:
        return packs[ref]
    for pack in broken:  # asked for by its folder's name: say why it does not load
        if pack.path.name == ref:
            raise pack.error
    import difflib

    close = difflib.get_close_matches(ref, list(packs), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else ""
    hint = (hint + " " if hint else "") + "`persona list` shows every pack"
    raise PackError(f"unknown persona {ref!r}", hint)
