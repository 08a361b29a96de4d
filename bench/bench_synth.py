"""`persona data synth` with --concurrency 1 vs 4 against a teacher that takes 0.2 s an answer.

The teacher is the scripted OpenAI-compatible FastAPI/uvicorn stub of tests/teacher.py on
loopback; the chunks are the first 12,000 characters of ../shared/data/novels/xiyouji_baihua.txt
cut at --size 400. Both runs in the same process, each into a fresh folder (no cache).
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from persona.data.chunk import chunk_text  # noqa: E402
from persona.data.synth import UrlTeacher, synth  # noqa: E402
from tests.teacher import Teacher  # noqa: E402

NOVEL = ROOT.parent / "shared" / "data" / "novels" / "xiyouji_baihua.txt"
LATENCY = 0.2


def main() -> None:
    chunks = chunk_text(NOVEL.read_text(encoding="utf-8")[:12_000], 400, "zh")
    load = os.getloadavg()[0]
    rows = []
    with Teacher(chunks, latency=LATENCY) as stub, tempfile.TemporaryDirectory() as tmp:
        # Warm-up (imports, the first connection), not measured.
        synth(chunks[:2], "summary", Path(tmp) / "warm", UrlTeacher(stub.url, "stub"), lang="zh", concurrency=1)
        for concurrency in (1, 4):
            before = stub.answers
            start = time.perf_counter()
            synth(chunks, "summary", Path(tmp) / f"c{concurrency}", UrlTeacher(stub.url, "stub"), lang="zh",
                  concurrency=concurrency)
            took = time.perf_counter() - start
            answers = stub.answers - before
            rows.append((concurrency, answers, took, answers / took, stub.max_in_flight))
    base = rows[0][3]
    print("## persona data synth: --concurrency 1 vs 4 against a teacher with latency\n")
    print(f"`bench/bench_synth.py` (in `make bench`). A scripted OpenAI-compatible teacher (FastAPI + uvicorn on "
          f"loopback) that sleeps {LATENCY} s before each answer; {len(chunks)} chunks of 西游记白话文 "
          "(--size 400), summary task, a fresh output folder per run (nothing cached), after an unmeasured "
          "warm-up run.\n")
    print(f"- date: {datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%S%z')}")
    print(f"- python {platform.python_version()}, 1-min load average at start: {load:.2f}\n")
    print("| --concurrency | answers | wall time | answers/s | most in flight | speed-up |")
    print("|---|---|---|---|---|---|")
    for concurrency, answers, took, rate, flight in rows:
        print(f"| {concurrency} | {answers} | {took:.2f} s | {rate:.2f} | {flight} | {rate / base:.1f}x |")
    print(f"\nThe ceiling is 1/{LATENCY} = {1 / LATENCY:.0f} answers/s per request in flight; the rest is "
          "client, server and JSON cost on a shared machine.")


if __name__ == "__main__":
    main()
