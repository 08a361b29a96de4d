"""A scripted OpenAI-compatible teacher on loopback (FastAPI/uvicorn), for the synth and writer tests.

It answers deterministically from the chunk in the prompt, with malformed
answers for chosen chunks, counts answers and the most requests in flight, and
can hold the request after the Nth answer so a test kills the CLI at a known
point (counted at the teacher, never by time).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import threading

import uvicorn
from fastapi import FastAPI, Request  # module level: FastAPI resolves the handler's annotations here
from fastapi.responses import JSONResponse

from persona.data.synth import load_prompt


class Teacher:
    """A scripted OpenAI-compatible chat server. ``bad`` maps a chunk's index to how it misbehaves:
    ``empty``/``long`` always, ``refuse``/``format`` only until the stricter prompt comes."""

    def __init__(self, chunks, task="summary", bad=None, latency=0.0, hold_after=None):
        self.chunks, self.task, self.bad, self.latency = chunks, task, dict(bad or {}), latency
        self.hold_after = hold_after
        self.strict = {lang: load_prompt(task, lang).strict for lang in ("zh", "en")}
        self.answers = 0
        self.asked: list[int] = []  # chunk index of every request, in arrival order
        self.in_flight = self.max_in_flight = 0
        self.held = threading.Event()
        self.release = None
        self.port = None

    def answer(self, index: int, strict: bool) -> str:
        chunk = self.chunks[index]
        kind = self.bad.get(index)
        if kind == "empty":
            return ""
        if kind == "long":
            return "这段讲的是" + "很长" * 40 + "。"
        if kind == "refuse" and not strict:
            return "抱歉，我无法完成这个请求。"
        if kind == "format" and not strict:
            return "总结：\n" + chunk.text[:20] if self.task == "summary" else "Sure! Here you go."
        digest = hashlib.sha256(chunk.text.encode()).hexdigest()[:6]
        if self.task == "summary":
            return f"第{index}段的情节{digest}。"
        if self.task == "qa":
            return json.dumps([{"question": f"第{index}段讲了什么？", "answer": f"讲了{digest}。"}], ensure_ascii=False)
        return "\n".join(json.dumps({"role": role, "dialogue": f"{role}在第{index}段说{digest}。"}, ensure_ascii=False)
                         for role in ("孙悟空", "唐僧"))

    def app(self):
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def complete(request: Request):
            body = await request.json()
            prompt = body["messages"][-1]["content"]
            index = next(c.index for c in self.chunks if c.text in prompt)
            self.asked.append(index)
            if self.hold_after is not None and self.answers >= self.hold_after:
                self.held.set()
                await self.release.wait()
                return JSONResponse({"error": {"message": "gone"}}, status_code=500)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                await asyncio.sleep(self.latency)
            finally:
                self.in_flight -= 1
            text = self.answer(index, any(s in prompt for s in self.strict.values()))
            self.answers += 1
            return {"id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}}

        return app

    def __enter__(self):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app(), log_level="error", lifespan="off")
        self.server = uvicorn.Server(config)
        self.loop_ready = threading.Event()

        def serve():
            async def main():
                self.release = asyncio.Event()
                self.loop = asyncio.get_running_loop()
                self.loop_ready.set()
                await self.server.serve(sockets=[sock])
            asyncio.run(main())

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        self.loop_ready.wait(10)
        while not self.server.started:
            threading.Event().wait(0.02)
        return self

    def unhold(self):
        self.loop.call_soon_threadsafe(self.release.set)

    def __exit__(self, *exc):
        self.unhold()
        self.server.should_exit = True
        self.thread.join(10)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/v1"
