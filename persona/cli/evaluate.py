"""``persona eval``: a pack's adapter against its base on the held-out data (writes eval.json), or two adapters."""

from __future__ import annotations

import argparse
import sys

from persona.cli.common import echo, print_error, print_json
from persona.errors import InputError


def cmd_eval(args: argparse.Namespace) -> int:
    if args.compare:
        return _compare(args)
    if not args.pack:
        raise InputError("persona eval needs a pack", "name a pack folder, or two with --compare A B")
    if args.sweep_sampling:
        return _sweep(args)
    if args.apply:
        raise InputError("--apply writes a sampling sweep's winner", "persona eval PACK --sweep-sampling --apply")
    from persona.evaluate import evaluate, format_table, is_writer, write_eval
    from persona.packs import load_pack

    if args.min_fidelity is not None and is_writer(load_pack(args.pack)):
        raise InputError("a writer pack has no fidelity score", "leave out --min-fidelity for a writer pack")
    kwargs = {} if args.samples is None else {"samples": args.samples}
    report = evaluate(args.pack, args.data, seed=args.seed, max_new_tokens=args.max_tokens, strict=True, **kwargs)
    path = write_eval(args.pack, report)
    if args.json:
        print_json(report)
    else:
        echo(format_table(report))
        echo(f"wrote {path}", file=sys.stderr)
    fidelity = report["adapter"].get("fidelity")
    if args.min_fidelity is not None and (fidelity is None or fidelity < args.min_fidelity):
        print_error(f"fidelity {fidelity} is below --min-fidelity {args.min_fidelity}",
                    "train longer or on more of the character's lines" if fidelity is not None
                    else "generate some replies: --samples 1 or more")
        return 1
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from persona.eval_sampling import DEFAULT_SAMPLES, apply, format_sweep, sweep
    from persona.evaluate import is_writer
    from persona.packs import load_pack

    if is_writer(load_pack(args.pack)) or args.min_fidelity is not None or args.data:
        raise InputError("--sweep-sampling tunes a character pack on its own data, alone",
                         "leave out --min-fidelity and --data; a writer pack has no style score")
    report = sweep(args.pack, samples=args.samples or DEFAULT_SAMPLES, tokens=args.max_tokens or 40,
                   seed=args.seed, progress=lambda msg: echo(msg, file=sys.stderr))
    if args.apply:
        report["written"] = str(apply(args.pack, report))
    if args.json:
        print_json(report)
    else:
        echo(format_sweep(report))
        if args.apply:
            echo(f"wrote the best setting into {args.pack}/persona.toml [sampling] and {report['written']}",
                 file=sys.stderr)
    return 0


def _compare(args: argparse.Namespace) -> int:
    from persona.eval_compare import compare, format_compare

    if args.pack:
        raise InputError("give either a pack or --compare A B, not both", "persona eval --compare A B")
    if args.min_fidelity is not None:
        raise InputError("--min-fidelity judges one pack", "leave it out with --compare")
    report = compare(*args.compare, data_dir=args.data, samples=args.samples, max_new_tokens=args.max_tokens,
                     seed=args.seed)
    if args.json:
        print_json(report)
    else:
        echo(format_compare(report))
    return 0


def register(add) -> None:
    p = add("eval", cmd_eval, "evaluate a pack's adapter on its held-out scenes or paragraphs (writes eval.json), "
                              "or compare two adapters (--compare A B)")
    p.add_argument("pack", nargs="?", help="pack folder with an adapter")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"),
                   help="two packs (folders or ids) with adapters on the same base: figures side by side")
    p.add_argument("--data", help="dataset folder (default: PACK/data; with --compare, A's)")
    p.add_argument("--samples", type=int, help="replies generated a side (default: 48, spread over the held-out "
                                               "rows; 4 for a writer pack)")
    p.add_argument("--max-tokens", type=int, help="tokens to generate a prompt (default: 40; the pack's "
                                                  "max_new_tokens for a writer pack)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-fidelity", type=float, help="exit 1 when the adapter's fidelity is below this")
    p.add_argument("--sweep-sampling", action="store_true",
                   help="try a grid of temperatures and repetition penalties on the adapter and rank them by "
                        "the style score (24 replies a setting unless --samples)")
    p.add_argument("--apply", action="store_true", help="with --sweep-sampling: write the best setting into the "
                                                        "pack's [sampling] and sampling_sweep.json")
    p.add_argument("--json", action="store_true")
