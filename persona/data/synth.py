"""The teacher step (``persona data synth``): ask a model about every chunk, keep the answers that fit.

Every final answer (good or skipped) is appended to ``OUT_DIR/cache.jsonl`` and
flushed as soon as it arrives, keyed by (chunk hash, task, prompt hash, teacher,
model): a killed run restarts where it stopped and a re-run asks nothing. A bad
answer (empty, a refusal, not the asked format, too long) is asked once more
with a stricter prompt, then skipped and listed in ``report.json``. Teacher
answers are untrusted model output: bounded in length, JSON parsed with
:func:`persona.jsonlimits.loads`.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from persona.data.chunk import Chunk
from persona.data.records import DataError, Utterance
from persona.errors import PersonaError

TASKS = ("summary", "qa", "dialogue")
INSTRUCTION = {
    "zh": "你是一个熟读各类小说的专家，请你根据要求写一段800字左右的小说。",
    "en": "You are an expert who has read novels of every kind. Write a passage of a novel of about "
          "500 words that follows the request.",
}
MAX_ANSWER_CHARS = 20_000  # more than any answer we ask for; a longer one is a runaway
MAX_SUMMARY = {"zh": 50, "en": 30}  # characters for Chinese, words for English
_REFUSALS = ("抱歉", "对不起", "我无法", "我不能", "作为一个ai", "作为ai", "i'm sorry", "i am sorry", "sorry,",
             "i cannot", "i can't", "as an ai", "i'm unable", "i am unable")


class TeacherError(PersonaError):
    """The teacher model cannot be reached or refuses every request."""


# --- prompts ---------------------------------------------------------------------------

@dataclass
class Prompt:
    template: str  # the user message, with {text} where the chunk goes
    strict: str    # appended for the one retry of a bad answer
    sha256: str

    def render(self, text: str, strict: bool = False) -> str:
        body = self.template.replace("{text}", text)
        return body + ("\n\n" + self.strict if strict else "")


def load_prompt(task: str, lang: str, prompt_file: str | None = None) -> Prompt:
    folder = resources.files("persona.data") / "prompts"
    strict = (folder / f"{task}.strict.{lang}.txt").read_text(encoding="utf-8").strip()
    if prompt_file:
        try:
            template = Path(prompt_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"cannot read the prompt file {prompt_file}: {exc}", "pass a UTF-8 text file") from None
        if "{text}" not in template:
            template = template.rstrip() + "\n\n{text}"
    else:
        template = (folder / f"{task}.{lang}.txt").read_text(encoding="utf-8")
    template = template.strip() + "\n"
    digest = hashlib.sha256((template + "\0" + strict).encode("utf-8")).hexdigest()
    return Prompt(template, strict, digest)


# --- teachers --------------------------------------------------------------------------

class UrlTeacher:
    """Any OpenAI-compatible endpoint through the official client, which retries 429/503 and
    connection errors with exponential backoff (``max_retries`` times)."""

    def __init__(self, url: str, model: str, api_key_env: str = "OPENAI_API_KEY", max_retries: int = 2,
                 timeout: float = 120.0) -> None:
        import openai

        self.name, self.model = url, model
        self._openai = openai
        self.client = openai.OpenAI(base_url=url, api_key=os.environ.get(api_key_env) or "none",
                                    max_retries=max_retries, timeout=openai.Timeout(timeout, connect=5.0))

    def ask(self, prompt: str) -> tuple[str, int, int]:
        try:
            response = self.client.chat.completions.create(
                model=self.model, messages=[{"role": "user", "content": prompt}], temperature=0.3)
        except self._openai.APIConnectionError:
            raise TeacherError(f"cannot reach the teacher at {self.name}",
                               "check --teacher (an OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1) "
                               "and that the server is running") from None
        except self._openai.APIStatusError as exc:
            raise TeacherError(f"the teacher at {self.name} answered HTTP {exc.status_code}: {str(exc)[:200]}",
                               "check --model and the API key variable (--api-key-env)") from None
        text = (response.choices[0].message.content or "") if response.choices else ""
        usage = response.usage
        return text, (usage.prompt_tokens if usage else 0), (usage.completion_tokens if usage else 0)


class EngineTeacher:
    """A pack, or the local default model, answering through :class:`persona.engine.Engine`."""

    def __init__(self, pack: str | None, engine=None, max_new_tokens: int = 512) -> None:
        from persona.engine import Engine
        from persona.models.registry import DEFAULT_MODEL
        from persona.packs import Persona

        self.engine = engine or Engine()
        if pack:
            from persona.packs import get_pack

            self.persona = get_pack(pack)
            self.name, self.model = f"pack:{self.persona.id}", self.persona.base
        else:
            self.persona = Persona(id=f"base:{DEFAULT_MODEL}", name=DEFAULT_MODEL, path=Path("."), base=DEFAULT_MODEL)
            self.name, self.model = "local", DEFAULT_MODEL
        self.max_new_tokens = max_new_tokens
        self._lock = threading.Lock()  # one local model generates one answer at a time

    def ask(self, prompt: str) -> tuple[str, int, int]:
        # The prompt is ours, not a chat message: the input rail (trained on what users send a
        # character) reads its instructions as an injection. The output rail still runs: a reply
        # it blocked is never training data (it counts as empty); a redacted one keeps the redaction.
        with self._lock:
            result = self.engine.raw_turn(self.persona, [{"role": "user", "content": prompt}],
                                          input_rail=False, max_new_tokens=self.max_new_tokens)
        timings = result.timings or {}
        blocked = any(m.metadata.get("safety", {}).get("verdict") == "block" for m in result.messages)
        return ("" if blocked else result.reply), int(timings.get("prompt_tokens") or 0), \
            int(timings.get("new_tokens") or 0)


def make_teacher(teacher: str | None, model: str | None, api_key_env: str, max_retries: int, task: str = "qa"):
    if teacher and teacher.startswith(("http://", "https://")):
        if not model:
            raise DataError("--model is required with a URL teacher", "name the model the server serves, e.g. --model qwen2.5-7b-instruct")
        return UrlTeacher(teacher.rstrip("/"), model, api_key_env, max_retries)
    return EngineTeacher(teacher, max_new_tokens=96 if task == "summary" else 512)  # a summary is one sentence


# --- checking answers ------------------------------------------------------------------

def _strip_fence(text: str) -> str:
    text = text.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        end = text.rfind("```")
        text = text[:end] if end >= 0 else text
    return text.strip()


def check_answer(task: str, lang: str, answer: str) -> tuple[Any, str | None]:
    """``(parsed, None)`` for a usable answer, else ``(None, reason)``."""
    from persona.jsonlimits import loads

    text = (answer or "").strip()
    if not text:
        return None, "empty"
    if len(text) > MAX_ANSWER_CHARS:
        return None, "too long"
    if text.lower().startswith(_REFUSALS):
        return None, "refusal"
    if task == "summary":
        if "\n" in text or text.startswith(("{", "[")):
            return None, "not one sentence"
        over = len(text) > MAX_SUMMARY["zh"] if lang == "zh" else len(text.split()) > MAX_SUMMARY["en"]
        return (None, "too long") if over else (text, None)
    body = _strip_fence(text)
    try:
        if task == "qa":
            items = loads(body)
            if isinstance(items, dict):
                items = [items]
            pairs = [(i["question"].strip(), i["answer"].strip()) for i in items]
            if pairs and all(q and a for q, a in pairs):
                return pairs, None
        else:
            rows = [loads(line) for line in body.splitlines() if line.strip()]
            if len(rows) == 1 and isinstance(rows[0], list):
                rows = rows[0]
            lines = [(r["role"].strip(), r["dialogue"].strip()) for r in rows]
            if lines and all(role and said for role, said in lines):
                return lines, None
    except (ValueError, TypeError, KeyError, AttributeError):
        pass
    return None, "not the asked format"


# --- the run ---------------------------------------------------------------------------

@dataclass
class Run:
    task: str
    lang: str
    prompt: Prompt
    teacher: Any
    out_dir: Path
    concurrency: int = 4
    progress: Callable[[str], None] | None = None
    calls: int = 0
    cached: int = 0
    tokens: dict[str, int] = field(default_factory=lambda: {"prompt": 0, "completion": 0})
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def key(self, chunk: Chunk) -> str:
        parts = [chunk.id, self.task, self.prompt.sha256, self.teacher.name, self.teacher.model]
        return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()

    def answer(self, chunk: Chunk, cache) -> dict[str, Any]:
        """Ask, check, ask once more strictly if bad; the outcome is cached before it is returned."""
        reasons = []
        entry: dict[str, Any] = {"key": self.key(chunk), "id": chunk.id, "tokens": [0, 0]}
        for strict in (False, True):
            text, p, c = self.teacher.ask(self.prompt.render(chunk.text, strict))
            with self._lock:
                self.calls += 1
                self.tokens["prompt"] += p
                self.tokens["completion"] += c
            entry["tokens"] = [entry["tokens"][0] + p, entry["tokens"][1] + c]
            parsed, reason = check_answer(self.task, self.lang, text)
            if reason is None:
                entry.update(ok=True, answer=parsed, retried=strict)
                break
            reasons.append(reason)
        else:
            entry.update(ok=False, reasons=reasons)
        with self._lock:
            cache.write(json.dumps(entry, ensure_ascii=False) + "\n")
            cache.flush()
        return entry

    def execute(self, chunks: list[Chunk]) -> dict[str, dict[str, Any]]:
        """Outcomes by cache key; answers already in ``cache.jsonl`` are not asked again."""
        cache_path = self.out_dir / "cache.jsonl"
        known = read_cache(cache_path)
        unique = {self.key(c): c for c in chunks}
        todo = [c for k, c in unique.items() if k not in known]
        self.cached = len(unique) - len(todo)
        done, start = 0, time.monotonic()
        self._report(0, len(todo), start, first=True)
        with open(cache_path, "a", encoding="utf-8") as cache, ThreadPoolExecutor(max(1, self.concurrency)) as pool:
            futures = [pool.submit(self.answer, c, cache) for c in todo]
            try:
                for future in as_completed(futures):
                    entry = future.result()
                    known[entry["key"]] = entry
                    done += 1
                    self._report(done, len(todo), start)
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
        self._report(done, len(todo), start, final=True)
        return known

    def _report(self, done: int, total: int, start: float, first: bool = False, final: bool = False) -> None:
        if self.progress is None:
            return
        from persona.progress import live

        elapsed = time.monotonic() - start
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = f"about {round((total - done) / rate)} s left" if rate and done < total else "estimating time left"
        if final:
            eta = f"done in {elapsed:.0f} s"
        tokens = self.tokens["prompt"] + self.tokens["completion"]
        self.progress(live(f"synth {self.task}: {done}/{total} answers · {rate:.2f}/s · {eta} · {tokens} tokens"
                           + (f" · {self.cached} cached" if self.cached else ""), first=first, final=final))


def read_cache(path: Path) -> dict[str, dict[str, Any]]:
    """The cached outcomes; a line cut short by a kill is ignored (that chunk is asked again)."""
    from persona.jsonlimits import loads

    out: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = loads(line)
            out[str(entry["key"])] = entry
        except (ValueError, KeyError, TypeError):
            continue
    return out


def synth(chunks: list[Chunk], task: str, out_dir: str | Path, teacher, lang: str = "zh",
          prompt_file: str | None = None, concurrency: int = 4,
          progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Ask the teacher about every chunk and write the dataset and ``report.json`` into ``out_dir``."""
    if task not in TASKS:
        raise DataError(f"unknown task {task!r}", f"pass --task {' or '.join(TASKS)}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DataError(f"{out} exists and is a file", "-o names a folder for the dataset; choose another")
    if not out.parent.is_dir():
        raise DataError(f"the folder {out.parent} does not exist", f"create it first (mkdir -p {out.parent})")
    out.mkdir(exist_ok=True)
    run = Run(task, lang, load_prompt(task, lang, prompt_file), teacher, out, concurrency, progress)
    outcomes = run.execute(chunks)
    return write_outputs(run, chunks, outcomes)


# --- writing the dataset ---------------------------------------------------------------

def _jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def write_outputs(run: Run, chunks: list[Chunk], outcomes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Records in chunk order (so a resumed run writes the same bytes), and report.json."""
    from persona import outfile

    alpaca: list[dict[str, Any]] = []
    utterances: list[Utterance] = []
    skipped, ok, retried, seen = [], 0, 0, set()
    tokens = [0, 0]
    for chunk in chunks:
        key = run.key(chunk)
        entry = outcomes[key]
        if key in seen:
            continue
        seen.add(key)
        tokens = [tokens[0] + entry["tokens"][0], tokens[1] + entry["tokens"][1]]
        if not entry.get("ok"):
            skipped.append({"id": chunk.id, "index": chunk.index, "chapter": chunk.chapter,
                            "reasons": entry.get("reasons", [])})
            continue
        ok += 1
        retried += bool(entry.get("retried"))
        answer = entry["answer"]
        if run.task == "summary":
            alpaca.append({"instruction": INSTRUCTION[run.lang], "input": answer, "output": chunk.text})
        elif run.task == "qa":
            alpaca.extend({"instruction": q, "input": "", "output": a} for q, a in answer)
        else:
            scene = chunk.chapter or f"chunk {chunk.index}"
            utterances.extend(Utterance(scene, role, said, chunk.index + 1, extra={"chunk": chunk.id})
                              for role, said in answer)
    files = []
    if run.task == "dialogue":
        files.append(outfile.write(run.out_dir / "dialogues.jsonl", "".join(u.to_json() + "\n" for u in utterances),
                                   force=True))
    else:
        # train.jsonl/val.jsonl in the ShareGPT shape `persona train` reads; every tenth record held out.
        samples = [{"system": r["instruction"] if run.task == "summary" else "",
                    "conversations": [{"from": "human", "value": r["input"] or r["instruction"]},
                                      {"from": "gpt", "value": r["output"]}]} for r in alpaca]
        val = samples[9::10] if len(samples) >= 10 else samples[-1:]
        train = [s for i, s in enumerate(samples) if not (len(samples) >= 10 and i % 10 == 9)] \
            if len(samples) >= 10 else samples[:-1] or samples
        files.append(outfile.write(run.out_dir / "alpaca.json",
                                   json.dumps(alpaca, ensure_ascii=False, indent=2) + "\n", force=True))
        files.append(outfile.write(run.out_dir / "train.jsonl", _jsonl(train), force=True))
        files.append(outfile.write(run.out_dir / "val.jsonl", _jsonl(val), force=True))
    report = {
        "task": run.task, "lang": run.lang, "teacher": run.teacher.name, "model": run.teacher.model,
        "prompt_sha256": run.prompt.sha256, "chunks": len(seen), "ok": ok, "retried_ok": retried,
        "skipped": len(skipped), "records": len(utterances) if run.task == "dialogue" else len(alpaca),
        "tokens": {"prompt": tokens[0], "completion": tokens[1]},
        "this_run": {"teacher_calls": run.calls, "cached": run.cached,
                     "tokens": {"prompt": run.tokens["prompt"], "completion": run.tokens["completion"]}},
        "skipped_chunks": skipped, "files": [str(f) for f in files],
    }
    outfile.write(run.out_dir / "report.json", json.dumps(report, ensure_ascii=False, indent=2) + "\n", force=True)
    return report
