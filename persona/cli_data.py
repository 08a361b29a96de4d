"""``persona data …`` and ``persona train``: the script → dataset → adapter pipeline."""

from __future__ import annotations

import argparse
import json
import sys


def cmd_train(args: argparse.Namespace) -> int:
    from persona.train import TrainConfig, train

    config = TrainConfig(base=args.base, epochs=args.epochs, max_steps=args.max_steps, lr=args.lr,
                         rank=args.rank, alpha=args.alpha, max_len=args.max_len, seed=args.seed)
    report = train(args.data_dir, args.output, config, resume=args.resume, progress=not args.json)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{report['stopped']}: {report['steps']} steps, best validation loss {report['best_val_loss']} "
              f"at step {report['best_step']}, {report['tokens_per_s']} tokens/s", file=sys.stderr)
        print(f"wrote {args.output}/adapter, training_report.json, loss.png", file=sys.stderr)
    return 0


def add_train_options(p: argparse.ArgumentParser) -> None:
    from persona.train import TrainConfig

    d = TrainConfig()
    p.add_argument("--base", default=d.base, help="model alias or path (default: %(default)s)")
    p.add_argument("--epochs", type=float, default=d.epochs)
    p.add_argument("--max-steps", type=int, default=None, help="stop after N optimizer steps")
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--rank", type=int, default=d.rank)
    p.add_argument("--alpha", type=int, default=d.alpha)
    p.add_argument("--max-len", type=int, default=d.max_len, help="tokens per sample")
    p.add_argument("--seed", type=int, default=d.seed)


def register(add) -> None:
    """Add the pipeline's sub-commands; ``add(name, func, help)`` returns a parser."""
    p = add("train", cmd_train, "train a LoRA adapter from a dataset folder (train.jsonl, val.jsonl)")
    p.add_argument("data_dir")
    p.add_argument("-o", "--output", required=True, help="pack folder to write the adapter into")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --output")
    p.add_argument("--json", action="store_true", help="print the training report as JSON")
    add_train_options(p)
