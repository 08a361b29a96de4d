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


def cmd_eval(args: argparse.Namespace) -> int:
    from persona.evaluate import evaluate, format_table, write_eval

    report = evaluate(args.pack, args.data, samples=args.samples, seed=args.seed)
    path = write_eval(args.pack, report)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(format_table(report))
        print(f"wrote {path}", file=sys.stderr)
    fidelity = report["adapter"]["fidelity"]
    if args.min_fidelity is not None and fidelity < args.min_fidelity:
        print(f"error: fidelity {fidelity} is below --min-fidelity {args.min_fidelity}", file=sys.stderr)
        print("hint: train longer or on more of the character's lines", file=sys.stderr)
        return 1
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
    p = add("eval", cmd_eval, "evaluate a pack's adapter on its held-out scenes (writes eval.json)")
    p.add_argument("pack", help="pack folder with an adapter")
    p.add_argument("--data", help="dataset folder (default: PACK/data)")
    p.add_argument("--samples", type=int, default=20, help="held-out prompts to generate replies for")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-fidelity", type=float, help="exit 1 when the adapter's fidelity is below this")
    p.add_argument("--json", action="store_true")
