"""Longer fuzzing than `make test` gives: tests/fuzz/targets.py under atheris (coverage-guided libFuzzer).

atheris is not in the lock (it is a local tool, not a dependency); put it
beside the venv, not in it:

    .venv/bin/pip install --target build/atheris atheris
    PYTHONPATH=build/atheris .venv/bin/python scripts/fuzz.py tool_calls -max_total_time=300

The first argument names a target (``all`` runs each in turn, a share of the time
each); the rest go to libFuzzer (-runs=N, -max_total_time=S, a corpus folder).
A property violation is an uncaught exception: libFuzzer stops and writes the
input to crash-<sha1>.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FORMATS = ["auto", "zh-script", "stageplay", "fountain", "prose", "sharegpt", "alpaca"]
SUFFIXES = [".txt", ".json", ".jsonl", ".fountain"]


def harness(name: str):
    """The target ``name`` as a function of libFuzzer's bytes."""
    import json

    import atheris

    from tests.fuzz import targets

    def text(data: bytes) -> str:
        return data.decode("utf-8", "replace")

    def split(data: bytes) -> tuple[bytes, bytes]:
        fdp = atheris.FuzzedDataProvider(data)
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, len(data))), fdp.ConsumeBytes(len(data))

    def records(data: bytes) -> None:
        try:
            value = json.loads(data)
        except (ValueError, RecursionError):
            return
        targets.records(value)

    def extract(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        suffix, fmt = fdp.PickValueInList(SUFFIXES), fdp.PickValueInList(FORMATS)
        targets.extract(fdp.ConsumeBytes(len(data)), suffix, fmt)

    return {
        "manifest": lambda d: targets.manifest(text(d)),
        "examples": lambda d: targets.examples(text(d)),
        "lorebook": lambda d: targets.lore(*(text(p) for p in split(d))),
        "adapter": lambda d: targets.adapter(*(lambda a, b: (text(a), b))(*split(d))),
        "extract": extract,
        "tool_calls": lambda d: targets.tool_calls(text(d)),
        "records": records,
        "card": lambda d: targets.card(d, ".png"),
        "calculator": lambda d: targets.calculator(text(d)),
    }[name]


NAMES = ["manifest", "examples", "lorebook", "adapter", "card", "extract", "tool_calls", "records", "calculator"]


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in [*NAMES, "all"]:
        print(f"usage: scripts/fuzz.py {{{'|'.join(NAMES)}|all}} [libFuzzer options]", file=sys.stderr)
        return 2
    name, rest = sys.argv[1], sys.argv[2:]
    if name == "all":  # one process per target: libFuzzer runs one target per process
        return max(subprocess.call([sys.executable, __file__, n, *rest]) for n in NAMES)
    import atheris

    with atheris.instrument_imports():
        from tests.fuzz import targets  # noqa: F401  (instruments persona's modules for coverage)
        import persona.conversation, persona.data.extract, persona.packs, persona.tools  # noqa: E401,F401
    atheris.Setup([sys.argv[0], *rest], harness(name))
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())
