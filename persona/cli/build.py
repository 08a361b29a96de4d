"""``persona build``, ``train`` and ``eval``: a dataset or a script/novel → adapter → an evaluated pack."""

from __future__ import annotations

import argparse
import sys

from persona.cli.common import echo, print_json, progress
from persona.cli.data import FORMATS, _build_options, add_build_options
from persona.errors import InputError


def _train_config(args: argparse.Namespace, max_len: int):
    from persona.train import TrainConfig

    return TrainConfig(base=args.base or TrainConfig().base, epochs=args.epochs, max_steps=args.max_steps,
                       lr=args.lr, rank=args.rank, alpha=args.alpha, max_len=args.max_len or max_len, seed=args.seed)


def cmd_build_pack(args: argparse.Namespace) -> int:
    from persona.train import TrainConfig

    if args.writer:
        return _build_writer(args)
    if args.format == "auto" and _datasets(args.file):
        return _build_dataset(args)
    if not args.character:
        raise InputError("persona build needs --character (or --writer for a novel)",
                         "pass --character NAME (see `persona data stats FILE`), or --writer to learn a novel's style")
    from persona.pack_builder import build_pack

    config = _train_config(args, TrainConfig().max_len)  # build_pack picks the base for the script's language
    result = build_pack(args.file, args.character, args.output, fmt=args.format, base=args.base,
                        build_options=_build_options(args), train_config=config, overwrite=args.overwrite,
                        eval_samples=args.eval_samples, progress=progress, title=args.title,
                        resume=args.resume)
    echo(f"built {result['pack']}: chat with it with `persona chat {result['pack']}`", file=sys.stderr)
    if args.json:
        print_json(result["eval"])
    return 0


def _datasets(files: list[str]) -> bool:
    """Whether the input is one dataset to train on as it is (not a script to extract lines from)."""
    from persona.data.datasets import is_dataset

    found = [f for f in files if is_dataset(f)]
    if found and len(files) > 1:
        raise InputError(f"persona build trains on one dataset at a time, not {len(files)} files",
                         "merge them, or put them in one folder with a dataset_info.json that names each")
    return bool(found)


def _build_dataset(args: argparse.Namespace) -> int:
    from persona.dataset_pack import build_from_dataset
    from persona.train import TrainConfig

    config = _train_config(args, TrainConfig().max_len)  # build_from_dataset picks the base for the language
    result = build_from_dataset(args.file[0], args.output, args.character, base=args.base, train_config=config,
                                val_fraction=args.val_fraction, seed=args.seed,
                                eval_samples=args.eval_samples, eval_tokens=args.eval_tokens,
                                overwrite=args.overwrite, progress=progress, title=args.title, resume=args.resume)
    echo(f"built {result['pack']}: chat with it with `persona chat {result['pack']}`", file=sys.stderr)
    if args.json:
        print_json(result["eval"])
    return 0


def _build_writer(args: argparse.Namespace) -> int:
    from persona.data.synth import make_teacher
    from persona.writer_pack import WRITER_MAX_LEN, build_writer

    if args.character:
        raise InputError("--writer learns a novel's style, not a character's lines",
                         "leave out --character, or leave out --writer to build a character pack")
    if len(args.file) != 1:
        raise InputError(f"--writer takes one novel, not {len(args.file)} files", "concatenate them first, or build one")
    args.file = args.file[0]
    teacher = make_teacher(args.teacher, args.model, args.api_key_env, args.max_retries, "summary")
    if teacher.name == "local":
        echo("note: no --teacher, so the local default model writes the summaries; expect that small model's "
             "quality (pass --teacher URL --model NAME for a real one)", file=sys.stderr)
    config = _train_config(args, WRITER_MAX_LEN)
    result = build_writer(args.file, args.output, size=args.size, lang=args.lang, limit=args.chunks,
                          teacher=teacher, prompt_file=args.prompt_file, concurrency=args.concurrency,
                          base=args.base, train_config=config, eval_samples=args.eval_samples or 4,
                          eval_tokens=args.eval_tokens, name=args.name, overwrite=args.overwrite,
                          progress=progress, synth_progress=None if args.json else progress)
    echo(f"built {result['pack']}: give it a premise with `persona chat {result['pack']}`", file=sys.stderr)
    if args.json:
        print_json(result["eval"])
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from persona.train import TrainConfig, train

    report = train(args.data_dir, args.output, _train_config(args, TrainConfig().max_len), resume=args.resume,
                   progress=not args.json)
    if args.json:
        print_json(report)
    else:
        echo(f"{report['stopped']}: {report['steps']} steps, best validation loss {report['best_val_loss']} "
             f"at step {report['best_step']}, {report['tokens_per_s']} tokens/s", file=sys.stderr)
        echo(f"wrote {args.output}/adapter, training_report.json, loss.png", file=sys.stderr)
    return 0


