"""`persona serve` on the real default model (SmolLM2-135M, llama.cpp): the real command, the openai client."""

from __future__ import annotations

import os
import subprocess
import sys

import openai
import pytest

pytestmark = pytest.mark.slow


def test_real_model_streams_a_reply_and_a_raw_completion_over_http(model_cache):
    proc = subprocess.Popen([sys.executable, "-m", "persona", "serve", "--port", "0"], stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PERSONA_CACHE_DIR": str(model_cache)})
    try:
        line = proc.stderr.readline()
        assert "listening on http://127.0.0.1:" in line, line
        client = openai.OpenAI(base_url="http://" + line.split("http://")[1].split()[0], api_key="-",
                               max_retries=0, timeout=600)
        chunks = list(client.chat.completions.create(
            model="captain-mara", messages=[{"role": "user", "content": "Who are you?"}], stream=True,
            max_tokens=30, seed=1, stream_options={"include_usage": True}))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text.strip()
        assert chunks[-1].usage.completion_tokens > 0
        assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason][0] \
            in ("stop", "length")
        raw = client.chat.completions.create(model="captain-mara:raw", max_tokens=20, seed=1, messages=[
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Say hello."}])
        assert raw.choices[0].message.content.strip()
        assert raw.model_extra["persona"]["model"]["base"]
    finally:
        proc.terminate()
        proc.wait(60)
