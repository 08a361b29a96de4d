"""``persona data …``: extract, chunk, synth, stats and build (script or novel → training data)."""

from __future__ import annotations

import argparse
import sys

from persona.cli.common import echo, group, print_json, progress


def _load_utterances(path: str, fmt: str = "auto"):
    """Utterances from a dialogues.jsonl, or extracted from a script/novel file."""
    from persona.data.records import DataError, read_jsonl

    if path.endswith(".jsonl") and fmt == "auto":
        try:
            return read_jsonl(path), [], []
        except DataError:  # not our record format: maybe ShareGPT JSONL; let extract decide
            pass
    from persona.data.extract import extract

    result = extract(path, fmt)
    echo(f"format: {result.format}{' (detected)' if result.detected else ''}, encoding: {result.encoding}",
         file=sys.stderr)
    return result.utterances, result.narration, result.skipped


def cmd_extract(args: argparse.Namespace) -> int:
    from persona import outfile
    from persona.data.detect import LAYOUTS, explain
    from persona.data.extract import extract
    from persona.data.records import to_jsonl

    # Both targets are checked before the work; re-running replaces earlier output.
    out = outfile.check(args.output, force=True)
    narration = outfile.check(out.with_name(out.stem + ".narration.jsonl"), force=True)
    result = extract(args.file, args.format, explain=args.explain)
    outfile.write(out, to_jsonl(result.utterances), force=True)
    outfile.write(narration, to_jsonl(result.narration), force=True)
    summary = {"format": result.format, "detected": result.detected, "layout": result.layout,
               "encoding": result.encoding, "utterances": len(result.utterances), "narration": len(result.narration),
               "skipped": len(result.skipped), "output": str(out), "narration_output": str(narration)}
    if args.explain or result.detected:
        summary["detection"] = [c.to_dict() for c in result.candidates]
    if args.json:
        print_json(summary)
        return 0
    layout = f", layout: {result.layout} ({LAYOUTS[result.layout]})" if result.layout else ""
    echo(f"format: {result.format}{' (detected)' if result.detected else ''}{layout}, encoding: {result.encoding}")
    if args.explain:
        echo("why (format, score, evidence; the highest score wins):")
        echo("\n".join(explain(result.candidates, result.format, result.layout)))
    echo(f"{len(result.utterances)} utterances → {out}\n{len(result.narration)} narration/stage lines → "
         f"{narration}\n{len(result.skipped)} lines skipped (see `persona data stats`)")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from persona.data.stats import format_stats, stats

    utterances, narration, skipped = _load_utterances(args.file)
    data = stats(utterances, narration, skipped)
    if args.json:
        print_json(data)
    else:
        echo(format_stats(data))
    return 0


def cmd_chunk(args: argparse.Namespace) -> int:
    from persona import outfile
    from persona.data.chunk import chunk_file

    out = outfile.check(args.output, force=True)
    chunks, encoding = chunk_file(args.file, args.size, args.lang)
    outfile.write(out, "".join(c.to_json() + "\n" for c in chunks), force=True)
    summary = {"encoding": encoding, "chunks": len(chunks), "chapters": len({c.chapter for c in chunks if c.chapter}),
               "longest": max(len(c.text) for c in chunks), "output": str(out)}
    if args.json:
        print_json(summary)
    else:
        echo(f"encoding: {encoding}\n{len(chunks)} chunks ({summary['chapters']} chapters, longest "
             f"{summary['longest']} characters) → {out}")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from persona.data.chunk import read_chunks
    from persona.data.synth import make_teacher, synth

    chunks = read_chunks(args.file)
    lang = args.lang or ("zh" if sum("\u4e00" <= ch <= "\u9fff" for ch in chunks[0].text) * 4 > len(chunks[0].text)
                         else "en")
    teacher = make_teacher(args.teacher, args.model, args.api_key_env, args.max_retries, args.task)
    if teacher.name == "local":
        echo("note: no --teacher, so the local default model answers; expect that small model's quality",
             file=sys.stderr)
    report = synth(chunks, args.task, args.output, teacher, lang=lang, prompt_file=args.prompt_file,
                   concurrency=args.concurrency, progress=None if args.json else progress)
    if args.json:
        print_json(report)
    else:
        echo(f"{report['ok']} of {report['chunks']} chunks answered ({report['retried_ok']} after a stricter retry), "
             f"{report['skipped']} skipped (see {args.output}/report.json); {report['records']} records → "
             f"{', '.join(report['files'])}")
    return 0


