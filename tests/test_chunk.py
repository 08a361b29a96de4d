"""``persona data chunk``: whole sentences, at most --size plus one sentence, chapter titles as metadata."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from persona.data.chunk import ZH_ENDS, CLOSERS, chunk_text, read_chunks, sentences
from persona.data.records import DataError
from tests.conftest import run_cli

NOVEL = Path(__file__).resolve().parents[2] / "shared" / "data" / "novels" / "xiyouji_baihua.txt"
ENGLISH = """CHAPTER I

It was a bright cold day in April, and the clocks were striking thirteen. Mr. Smith, his chin nuzzled into his breast
in an effort to escape the vile wind, slipped quickly through the glass doors. "Are you coming?" she asked. He said
nothing at 3.14 p.m. and waited! Then the door opened… and nobody came in.

Chapter 2

The hallway smelt of boiled cabbage and old rag mats. At one end of it a coloured poster had been tacked to the wall.
It depicted simply an enormous face, more than a metre wide: the face of a man of about forty-five.
"""


@pytest.fixture(scope="module")
def xiyouji() -> str:
    if not NOVEL.exists():
        pytest.skip("../shared/data is not here")
    return NOVEL.read_text(encoding="utf-8")[:40_000]


def _ends_at_sentence_end(text: str) -> bool:
    body = text.rstrip()
    while body and body[-1] in CLOSERS:
        body = body[:-1]
    return bool(body) and body[-1] in ZH_ENDS | set(".")


def test_chunks_of_the_novel_end_at_sentence_ends_and_keep_under_size_plus_a_sentence(tmp_path, xiyouji):
    novel = tmp_path / "xiyouji.txt"
    novel.write_text(xiyouji, encoding="utf-8")
    out = tmp_path / "chunks.jsonl"
    result = run_cli("data", "chunk", str(novel), "--size", "300", "-o", str(out), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["encoding"] == "utf-8"
    chunks = read_chunks(out)
    assert len(chunks) > 40
    paragraph_ends = {line.strip()[-1] for line in xiyouji.splitlines() if line.strip()}
    for chunk in chunks[1:]:  # chunk 0 is the book's title line
        assert _ends_at_sentence_end(chunk.text) or chunk.text[-1] in paragraph_ends, chunk.text[-30:]
        longest = max(len(s) for p in chunk.text.split("\n") for s in sentences(p, "zh"))
        assert len(chunk.text) <= 300 + longest
        assert "第" not in chunk.text[:3] or "回" not in chunk.text[:8]
    assert chunks[1].chapter == "第1回 惊天地美猴王出世"
    assert {c.chapter for c in chunks} >= {"第1回 惊天地美猴王出世", "第2回 闹龙宫刁石猴借宝"}
    titles = {c.chapter for c in chunks if c.chapter}
    assert not any(t in c.text for c in chunks for t in titles)
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_a_chunk_is_never_cut_inside_a_sentence(xiyouji):
    chunks = chunk_text(xiyouji, 200, "zh")
    sentence_set = {s for line in xiyouji.splitlines() for s in sentences(line.strip(), "zh")}
    for chunk in chunks:
        for paragraph in chunk.text.split("\n"):
            for s in sentences(paragraph, "zh"):
                assert s in sentence_set  # every piece of a chunk is a whole sentence of the novel


def test_english_chunks_cut_after_quotes_and_not_after_mr_or_decimals():
    chunks = chunk_text(ENGLISH, 120, "en")
    assert [c.chapter for c in chunks][:1] == ["CHAPTER I"]
    assert chunks[-1].chapter == "Chapter 2"
    texts = [c.text for c in chunks]
    assert not any(t.endswith("Mr.") for t in texts)
    assert any(t.endswith('"Are you coming?" she asked.') or '"Are you coming?" she asked.' in t for t in texts)
    assert all(not t.startswith("Smith") and not t.startswith("14 p.m.") for t in texts)
    for text in texts:
        assert text.rstrip()[-1] in '.!?…"', text
        assert "Chapter 2" not in text and "CHAPTER I" not in text


def test_a_chunk_over_size_is_a_single_sentence():
    long = "他" * 500 + "。"
    chunks = chunk_text("短句。" + long + "又一句。", 100, "zh")
    assert [c.text for c in chunks] == ["短句。", long, "又一句。"]


def test_ids_are_the_texts_hash_prefix():
    import hashlib

    for chunk in chunk_text(ENGLISH, 200, "en"):
        assert chunk.id == hashlib.sha256(chunk.text.encode()).hexdigest()[:16]


def test_a_gb18030_novel_is_detected_as_extract_does(tmp_path, xiyouji):
    novel = tmp_path / "gb.txt"
    novel.write_bytes(xiyouji[:6000].encode("gb18030"))
    result = run_cli("data", "chunk", str(novel), "-o", str(tmp_path / "c.jsonl"), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["encoding"] == "gb18030"
    assert read_chunks(tmp_path / "c.jsonl")[1].chapter == "第1回 惊天地美猴王出世"


@pytest.mark.parametrize("case", ["missing", "folder", "empty", "binary"])
def test_bad_input_is_an_error_with_a_hint(tmp_path, case):
    target = tmp_path / "in.txt"
    out = tmp_path / "c.jsonl"
    if case == "folder":
        out = tmp_path
        target.write_text("一句话。", encoding="utf-8")
    elif case == "empty":
        target.write_text("\n\n", encoding="utf-8")
    elif case == "binary":
        target.write_bytes(b"\x00\x01PK" * 100)
    result = run_cli("data", "chunk", str(target), "-o", str(out))
    assert result.returncode == 2
    assert "error:" in result.stderr and "hint:" in result.stderr


def test_a_file_that_is_not_chunks_is_refused(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"scene": "1", "speaker": "A", "text": "hi", "line": 1}\n', encoding="utf-8")
    with pytest.raises(DataError, match="not a chunk record"):
        read_chunks(path)


def test_an_edited_chunk_gets_the_id_of_its_new_text(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "stale", "chapter": "", "index": 0, "text": "改过的一句。"}\n', encoding="utf-8")
    from persona.data.chunk import chunk_id

    assert read_chunks(path)[0].id == chunk_id("改过的一句。")
