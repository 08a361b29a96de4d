"""The committed lock and `make lock` (scripts/lock.py): what `make setup` installs is what pyproject.toml asks for."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib

from packaging.requirements import Requirement

from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("lock_script", ROOT / "scripts" / "lock.py")
lock = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lock)


def entries(text: str) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a pip requirements file written with --generate-hashes."""
    out = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        m = lock.PIN.match(block)
        if m:
            out[m.group(1).lower()] = (m.group(2), re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return out


def test_the_committed_lock_pins_every_requirement_within_its_range_with_hashes():
    locked = entries((ROOT / lock.LOCK).read_text()) | entries((ROOT / lock.TORCH_LOCK).read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["test"] \
        + project["optional-dependencies"]["gemma"] + lock.NO_DEPS
    for line in wanted:
        req = Requirement(line)
        name = req.name.lower()
        assert name in locked, f"{name} is in pyproject.toml but not in the lock: run make lock"
        version, hashes = locked[name]
        assert req.specifier.contains(version, prereleases=True), f"locked {name}=={version} is outside {req.specifier}"
    assert all(hashes for _, hashes in locked.values()), [n for n, (_, h) in locked.items() if not h]


def test_a_failing_resolve_is_one_error_with_a_hint_and_leaves_the_lock_alone():
    before = [(ROOT / f).read_bytes() for f in (lock.LOCK, lock.TORCH_LOCK)]
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "lock.py"), "--uv", "/bin/false"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith(("error:", "hint:", "Traceback"))]
    assert [e.split(":")[0] for e in errors] == ["error", "hint"], proc.stderr
    assert "the lock is unchanged" in errors[0]
    assert [(ROOT / f).read_bytes() for f in (lock.LOCK, lock.TORCH_LOCK)] == before


def test_a_breaking_upgrade_is_named_with_the_package_its_error_mentions():
    old = {"transformers": "5.23.0", "peft": "0.21.2", "torch": "2.13.0+cpu"}
    new = {**old, "transformers": "5.24.0"}
    assert lock.changed(old, new) == ["transformers"]
    output = ("tests/test_compat.py F\n"
              "E   ValueError: The version of PEFT you are using is not compatible, please use a version >= 0.22.0\n")
    assert lock.partner(output, new, ["transformers"]) == "peft"
    assert lock.partner("E   AssertionError: 1 != 2\n", new, ["transformers"]) is None
