"""The one-off GGUF → bf16 safetensors conversion, with transformers' own bars folded into our one line.

transformers draws three tqdm bars while converting ("Converting and
de-quantizing GGUF tensors", "Loading weights", "Writing model shards").
Two go through ``transformers.utils.logging.tqdm``, whose public
``set_tqdm_hook`` lets us substitute a bar; the GGUF one is ``tqdm.auto.tqdm``
imported straight into ``transformers.modeling_gguf_pytorch_utils``, so that
module's name is swapped for the duration of the call and put back after.
Either way the bars draw nothing and feed a :class:`persona.progress.Meter`.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator
from pathlib import Path

from persona.progress import Meter

# Where the conversion's time goes, in seconds, measured on the default model
# (98 MB Q4_1, 24 s in all on 2 busy cores): most of it is before the first bar.
STAGES = {
    "tokenizer": 7.0,     # the tokenizer rebuilt from GGUF metadata (no bar)
    "model": 13.0,        # GGUF metadata, model skeleton (no bar)
    "Converting and de-quantizing GGUF tensors": 3.8,
    "Loading weights": 0.2,
    "Writing model shards": 0.2,
}
SECONDS_PER_MB = sum(STAGES.values()) / 98.4  # scales the no-bar stages to another file's size


def _stage_of(desc: str | None) -> str | None:
    desc = (desc or "").rstrip(". ")
    return next((s for s in STAGES if desc.startswith(s)), None)


def relay_class(meter: Meter) -> type:
    """A tqdm subclass that draws nothing and reports its position to the meter."""
    from tqdm.std import tqdm

    class Relay(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs.update(file=io.StringIO(), disable=False, mininterval=0.2)
            super().__init__(*args, **kwargs)

        def display(self, msg=None, pos=None):
            stage = _stage_of(self.desc)
            if stage:
                meter.update(stage, self.n, self.total)
            return True

    return Relay


@contextlib.contextmanager
def bars_into(meter: Meter) -> Iterator[None]:
    """Route transformers' progress bars into the meter while converting."""
    from transformers import modeling_gguf_pytorch_utils as gguf_utils
    from transformers.utils import logging as hf_logging

    relay = relay_class(meter)
    # The hook is asked for every bar, shown or disabled alike.
    previous_hook = hf_logging.set_tqdm_hook(lambda factory, args, kwargs: relay(*args, **kwargs))
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    original = getattr(gguf_utils, "tqdm", None)  # absent in a later transformers: nothing to swap
    if original is not None:
        gguf_utils.tqdm = relay
    try:
        yield
    finally:
        if original is not None:
            gguf_utils.tqdm = original
        hf_logging.set_tqdm_hook(previous_hook)
        hf_logging.set_verbosity(verbosity)


def convert_gguf(gguf_path: Path, out: Path, chat_template: str | None, title: str,
                 report: Callable[[str], None]) -> dict:
    """De-quantize a GGUF file into a bf16 safetensors model folder, reporting one progress line."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    expected = SECONDS_PER_MB * gguf_path.stat().st_size / 1e6
    with Meter(title, STAGES, report, expected_s=expected) as meter, bars_into(meter):
        meter.update("tokenizer")
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        meter.update("model")
        model = AutoModelForCausalLM.from_pretrained(
            gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.bfloat16,
            quantization_config=GgufConfig(dequantize=True),
        )
        # The weights are plain tensors now; drop the GGUF quantizer so transformers
        # agrees to save them as an ordinary safetensors checkpoint.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        if chat_template:
            tokenizer.chat_template = chat_template
        model.save_pretrained(out, safe_serialization=True)
        tokenizer.save_pretrained(out)
    return {"source": str(gguf_path), "dtype": "bfloat16"}