def _build_options(args: argparse.Namespace) -> dict:
    return {"history": args.history, "val_fraction": args.val_fraction, "seed": args.seed,
            "min_lines": args.min_lines, "max_chars": args.max_chars, "identity": args.identity,
            "identity_samples": args.identity_samples, "description": args.description}


def cmd_build_data(args: argparse.Namespace) -> int:
    from persona.data.build import build_dataset

    utterances, _, _ = _load_utterances(args.file)
    summary = build_dataset(utterances, args.character, args.output, overwrite=args.overwrite,
                            **_build_options(args))
    if args.json:
        print_json(summary.to_dict())
    else:
        echo(summary.format())
    return 0


def add_build_options(p: argparse.ArgumentParser, character_required: bool = True) -> None:
    p.add_argument("--character", required=character_required, help="the speaker to learn (as in `persona data stats`)")
    p.add_argument("--history", type=int, default=6, help="utterances of context before each line")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of lines held out (whole scenes)")
    p.add_argument("--min-lines", type=int, default=20, help="refuse a character with fewer lines")
    p.add_argument("--max-chars", type=int, default=400, help="drop lines longer than this")
    p.add_argument("--identity", action=argparse.BooleanOptionalAction, default=True,
                   help="add who-are-you samples answered in character with the character's own lines (train only)")
    p.add_argument("--identity-samples", type=int, help="how many (default: 3%% of the train samples, 4 to 60)")
    p.add_argument("--description", help="one sentence about the character (the pack's description; "
                                          "some identity answers use it)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")


FORMATS = ("auto", "zh-script", "stageplay", "fountain", "prose", "sharegpt", "alpaca")


def register(add) -> None:
    """Add the pipeline's sub-commands; ``add(name, func, help)`` returns a parser."""
    add_data = group(add, "data", "extract dialogues, show stats, build datasets")

    q = add_data("extract", cmd_extract, "one JSON line per utterance from a script or novel")
    q.add_argument("file")
    q.add_argument("--format", default="auto", help=f"one of {', '.join(FORMATS)} (stageplay reads both "
                   "NAME: alone on a line and NAME: text)")
    q.add_argument("--explain", action="store_true",
                   help="show each format's evidence and score, i.e. why the file was read as it was")
    q.add_argument("-o", "--output", default="dialogues.jsonl")
    q.add_argument("--json", action="store_true", help="a JSON summary (with --explain or detection: the evidence)")
    q = add_data("chunk", cmd_chunk, "cut a novel into paragraphs of about --size characters at sentence ends")
    q.add_argument("file")
    q.add_argument("--size", type=int, default=800, help="characters a chunk (one sentence more at most)")
    q.add_argument("--lang", choices=("zh", "en", "auto"), default="auto", help="which sentence ends to cut at")
    q.add_argument("-o", "--output", default="chunks.jsonl")
    q.add_argument("--json", action="store_true")
    q = add_data("synth", cmd_synth, "ask a teacher model for summaries, QA pairs or dialogue of every chunk")
    q.add_argument("file", help="chunks.jsonl from `persona data chunk`")
    q.add_argument("--task", choices=("summary", "qa", "dialogue"), required=True)
    q.add_argument("--teacher", help="an OpenAI-compatible base URL or a pack id (default: the local default model)")
    q.add_argument("--model", help="the model name at a URL teacher")
    q.add_argument("--api-key-env", default="OPENAI_API_KEY", help="the variable holding a URL teacher's API key")
    q.add_argument("--prompt-file", help="your own prompt ({text} marks where the chunk goes)")
    q.add_argument("--lang", choices=("zh", "en"), help="prompt language (default: the chunks')")
    q.add_argument("--concurrency", type=int, default=4, help="requests in flight at once")
    q.add_argument("--max-retries", type=int, default=2, help="retries with backoff on 429/503/connection errors")
    q.add_argument("-o", "--output", required=True, help="folder to write (answers are cached there; re-run resumes)")
    q.add_argument("--json", action="store_true")
    q = add_data("stats", cmd_stats, "speakers ranked by lines and characters, scenes, skipped lines")
    q.add_argument("file", help="a script/novel file or a dialogues.jsonl")
    q.add_argument("--json", action="store_true")
    q = add_data("build", cmd_build_data, "ShareGPT/Alpaca fine-tuning data for one character")
    q.add_argument("file", help="dialogues.jsonl (or a script file)")
    q.add_argument("-o", "--output", required=True, help="dataset folder to write")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--json", action="store_true")
    add_build_options(q)
