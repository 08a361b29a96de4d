"""The plugin manager. Loading order:

1. built-ins: ``plugins/*.py`` beside the package, loaded by path (``plugins``
   is not an importable package);
2. drop-ins: ``*.py`` in ``$PERSONA_HOME/plugins/``, then in each folder of
   ``PERSONA_PLUGINS_PATH``;
3. entry points in group ``persona`` (installed packages).

``PERSONA_DISABLE_PLUGINS=a,b`` skips plugins by name; ``PERSONA_TRACE_HOOKS=1``
logs every hook call with its duration. A drop-in that fails to import is
reported and skipped; a misspelt hook implementation is an error at start-up.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pluggy

from persona import hookspecs, paths
from persona.errors import PersonaError

log = logging.getLogger("persona")
BUILTIN_DIR = paths.shipped("plugins")


class PluginError(PersonaError):
    """A plugin implements a hook that does not exist."""


@dataclass
class PluginInfo:
    name: str
    source: str  # "builtin", "drop-in", "PERSONA_PLUGINS_PATH", "entry point"
    location: str
    hooks: list[str] = field(default_factory=list)
    error: str = ""

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _disabled() -> set[str]:
    return {n.strip() for n in os.environ.get("PERSONA_DISABLE_PLUGINS", "").split(",") if n.strip()}


def _load_file(path: Path, prefix: str):
    name = f"{prefix}{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _folders() -> list[tuple[str, str, Path]]:
    out = [("builtin", "persona_builtin_", BUILTIN_DIR), ("drop-in", "persona_dropin_", paths.home() / "plugins")]
    for part in os.environ.get("PERSONA_PLUGINS_PATH", "").split(os.pathsep):
        if part:
            out.append(("PERSONA_PLUGINS_PATH", "persona_path_", Path(part).expanduser()))
    return out


def make_manager(load_builtins: bool = True, load_entrypoints: bool = True) -> pluggy.PluginManager:
    pm = pluggy.PluginManager("persona")
    pm.add_hookspecs(hookspecs)
    infos: dict[str, PluginInfo] = {}
    failures: list[PluginInfo] = []
    disabled = _disabled()
    for source, prefix, folder in _folders():
        if source == "builtin" and not load_builtins:
            continue
        for path in sorted(folder.glob("*.py")) if folder.is_dir() else []:
            name = path.stem
            if name.startswith("_") or name in disabled:
                continue
            if pm.has_plugin(name):
                failures.append(PluginInfo(name, source, str(path), error="a plugin of this name is already loaded"))
                log.warning("plugin %s from %s skipped: a plugin of this name is already loaded", name, path)
                continue
            try:
                pm.register(_load_file(path, prefix), name=name)
            except Exception as exc:  # a broken plugin is reported; the engine still runs
                failures.append(PluginInfo(name, source, str(path), error=f"{type(exc).__name__}: {exc}"))
                log.warning("plugin %s failed to load: %s: %s", name, type(exc).__name__, exc)
                continue
            infos[name] = PluginInfo(name, source, str(path))
    if load_entrypoints:
        _load_entrypoints(pm, infos, failures, disabled)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) or str(exc.plugin)
        raise PluginError(f"plugin {name!r}: {exc}".split(" in plugin <")[0],
                          "fix the hook name (see docs/plugins.md) or disable it with PERSONA_DISABLE_PLUGINS") from None
    for name, info in infos.items():
        plugin = pm.get_plugin(name)
        info.hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
    pm.persona_plugins = list(infos.values()) + failures  # for `persona plugins`
    if os.environ.get("PERSONA_TRACE_HOOKS") not in (None, "", "0"):
        _trace(pm)
    return pm


def _load_entrypoints(pm, infos, failures, disabled) -> None:
    from importlib.metadata import entry_points

    for ep in entry_points(group="persona"):
        if ep.name in disabled or pm.has_plugin(ep.name):
            continue
        try:
            pm.register(ep.load(), name=ep.name)
        except Exception as exc:
            failures.append(PluginInfo(ep.name, "entry point", ep.value, error=f"{type(exc).__name__}: {exc}"))
            log.warning("plugin %s failed to load: %s: %s", ep.name, type(exc).__name__, exc)
            continue
        infos[ep.name] = PluginInfo(ep.name, "entry point", ep.value)


def _trace(pm: pluggy.PluginManager) -> None:
    started: list[float] = []

    def before(hook_name, hook_impls, kwargs):
        started.append(time.perf_counter())

    def after(outcome, hook_name, hook_impls, kwargs):
        ms = (time.perf_counter() - started.pop()) * 1000
        names = ",".join(pm.get_name(i.plugin) or "?" for i in hook_impls)
        print(f"trace: {hook_name} [{names}] {ms:.2f} ms", file=sys.stderr, flush=True)

    pm.add_hookcall_monitoring(before, after)
