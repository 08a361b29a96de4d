"""`persona serve` under load: concurrent streams, the bounded queue, disconnects that cancel, slow readers.

Cancellation is counted in tokens the backend produced (a gated backend yields one word per permit),
never in seconds.
"""

from __future__ import annotations

import asyncio
import json

import openai
import pytest

from .test_server import Gated, Running


def test_eight_concurrent_streams_get_whole_uninterleaved_replies():
    replies = [f"reply number {i} " + " ".join(f"w{i}_{k}" for k in range(20)) for i in range(8)]
    def reply_for(messages):  # each client's reply is named in its own message
        return replies[int(messages[-1]["content"].split()[-1])]

    class PerClient(Gated):
        def stream(self, messages, params, cancel, stats):
            self.replies = [reply_for(messages)]
            yield from super().stream(messages, params, cancel, stats)

    backend = PerClient()
    with Running(backend) as server:
        async def one(i):
            client = server.async_client()
            parts = []
            async for chunk in await client.chat.completions.create(
                    model="captain-mara", messages=[{"role": "user", "content": f"client {i}"}], stream=True):
                parts += [chunk.choices[0].delta.content or ""] if chunk.choices else []
            await client.close()
            return "".join(parts)

        async def all_of_them():
            return await asyncio.gather(*(one(i) for i in range(8)))

        assert asyncio.run(all_of_them()) == replies


def test_a_disconnect_mid_stream_cancels_the_generation():
    backend = Gated(["w " * 200], gated=True)
    with Running(backend) as server:
        backend.gate.release()
        backend.gate.release()
        stream = server.client().chat.completions.create(
            model="captain-mara", messages=[{"role": "user", "content": "Talk a lot."}], stream=True)
        it = iter(stream)
        next(it)  # the role
        next(it)  # the first word
        stream.close()  # the client goes away
        assert backend.cancel.wait(30)  # the server noticed and set the turn's cancel event
        for _ in range(300):
            backend.gate.release()
        assert backend.finished.wait(30)
    assert backend.stopped == "cancelled" and backend.yielded <= 3  # of 200 words


def test_a_client_that_leaves_before_a_whole_reply_cancels_it_too():
    import socket

    backend = Gated(["w " * 200], gated=True)
    with Running(backend) as server:
        body = json.dumps({"model": "captain-mara", "messages": [{"role": "user", "content": "Talk."}]}).encode()
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            assert backend.started.wait(30)
        assert backend.cancel.wait(30)
        for _ in range(300):
            backend.gate.release()
        assert backend.finished.wait(30)
    assert backend.stopped == "cancelled" and backend.yielded <= 1


def test_a_slow_reader_does_not_hold_the_model_for_others():
    backend = Gated(["many words " * 2000, "short one"])
    with Running(backend) as server:
        slow = server.client().chat.completions.create(
            model="captain-mara", messages=[{"role": "user", "content": "Tell me everything."}], stream=True)
        next(iter(slow))  # reads one chunk, then nothing
        assert backend.finished.wait(30)  # its generation ran to the end anyway
        fast = server.client().chat.completions.create(model="captain-mara",
                                                       messages=[{"role": "user", "content": "Quick?"}])
        assert fast.choices[0].message.content == "short one"
        assert "".join(c.choices[0].delta.content or "" for c in slow if c.choices).endswith("words")
        slow.close()


def test_a_full_queue_answers_503_with_retry_after():
    backend = Gated(["a b c"], gated=True)
    with Running(backend, max_queue=1) as server:
        client = server.client()
        first = client.chat.completions.create(model="captain-mara", stream=True,
                                               messages=[{"role": "user", "content": "one"}])
        assert backend.started.wait(30)  # the first is generating
        second = client.chat.completions.create(model="captain-mara", stream=True,
                                                messages=[{"role": "user", "content": "two"}])
        assert server.app.state.queue.waiting == 1
        with pytest.raises(openai.InternalServerError) as caught:
            client.chat.completions.create(model="captain-mara", messages=[{"role": "user", "content": "three"}])
        assert caught.value.status_code == 503 and caught.value.response.headers["retry-after"]
        assert caught.value.body["code"] == "queue_full"
        for _ in range(100):
            backend.gate.release()
        assert "".join(c.choices[0].delta.content or "" for c in first if c.choices) == "a b c"
        assert "".join(c.choices[0].delta.content or "" for c in second if c.choices) == "a b c"
