"""``persona data synth``: a real HTTP teacher on loopback (the scripted stub in tests/teacher.py, and `persona serve`)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from persona.data.chunk import chunk_text, read_chunks
from persona.data.records import read_jsonl
from persona.data.synth import INSTRUCTION, load_prompt
from tests.conftest import ROOT, run_cli
from tests.teacher import Teacher

NOVEL = Path(__file__).resolve().parents[2] / "shared" / "data" / "novels" / "xiyouji_baihua.txt"


@pytest.fixture(scope="module")
def novel(tmp_path_factory):
    if not NOVEL.exists():
        pytest.skip("../shared/data is not here")
    folder = tmp_path_factory.mktemp("novel")
    (folder / "xiyouji.txt").write_text(NOVEL.read_text(encoding="utf-8")[:6000], encoding="utf-8")
    assert run_cli("data", "chunk", str(folder / "xiyouji.txt"), "--size", "400", "-o",
                   str(folder / "chunks.jsonl")).returncode == 0
    return folder / "chunks.jsonl"


def synth(chunks_file, out, *extra):
    return run_cli("data", "synth", str(chunks_file), "-o", str(out), "--json", *extra)


BAD = {2: "empty", 3: "refuse", 4: "long", 5: "format"}


def test_summaries_become_alpaca_records_and_bad_answers_are_retried_then_reported(tmp_path, novel):
    chunks = read_chunks(novel)
    with Teacher(chunks, bad=BAD) as teacher:
        result = synth(novel, tmp_path / "out", "--task", "summary", "--teacher", teacher.url, "--model", "stub")
        assert result.returncode == 0, result.stderr
        asked = list(teacher.asked)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["chunks"] == len(chunks) and report["skipped"] == 2 and report["retried_ok"] == 2
    assert {s["index"]: s["reasons"] for s in report["skipped_chunks"]} == {
        2: ["empty", "empty"], 4: ["too long", "too long"]}
    assert sorted(asked) == sorted(list(range(len(chunks))) + [2, 3, 4, 5])  # one stricter retry each
    assert report["prompt_sha256"] == load_prompt("summary", "zh").sha256
    assert report["teacher"] == teacher.url and report["model"] == "stub"
    assert report["tokens"] == {"prompt": 100 * len(asked), "completion": 10 * len(asked)}
    alpaca = json.loads((tmp_path / "out" / "alpaca.json").read_text())
    assert len(alpaca) == len(chunks) - 2
    first = alpaca[0]
    assert first == {"instruction": INSTRUCTION["zh"], "input": "第0段的情节" + hashlib.sha256(
        chunks[0].text.encode()).hexdigest()[:6] + "。", "output": chunks[0].text}
    assert all(len(r["input"]) <= 50 for r in alpaca)
    train = [json.loads(x) for x in (tmp_path / "out" / "train.jsonl").read_text().splitlines()]
    val = [json.loads(x) for x in (tmp_path / "out" / "val.jsonl").read_text().splitlines()]
    assert len(train) + len(val) == len(alpaca) and val
    assert train[0]["conversations"][0] == {"from": "human", "value": first["input"]}
    assert "summary" in result.stdout and "synth summary" not in result.stderr  # --json: no progress line


def test_a_rerun_makes_no_teacher_calls_and_writes_the_same_files(tmp_path, novel):
    chunks = read_chunks(novel)
    with Teacher(chunks, bad=BAD) as teacher:
        args = ("--task", "summary", "--teacher", teacher.url, "--model", "stub")
        assert synth(novel, tmp_path / "out", *args).returncode == 0
        before = (tmp_path / "out" / "alpaca.json").read_bytes()
        calls = len(teacher.asked)
        again = synth(novel, tmp_path / "out", *args)
        assert again.returncode == 0, again.stderr
        assert len(teacher.asked) == calls
    assert json.loads(again.stdout)["this_run"]["teacher_calls"] == 0
    assert (tmp_path / "out" / "alpaca.json").read_bytes() == before


def test_a_run_killed_mid_way_resumes_to_the_same_output_asking_only_for_the_missing_chunks(tmp_path, novel):
    chunks = read_chunks(novel)
    with Teacher(chunks, bad=BAD) as whole:
        args = ("--task", "summary", "--teacher", whole.url, "--model", "stub", "--concurrency", "1")
        assert synth(novel, tmp_path / "whole", *args).returncode == 0
    with Teacher(chunks, bad=BAD, hold_after=5) as teacher:
        args = ("--task", "summary", "--teacher", teacher.url, "--model", "stub", "--concurrency", "1")
        proc = subprocess.Popen([sys.executable, "-m", "persona", "data", "synth", str(novel), "-o",
                                 str(tmp_path / "resumed"), *args], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert teacher.held.wait(120), "the CLI never asked for a sixth answer"
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(30)
        assert not (tmp_path / "resumed" / "alpaca.json").exists()
        cached = {json.loads(x)["id"] for x in (tmp_path / "resumed" / "cache.jsonl").read_text().splitlines()}
        assert 0 < len(cached) < len(chunks)
        teacher.hold_after, teacher.asked = None, []
        result = synth(novel, tmp_path / "resumed", *args)
        assert result.returncode == 0, result.stderr
        missing = {c.index for c in chunks if c.id not in cached}
        assert set(teacher.asked) == missing
    for name in ("alpaca.json", "train.jsonl", "val.jsonl"):
        assert (tmp_path / "resumed" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    whole_report = json.loads((tmp_path / "whole" / "report.json").read_text())
    resumed_report = json.loads((tmp_path / "resumed" / "report.json").read_text())
    for key in ("chunks", "ok", "skipped", "skipped_chunks", "prompt_sha256", "records"):
        assert resumed_report[key] == whole_report[key]


def test_concurrency_4_has_four_requests_in_flight_at_once(tmp_path, novel):
    chunks = read_chunks(novel)
    with Teacher(chunks, latency=0.3) as teacher:
        result = synth(novel, tmp_path / "out", "--task", "summary", "--teacher", teacher.url, "--model", "stub",
                       "--concurrency", "4")
        assert result.returncode == 0, result.stderr
    assert teacher.max_in_flight == 4


def test_qa_answers_become_alpaca_question_answer_pairs(tmp_path, novel):
    chunks = read_chunks(novel)
    with Teacher(chunks, task="qa", bad={1: "format"}) as teacher:
        result = synth(novel, tmp_path / "out", "--task", "qa", "--teacher", teacher.url, "--model", "stub")
        assert result.returncode == 0, result.stderr
    alpaca = json.loads((tmp_path / "out" / "alpaca.json").read_text())
    assert len(alpaca) == len(chunks)
    assert alpaca[1]["instruction"] == "第1段讲了什么？" and alpaca[1]["output"].startswith("讲了")
    assert json.loads(result.stdout)["retried_ok"] == 1


def test_dialogue_answers_are_utterances_that_data_build_accepts(tmp_path, novel):
    chunks = read_chunks(novel)
    with Teacher(chunks, task="dialogue", bad={0: "format"}) as teacher:
        result = synth(novel, tmp_path / "out", "--task", "dialogue", "--teacher", teacher.url, "--model", "stub")
        assert result.returncode == 0, result.stderr
    lines = read_jsonl(tmp_path / "out" / "dialogues.jsonl")
    assert len(lines) == 2 * len(chunks)
    assert lines[2].speaker == "孙悟空" and lines[2].scene == chunks[1].chapter
    built = run_cli("data", "build", str(tmp_path / "out" / "dialogues.jsonl"), "--character", "孙悟空",
                    "--min-lines", "2", "-o", str(tmp_path / "ds"))
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "ds" / "train.jsonl").exists()


def test_persona_serve_works_as_the_teacher(tmp_path):
    from tests.test_server import Gated, Running

    text = "悟空跳进瀑布。他发现了水帘洞！猴子们拜他为王。" * 3
    chunks_file = tmp_path / "chunks.jsonl"
    chunks_file.write_text("".join(c.to_json() + "\n" for c in chunk_text(text, 30, "zh")), encoding="utf-8")
    with Running(Gated(["石猴发现水帘洞，被拜为王。"])) as server:
        result = synth(chunks_file, tmp_path / "out", "--task", "summary", "--teacher", server.base_url,
                       "--model", "captain-mara", "--concurrency", "2")
        assert result.returncode == 0, result.stderr
    alpaca = json.loads((tmp_path / "out" / "alpaca.json").read_text())
    assert [r["input"] for r in alpaca] == ["石猴发现水帘洞，被拜为王。"] * len(read_chunks(chunks_file))


def test_english_chunks_get_the_english_prompt_and_instruction(tmp_path):
    text = "The monkey leapt through the waterfall. Behind it he found a cave! The others made him king. " * 4
    chunks = chunk_text(text, 100, "en")
    chunks_file = tmp_path / "chunks.jsonl"
    chunks_file.write_text("".join(c.to_json() + "\n" for c in chunks), encoding="utf-8")
    with Teacher(chunks) as teacher:
        result = synth(chunks_file, tmp_path / "out", "--task", "summary", "--teacher", teacher.url, "--model", "s")
        assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["lang"] == "en" and report["prompt_sha256"] == load_prompt("summary", "en").sha256
    assert json.loads((tmp_path / "out" / "alpaca.json").read_text())[0]["instruction"] == INSTRUCTION["en"]


def test_bad_input_is_an_error_with_a_hint(tmp_path, novel):
    not_ours = tmp_path / "d.jsonl"
    not_ours.write_text('{"scene": "1", "speaker": "A", "text": "hi", "line": 1}\n', encoding="utf-8")
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    cases = [
        (tmp_path / "missing.jsonl", tmp_path / "o1", ["--teacher", dead, "--model", "m"], "cannot read"),
        (not_ours, tmp_path / "o2", ["--teacher", dead, "--model", "m"], "not a chunk record"),
        (novel, tmp_path / "o3", ["--teacher", dead, "--model", "m", "--max-retries", "0"], "cannot reach"),
        (novel, a_file, ["--teacher", "http://127.0.0.1:9/v1", "--model", "m"], "is a file"),
        (novel, tmp_path / "o5", ["--teacher", dead], "--model is required"),
    ]
    for chunks_file, out, extra, message in cases:
        result = run_cli("data", "synth", str(chunks_file), "--task", "summary", "-o", str(out), *extra)
        assert result.returncode == 2, (message, result.stderr)
        assert message in result.stderr and "hint:" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_the_progress_line_shows_count_rate_and_tokens_on_stderr(tmp_path, novel):
    chunks = read_chunks(novel)
    with Teacher(chunks) as teacher:
        result = run_cli("data", "synth", str(novel), "-o", str(tmp_path / "out"), "--task", "summary",
                         "--teacher", teacher.url, "--model", "stub")
        assert result.returncode == 0, result.stderr
    final = [line for line in result.stderr.splitlines() if line.startswith("synth summary:")][-1]
    assert f"{len(chunks)}/{len(chunks)} answers" in final and "/s" in final and "done in" in final
    assert f"{110 * len(chunks)} tokens" in final
    assert f"{len(chunks)} of {len(chunks)} chunks answered" in result.stdout


def test_without_a_url_the_engine_answers_through_raw_turn(tmp_path):
    """The local path (a pack or the default model through Engine.raw_turn), with a scripted backend
    standing in for the model: the real default model is minutes a chunk on a shared CPU."""
    from persona.data.synth import EngineTeacher, synth as run_synth
    from persona.engine import Engine
    from persona.models.scripted import ScriptedBackend
    from persona.plugins import make_manager

    backend = ScriptedBackend(["抱歉，我无法回答。", "石猴发现了水帘洞。"])
    engine = Engine(pm=make_manager(load_entrypoints=False), backend_loader=lambda ref, progress=None, **kw: backend)
    teacher = EngineTeacher(None, engine=engine, max_new_tokens=96)
    chunks = chunk_text("悟空跳进瀑布。他发现了水帘洞！", 100, "zh")
    report = run_synth(chunks, "summary", tmp_path / "out", teacher, lang="zh")
    assert report["teacher"] == "local" and report["model"] == "smollm2-135m"
    assert report["retried_ok"] == 1
    assert json.loads((tmp_path / "out" / "alpaca.json").read_text())[0]["input"] == "石猴发现了水帘洞。"


def test_the_local_teacher_skips_the_input_rail_on_our_own_prompts(tmp_path):
    """persona's qa and dialogue instructions read to the chat classifier like an injection; they
    are not chat, so the local teacher still answers them (the output rail still runs)."""
    from persona.data.synth import EngineTeacher
    from persona.engine import Engine
    from persona.models.scripted import ScriptedBackend
    from persona.plugins import make_manager

    pm = make_manager(load_entrypoints=False)
    prompt = load_prompt("qa", "zh").render("悟空跳进瀑布。他发现了水帘洞！", strict=True)
    verdict = pm.hook.moderate_input(text=prompt, persona=None)
    assert verdict is not None and verdict.action == "block"  # what a chat would get: the reason for the bypass
    backend = ScriptedBackend(['[{"question": "悟空发现了什么？", "answer": "水帘洞。"}]'])
    engine = Engine(pm=pm, backend_loader=lambda ref, progress=None, **kw: backend)
    answer, _, _ = EngineTeacher(None, engine=engine).ask(prompt)
    assert "水帘洞" in answer and len(backend.calls) == 1


def test_a_reply_the_output_rail_blocks_is_never_training_data():
    """A pack teacher that reads its own system prompt back: the output rail blocks it, and the
    answer counts as empty (then retried or skipped), not as the rail's in-character reply."""
    from persona.data.synth import EngineTeacher
    from persona.engine import Engine
    from persona.models.scripted import ScriptedBackend
    from persona.packs import get_pack
    from persona.plugins import make_manager

    backend = ScriptedBackend([get_pack("captain-mara").system_prompt()])
    engine = Engine(pm=make_manager(load_entrypoints=False), backend_loader=lambda ref, progress=None, **kw: backend)
    answer, _, _ = EngineTeacher("captain-mara", engine=engine).ask("Summarise: the tide came in.")
    assert answer == "" and len(backend.calls) == 1
