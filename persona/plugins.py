"""The plugin manager: built-ins from ``plugins/`` (loaded by path), then
entry points in group ``persona``. ``PERSONA_DISABLE_PLUGINS=a,b`` skips some."""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from pathlib import Path

import pluggy

from persona import hookspecs
from persona.errors import PersonaError
from persona.paths import PACKAGE_DIR

log = logging.getLogger("persona")
BUILTIN_DIR = PACKAGE_DIR.parent / "plugins"


class PluginError(PersonaError):
    """A plugin implements a hook that does not exist."""


def _disabled() -> set[str]:
    return {n.strip() for n in os.environ.get("PERSONA_DISABLE_PLUGINS", "").split(",") if n.strip()}


def _load_file(path: Path, prefix: str):
    # Loaded under a private module name: `plugins` is not an importable package.
    name = f"{prefix}{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def make_manager(load_builtins: bool = True, load_entrypoints: bool = True) -> pluggy.PluginManager:
    pm = pluggy.PluginManager("persona")
    pm.add_hookspecs(hookspecs)
    disabled = _disabled()
    if load_builtins and BUILTIN_DIR.is_dir():
        for path in sorted(BUILTIN_DIR.glob("*.py")):
            if path.stem.startswith("_") or path.stem in disabled:
                continue
            try:
                pm.register(_load_file(path, "persona_builtin_"), name=path.stem)
            except Exception as exc:  # a broken plugin is reported; the engine still runs
                log.warning("plugin %s failed to load: %s: %s", path.stem, type(exc).__name__, exc)
    if load_entrypoints:
        pm.load_setuptools_entrypoints("persona")
        for name in disabled:
            if pm.get_plugin(name) is not None:
                pm.unregister(name=name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) or str(exc.plugin)
        raise PluginError(f"plugin {name!r}: {exc}".split(" in plugin <")[0],
                          "fix the hook name (see docs/plugins.md) or disable it with PERSONA_DISABLE_PLUGINS") from None
    return pm
