"""One broken pack never bricks the CLI: it is listed as broken, the others work,
and naming it gives its error (issue 10, class 3)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import MINIMAL, run_cli, write_pack

BROKEN = {
    "nested": MINIMAL + "deep = " + "[" * 5000 + "]" * 5000 + "\n",
    "longname": MINIMAL.replace('system = "You are {{char}}. Talk to {{user}}."', f'system = "{"x" * 5000}.md"'),
    "badtoml": "spec = [unclosed\n",
}


@pytest.fixture
def library(tmp_path, monkeypatch):
    root = tmp_path / "packs"
    write_pack(root / "good-one", MINIMAL.replace("Test Char", "Good One"))
    for name, manifest in BROKEN.items():
        write_pack(root / name, manifest)
    monkeypatch.setenv("PERSONA_PATH", str(root))
    return root


def test_list_shows_the_good_packs_and_each_broken_one_with_its_error(library):
    proc = run_cli("list")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "good-one" in proc.stdout and "captain-mara" in proc.stdout
    for name in BROKEN:
        assert name in proc.stdout and f"{name} is broken" in proc.stderr
    records = json.loads(run_cli("list", "--json").stdout)
    broken = {r["path"].rsplit("/", 1)[-1]: r for r in records if r.get("broken")}
    assert set(broken) == set(BROKEN) and all(r["error"] and r["hint"] for r in broken.values())
    assert "good-one" in {r["id"] for r in records}


@pytest.mark.parametrize("command", [["show", "good-one"], ["show", "captain-mara"], ["validate", "{root}/good-one"]])
def test_other_packs_still_work(library, command):
    proc = run_cli(*[c.format(root=library) for c in command])
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_naming_a_broken_pack_is_a_clear_error(library, name):
    for ref in (name, str(library / name)):
        proc = run_cli("show", ref)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.startswith("error: ") and "\nhint: " in proc.stderr
    proc = run_cli("validate", str(library / name))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "hint:" in proc.stderr
