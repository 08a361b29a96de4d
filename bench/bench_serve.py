"""What the server layer costs: N concurrent `openai` streaming clients against `persona serve`,
compared with the same engine turns called in-process, in the same run, on the real default model.

For N = 1, 4, 16: N clients start at once, each streams one persona-mode turn (captain-mara,
greedy, seed 0, max_tokens M). Reported: throughput (all new tokens / wall time) and time to first
token p50/p95 over both repeats. Each side runs twice, in the order A B B A. The baseline runs the same N turns through
``Engine.turn`` in this process, one after another, as the one model worker behind the server's
queue does, keeping no turns (as the server's stateless requests). Both use one loaded llama backend, and requests are interleaved per N.

    .venv/bin/python bench/bench_serve.py [--max-tokens 32] [--sizes 1,4,16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def in_process(engine, pack, n: int, max_tokens: int) -> tuple[float, list[float], int]:
    firsts, tokens = [], 0
    start = time.perf_counter()
    for i in range(n):
        t0, seen = time.perf_counter(), []
        chat = engine.new_chat(pack)
        result = engine.turn(chat, f"Tell me about your ship, friend {i}.", seed=0, temperature=0.0,
                             max_new_tokens=max_tokens,
                             on_token=lambda t: seen or seen.append(time.perf_counter() - t0))
        firsts.append(seen[0] if seen else float("nan"))
        tokens += result.timings.get("new_tokens") or 0
    return time.perf_counter() - start, firsts, tokens


async def over_http(base_url: str, n: int, max_tokens: int) -> tuple[float, list[float], int]:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0)

    async def one(i: int) -> tuple[float, int]:
        t0, first, usage = time.perf_counter(), None, 0
        stream = await client.chat.completions.create(
            model="captain-mara", stream=True, stream_options={"include_usage": True}, seed=0, temperature=0.0,
            max_tokens=max_tokens, messages=[{"role": "user", "content": f"Tell me about your ship, friend {i}."}])
        async for chunk in stream:
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter() - t0
            if chunk.usage:
                usage = chunk.usage.completion_tokens
        return (first if first is not None else float("nan")), usage

    start = time.perf_counter()
    results = await asyncio.gather(*(one(i) for i in range(n)))
    wall = time.perf_counter() - start
    await client.close()
    return wall, [r[0] for r in results], sum(r[1] for r in results)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--sizes", default="1,4,16")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    from persona.engine import Engine
    from persona.packs import get_pack
    from persona.plugins import make_manager
    from persona.server.app import EphemeralStore, Settings, create_app, make_server, wait_started

    import tempfile

    os.environ.setdefault("PERSONA_HOME", tempfile.mkdtemp(prefix="persona-bench-"))  # the sessions stay out of yours
    load = os.getloadavg()[0]
    engine = Engine(pm=make_manager(load_entrypoints=False), progress=lambda m: print(m, file=sys.stderr))
    pack = get_pack("captain-mara")
    # The baseline keeps no turns, as the server's stateless requests do; same plugins, same loaded model.
    local = Engine(pm=engine.pm, store=EphemeralStore(engine), backend_loader=engine.backend_loader)
    in_process(local, pack, 1, 4)  # load the model once, for both sides
    box: dict[str, int] = {}
    server = make_server(create_app(engine, Settings(max_queue=64)), "127.0.0.1", 0,
                         on_ready=lambda port: box.setdefault("port", port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_started(server)
    base_url = f"http://127.0.0.1:{box['port']}/v1"
    asyncio.run(over_http(base_url, 1, 4))  # warm the HTTP path

    print("## persona serve: N concurrent streaming clients vs the same turns in-process\n")
    print(f"- date: {time.strftime('%Y-%m-%dT%H:%M:%S%z')}")
    print(f"- smollm2-135m (llama backend), captain-mara, greedy, seed 0, max_tokens {args.max_tokens}")
    print(f"- 1-min load average at start: {load:.2f}\n")
    print("| clients | in-process tok/s | server tok/s | ratio | TTFT p50 in-process | TTFT p50 server "
          "| TTFT p95 in-process | TTFT p95 server |")
    print("|---|---|---|---|---|---|---|---|")
    for n in sizes:
        # each side twice, in the order A B B A, so neither always runs on a warmer cache or a quieter machine
        a1 = in_process(local, pack, n, args.max_tokens)
        b1 = asyncio.run(over_http(base_url, n, args.max_tokens))
        b2 = asyncio.run(over_http(base_url, n, args.max_tokens))
        a2 = in_process(local, pack, n, args.max_tokens)
        rate_i = (a1[2] + a2[2]) / (a1[0] + a2[0])
        rate_s = (b1[2] + b2[2]) / (b1[0] + b2[0])
        first_i, first_s = a1[1] + a2[1], b1[1] + b2[1]
        print(f"| {n} | {rate_i:.1f} | {rate_s:.1f} | {rate_s / rate_i:.2f}x | {statistics.median(first_i):.2f} s "
              f"| {statistics.median(first_s):.2f} s | {pct(first_i, 0.95):.2f} s | {pct(first_s, 0.95):.2f} s |",
              flush=True)
    print("\nIn-process turns run one after another, so their TTFT is each turn's own; a server client's "
          "TTFT includes its wait in the queue behind the others (one model worker).")
    server.should_exit = True
    thread.join(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
