"""``persona eval``: a pack's adapter against its base on the held-out data (writes eval.json)."""

from __future__ import annotations

import argparse
import sys

from persona.cli.common import echo, print_error, print_json
from persona.errors import InputError


def cmd_eval(args: argparse.Namespace) -> int:
    from persona.evaluate import evaluate, format_table, is_writer, write_eval
    from persona.packs import load_pack

    if args.min_fidelity is not None and is_writer(load_pack(args.pack)):
        raise InputError("a writer pack has no fidelity score", "leave out --min-fidelity for a writer pack")
    report = evaluate(args.pack, args.data, samples=args.samples, seed=args.seed, max_new_tokens=args.max_tokens)
    path = write_eval(args.pack, report)
    if args.json:
        print_json(report)
    else:
        echo(format_table(report))
        echo(f"wrote {path}", file=sys.stderr)
    fidelity = report["adapter"].get("fidelity")
    if args.min_fidelity is not None and fidelity < args.min_fidelity:
        print_error(f"fidelity {fidelity} is below --min-fidelity {args.min_fidelity}",
                    "train longer or on more of the character's lines")
        return 1
    return 0


def register(add) -> None:
    p = add("eval", cmd_eval, "evaluate a pack's adapter on its held-out scenes or paragraphs (writes eval.json)")
    p.add_argument("pack", help="pack folder with an adapter")
    p.add_argument("--data", help="dataset folder (default: PACK/data)")
    p.add_argument("--samples", type=int, default=20, help="held-out prompts to generate replies for")
    p.add_argument("--max-tokens", type=int, help="tokens to generate a prompt (default: 48; the pack's "
                                                  "max_new_tokens for a writer pack)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-fidelity", type=float, help="exit 1 when the adapter's fidelity is below this")
    p.add_argument("--json", action="store_true")
