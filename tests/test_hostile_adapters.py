"""Hostile adapter folders: each is refused by `persona validate` and `persona ask` with
`error:` + `hint:`, exit 2, before peft, llama.cpp or the safetensors library reads it."""

from __future__ import annotations

import json
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from persona.adapters import check_folder, read_header
from persona.errors import PackError
from tests.conftest import MINIMAL, ROOT, run_cli, write_pack

CONFIG = {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"],
          "bias": "none", "base_model_name_or_path": "smollm2-135m"}
PRE = "base_model.model.model.layers.0.self_attn"


def tensors(rank: int = 4) -> dict[str, np.ndarray]:
    return {f"{PRE}.q_proj.lora_A.weight": np.ones((rank, 576), np.float32),
            f"{PRE}.q_proj.lora_B.weight": np.zeros((576, rank), np.float32)}


def safetensors_bytes(header: dict, data: bytes) -> bytes:
    blob = json.dumps(header).encode()
    return struct.pack("<Q", len(blob)) + blob + data


def pack_with(tmp_path: Path, config=None, weights=None, raw_config: bytes | None = None,
              raw_weights: bytes | None = None) -> Path:
    from safetensors.numpy import save_file

    folder = write_pack(tmp_path / "pack", MINIMAL + '[model]\nbase = "smollm2-135m"\nadapter = "adapter"\n')
    adapter = folder / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_bytes(raw_config if raw_config is not None
                                                  else json.dumps(config or CONFIG).encode())
    if raw_weights is not None:
        (adapter / "adapter_model.safetensors").write_bytes(raw_weights)
    else:
        save_file(weights if weights is not None else tensors(), str(adapter / "adapter_model.safetensors"))
    return folder


def outside_link(tmp_path: Path, name: str) -> Path:
    """A pack whose adapter file ``name`` is a symlink to a valid file outside the pack."""
    folder = pack_with(tmp_path)
    target = tmp_path / f"outside-{name}"
    (folder / "adapter" / name).rename(target)
    (folder / "adapter" / name).symlink_to(target)
    return folder


def header_bytes(**entry) -> bytes:
    info = {"dtype": "F32", "shape": [4, 576], "data_offsets": [0, 4 * 576 * 4], **entry}
    return safetensors_bytes({f"{PRE}.q_proj.lora_A.weight": info}, b"\0" * (4 * 576 * 4))


HOSTILE = {
    "regex target_modules": (dict(config={**CONFIG, "target_modules": "(a+)+$"}), "target_modules"),
    "rank 16384": (dict(config={**CONFIG, "r": 16384}), "r"),
    "regex rank_pattern key": (dict(config={**CONFIG, "rank_pattern": {"(a|a)*q": 8}}), "rank_pattern"),
    "regex exclude_modules": (dict(config={**CONFIG, "exclude_modules": ".*(x+x+)+y"}), "exclude_modules"),
    "not LoRA": (dict(config={**CONFIG, "peft_type": "IA3"}), "peft_type"),
    "config nested 30000 deep": (dict(raw_config=b"[" * 30000 + b"]" * 30000), "not valid JSON"),
    "config over 64 KiB": (dict(raw_config=b" " * 70_000 + b"{}"), "KiB"),
    "pickle named .safetensors": (dict(raw_weights=pickle.dumps({"a": [1, 2, 3]} | {str(i): i for i in range(99)})),
                                  "not a safetensors file"),
    "header length bomb": (dict(raw_weights=struct.pack("<Q", 2**62) + b"{}"), "header length"),
    "garbage header": (dict(raw_weights=struct.pack("<Q", 16) + b"\xff\xfe not json!!" + b"\0" * 64), "damaged"),
    "integer dtype": (dict(raw_weights=header_bytes(dtype="I64")), "dtype"),
    "offsets beyond the data": (dict(raw_weights=header_bytes(data_offsets=[0, 10 ** 12])), "offsets"),
    "3-d tensor": (dict(raw_weights=header_bytes(shape=[2, 2, 576])), "shape"),
    "trailing bytes": (dict(raw_weights=header_bytes() + b"\0" * 100), "file size"),
    "not a peft tensor name": (dict(weights={"lm_head.weight": np.zeros((4, 4), np.float32)}), "not a peft LoRA tensor"),
    "lora_A without lora_B": (dict(weights={f"{PRE}.q_proj.lora_A.weight": np.ones((4, 576), np.float32)}),
                              "no lora_B"),
    "rank other than the config's": (dict(weights=tensors(rank=8)), "rank 8"),
}


def zip_pack(tmp_path: Path) -> Path:
    folder = pack_with(tmp_path)
    weights = folder / "adapter" / "adapter_model.safetensors"
    with zipfile.ZipFile(weights, "w") as zf:
        zf.writestr("data.pkl", pickle.dumps([1, 2, 3]))
    return folder


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_adapter_is_refused_by_validate(tmp_path, case):
    kwargs, words = HOSTILE[case]
    folder = pack_with(tmp_path, **kwargs)
    proc = run_cli("validate", str(folder))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("error: ") and "\nhint: " in proc.stderr
    assert words in proc.stderr, proc.stderr


@pytest.mark.parametrize("name", ["adapter_model.safetensors", "adapter_config.json"])
def test_adapter_file_linked_from_outside_the_pack_is_refused(tmp_path, name):
    folder = outside_link(tmp_path, name)
    with pytest.raises(PackError, match="points outside the pack"):
        check_folder(folder / "adapter", folder.resolve())
    proc = run_cli("validate", str(folder))
    assert proc.returncode == 2 and "points outside the pack" in proc.stderr and "hint:" in proc.stderr


def test_zip_named_safetensors_is_refused(tmp_path):
    proc = run_cli("validate", str(zip_pack(tmp_path)))
    assert proc.returncode == 2 and "not a safetensors file" in proc.stderr and "Traceback" not in proc.stderr


def test_ask_refuses_a_hostile_adapter_before_loading_any_model(tmp_path):
    folder = pack_with(tmp_path, config={**CONFIG, "target_modules": "(a+)+$"})
    proc = run_cli("ask", str(folder), "hi", "--max-tokens", "2")
    assert proc.returncode == 2 and "target_modules" in proc.stderr and "hint:" in proc.stderr
    assert "converting" not in proc.stderr and "re-encoding" not in proc.stderr


def test_real_adapters_pass(tmp_path):
    """The shipped mara adapter, peft's own output, and "all-linear" pass the same checks."""
    mara = ROOT / "personas" / "mara-of-the-lantern"
    assert run_cli("validate", str(mara)).returncode == 0
    assert check_folder(mara / "adapter", mara.resolve())["r"] == 8
    folder = pack_with(tmp_path, config={**CONFIG, "target_modules": "all-linear"})
    assert run_cli("validate", str(folder)).returncode == 0


def test_header_reader_never_reads_past_its_bound(tmp_path):
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", 2 * 1024 * 1024) + b"{" + b" " * (3 * 1024 * 1024))
    with pytest.raises(PackError, match="header length"):
        read_header(path)
