"""``persona scale vllm``: the vLLM multi-LoRA server line for the packs on a base, and persona's settings for it."""

from __future__ import annotations

import argparse

from persona.cli.common import echo, group, print_json


def register(add) -> None:
    """Add ``persona scale``; ``add(name, func, help)`` returns a parser."""
    add_scale = group(add, "scale", "hand generation to servers built for it")
    q = add_scale("vllm", cmd_vllm, "print a `vllm serve` line for the packs on a base (one LoRA per pack)")
    q.add_argument("--base", metavar="ALIAS", help="only this base (default: one server per base in use)")
    q.add_argument("--model", metavar="ID_OR_FOLDER",
                   help="what vLLM loads (default: the base's Hugging Face id or folder)")
    q.add_argument("--json", action="store_true")


def cmd_vllm(args: argparse.Namespace) -> int:
    from persona.packs import discover
    from persona.scale import plans, render

    found = plans(discover(), args.base, args.model)
    if args.json:
        print_json([p.to_dict() for p in found])
        return 0
    for i, plan in enumerate(found):
        if i:
            echo()
        if plan.model is None and len(found) > 1:  # the other bases still get their servers
            echo(f"# base {plan.base}: a GGUF file only, which vLLM cannot serve LoRA on; "
                 f"`persona scale vllm --base {plan.base} --model HF_ID_OR_FOLDER`")
            continue
        echo(render(plan))  # a lone GGUF-only base: ModelError, error + hint
    return 0
