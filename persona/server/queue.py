"""The bounded queue in front of the shared model: one worker thread, jobs that stream into asyncio.

The model backend (llama.cpp, transformers) runs one generation at a time,
so every request waits here for the one worker. Tokens go from the worker
into the request's own asyncio queue, unbounded, so a client that reads
slowly only delays itself: the worker never waits for a socket.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("persona")
RETRY_AFTER_S = 2


class QueueFull(Exception):
    """More requests are waiting than ``--max-queue`` allows."""


class Job:
    """One request's generation: ``work(on_token, cancel)`` run by the worker; events for the request."""

    def __init__(self, work: Callable[[Callable[[str], None], threading.Event], Any],
                 loop: asyncio.AbstractEventLoop) -> None:
        self.work = work
        self.loop = loop
        self.cancel = threading.Event()
        self.events: asyncio.Queue = asyncio.Queue()  # ("token", str) ... then ("done", result) or ("error", exc)

    def _post(self, kind: str, value: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, (kind, value))
        except RuntimeError:  # the event loop has closed (server shutting down): nobody is listening
            pass

    def run(self) -> None:
        if self.cancel.is_set():  # its client left while it waited
            self._post("error", asyncio.CancelledError())
            return
        try:
            result = self.work(lambda text: self._post("token", text), self.cancel)
        except BaseException as exc:  # handed to the request, which answers with an error object
            self._post("error", exc)
        else:
            self._post("done", result)

    async def result(self) -> Any:
        """Wait for the end (tokens are skipped): the work's result, or its exception raised."""
        while True:
            kind, value = await self.events.get()
            if kind == "done":
                return value
            if kind == "error":
                raise value


class ModelQueue:
    """At most ``max_waiting`` jobs wait behind the running one; more raise :class:`QueueFull`."""

    def __init__(self, max_waiting: int = 32) -> None:
        self.max_waiting = max_waiting
        self._jobs: queue.Queue[Job | None] = queue.Queue(maxsize=max_waiting)
        self.running: Job | None = None
        self._worker = threading.Thread(target=self._loop, name="persona-model", daemon=True)
        self._worker.start()

    @property
    def waiting(self) -> int:
        return self._jobs.qsize()

    def submit(self, work: Callable[[Callable[[str], None], threading.Event], Any]) -> Job:
        job = Job(work, asyncio.get_running_loop())
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            raise QueueFull(f"{self.max_waiting} requests are already waiting for the model") from None
        return job

    def close(self) -> None:
        """Stop the worker after the running job (waiting jobs are cancelled)."""
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job.cancel.set()
                job.run()
        if self.running is not None:
            self.running.cancel.set()
        try:
            self._jobs.put_nowait(None)
        except queue.Full:
            pass

    def _loop(self) -> None:
        while (job := self._jobs.get()) is not None:
            self.running = job
            try:
                job.run()
            finally:
                self.running = None
