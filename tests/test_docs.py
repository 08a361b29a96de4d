"""The README's set-up commands exist, and every hook is documented with its signature."""

from __future__ import annotations

import inspect
import re

from persona import hookspecs
from tests.conftest import ROOT


def test_readme_starts_with_the_two_commands_ci_runs():
    readme = (ROOT / "README.md").read_text()
    setup = readme[readme.index("## Set-up"):readme.index("## A 60-second tour")]
    assert "make chat" in setup and "make test" in setup
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^chat: setup", makefile, re.M) and re.search(r"^test: setup", makefile, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_every_hook_is_documented_with_its_signature():
    doc = (ROOT / "docs" / "plugins.md").read_text()
    documented = dict(re.findall(r"^\| `(\w+)\(([^)]*)\)`", doc, re.M))
    specs = {name: ", ".join(inspect.signature(fn).parameters)
             for name, fn in vars(hookspecs).items()
             if callable(fn) and hasattr(fn, "persona_spec")}
    assert specs and documented == specs