def add_train_options(p: argparse.ArgumentParser) -> None:
    from persona.train import TrainConfig

    d = TrainConfig()
    p.add_argument("--base", default=None,
                   help=f"model alias or path (default: {d.base}; `persona build` picks gemma3-270m for Chinese)")
    p.add_argument("--epochs", type=float, default=d.epochs)
    p.add_argument("--max-steps", type=int, default=None, help="stop after N optimizer steps")
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--rank", type=int, default=d.rank)
    p.add_argument("--alpha", type=int, default=d.alpha)
    p.add_argument("--max-len", type=int, default=None,
                   help=f"tokens per sample (default: {d.max_len}; 1024 for --writer)")
    p.add_argument("--seed", type=int, default=d.seed)


def add_writer_options(p: argparse.ArgumentParser) -> None:
    w = p.add_argument_group("--writer (a novel → a pack that writes in its style)")
    w.add_argument("--writer", action="store_true",
                   help="chunk the novel, ask a teacher for a summary of each chunk, train summary → paragraph")
    w.add_argument("--size", type=int, default=800, help="characters a chunk (one sentence more at most)")
    w.add_argument("--chunks", type=int, help="use only the first N chunks (a quick try)")
    w.add_argument("--lang", choices=("zh", "en", "auto"), default="auto", help="sentence ends and prompt language")
    w.add_argument("--teacher", help="an OpenAI-compatible base URL or a pack id (default: the local default model)")
    w.add_argument("--model", help="the model name at a URL teacher")
    w.add_argument("--api-key-env", default="OPENAI_API_KEY", help="the variable holding a URL teacher's API key")
    w.add_argument("--prompt-file", help="your own summary prompt ({text} marks where the chunk goes)")
    w.add_argument("--concurrency", type=int, default=4, help="teacher requests in flight at once")
    w.add_argument("--max-retries", type=int, default=2, help="retries with backoff on 429/503/connection errors")
    w.add_argument("--name", help="the pack's display name (default: NOVEL writer)")


def register(add) -> None:
    p = add("build", cmd_build_pack, "script (or dataset) → dataset → LoRA adapter → eval → a complete "
                                     "persona pack (--writer: novel → summaries → a pack that writes in its style)")
    p.add_argument("file", nargs="+", help="the script (several: episodes, in order); or one dataset to train on as "
                                           "it is: an Alpaca/ShareGPT .json/.jsonl file, or a folder with "
                                           "train.jsonl/val.jsonl or dataset_info.json (--character then names the "
                                           "pack; default: the file's name); or the novel with --writer")
    p.add_argument("-o", "--output", required=True, help="pack folder to write")
    p.add_argument("--title", help="the work's title in the system prompt (default: from the file names)")
    p.add_argument("--resume", action="store_true",
                   help="continue a killed build from its checkpoint (kept in .PACK.partial beside the pack)")
    p.add_argument("--format", default="auto", help=f"one of {', '.join(FORMATS)}")
    p.add_argument("--json", action="store_true", help="print the eval as JSON")
    p.add_argument("--eval-samples", type=int, help="held-out prompts the eval generates for (default: 48; 4 for --writer)")
    p.add_argument("--eval-tokens", type=int, help="tokens the eval generates a prompt (default: 48; the pack's "
                                                   "max_new_tokens for --writer)")
    add_build_options(p, character_required=False)
    add_train_options(p)
    add_writer_options(p)
    p = add("train", cmd_train, "train a LoRA adapter from a dataset: a folder (train.jsonl + val.jsonl, or "
                                "LLaMA-Factory's dataset_info.json) or an Alpaca/ShareGPT .json/.jsonl file")
    p.add_argument("data_dir", help="the dataset folder or file; a file or dataset_info.json has 10%% of its "
                                    "records held out for validation (seeded; Alpaca records in runs of 16)")
    p.add_argument("-o", "--output", required=True, help="pack folder to write the adapter into")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --output")
    p.add_argument("--json", action="store_true", help="print the training report as JSON")
    add_train_options(p)
