"""A built wheel is the whole product: shipped packs, built-in plugins, schema and TUI styles inside it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

SHIPPED_PACKS = {"captain-mara", "professor-thistle", "mara-of-the-lantern"}
BUILTINS = {"sentiment", "safety", "tools_basic", "lorebook"}


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory) -> Path:
    """persona's wheel in an empty venv, its dependencies borrowed from this one (no second torch)."""
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp / "dist"), str(ROOT)], check=True)
    (wheel,) = (tmp / "dist").glob("persona-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                    "--quiet", "--no-deps", str(wheel)], check=True)
    site = Path(subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               check=True, capture_output=True, text=True).stdout.strip())
    # A bare path line: its .pth files (our own editable install among them) are not run.
    (site / "borrowed-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv


def run_in(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(venv / "bin" / args[0]), *args[1:]], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


def test_the_wheel_carries_packs_plugins_schema_and_styles(wheel_venv):
    (wheel,) = (wheel_venv.parent / "dist").glob("persona-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "persona/pack_schema.json" in names and "persona/tui/app.tcss" in names
    for pack in SHIPPED_PACKS:
        assert f"persona/_shipped/personas/{pack}/persona.toml" in names
    for plugin in BUILTINS:
        assert f"persona/_shipped/plugins/{plugin}.py" in names
    for helper in ("_safety_patterns.py", "_safety_rules.py", "_safety_views.py", "_safety_model.py",
                   "_safety_leak.py", "_safety_model.safetensors"):  # the rails' data, code and trained classifier
        assert f"persona/_shipped/plugins/{helper}" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_installed_wheel_lists_the_shipped_packs_and_builtins(wheel_venv, tmp_path):
    where = run_in(wheel_venv, "python", "-c",
                   "import persona.paths as p; print(p.__file__); print(p.shipped('personas')); print(p.shipped('plugins'))",
                   cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    for line in where.stdout.split():
        assert Path(line).is_relative_to(wheel_venv), f"{line} is not from the wheel"

    listed = run_in(wheel_venv, "persona", "list", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    packs = {p["id"]: p for p in json.loads(listed.stdout)}
    assert SHIPPED_PACKS <= set(packs)
    assert all(Path(packs[p]["path"]).is_relative_to(wheel_venv) for p in SHIPPED_PACKS)

    plugins = run_in(wheel_venv, "persona", "plugins", "--json", cwd=tmp_path)
    assert plugins.returncode == 0, plugins.stderr
    builtin = {p["name"] for p in json.loads(plugins.stdout)
               if p["source"] == "builtin" and not p["error"] and Path(p["location"]).is_relative_to(wheel_venv)}
    assert BUILTINS <= builtin, plugins.stdout

    valid = run_in(wheel_venv, "persona", "validate", str(wheel_venv), cwd=tmp_path)  # not a pack: clear error
    assert valid.returncode == 2 and valid.stderr.startswith("error:")
