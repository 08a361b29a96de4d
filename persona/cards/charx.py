"""CHARX (character card V3 in a zip): every member checked from the central directory before any is read.

Refused outright, naming the members: names with ``..`` or an absolute path,
encrypted members, scripts (RisuAI's ``module.risum``, ``.lua``, ``.js``, ...),
weights that are not safetensors, and sizes past the bounds below (a zip bomb
is a member whose declared size or ratio is too big; zipfile never yields more
than the declared size, so the declared sizes bound the decompression).
"""

from __future__ import annotations

import contextlib
import errno
import re
import shutil
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from persona.cards import CardError

MAX_FILE_BYTES = 640 * 2**20
MAX_MEMBERS = 1000
MAX_MEMBER_BYTES = 512 * 2**20  # a LoRA adapter's weights, as a pack allows
MAX_TOTAL_BYTES = 640 * 2**20
MAX_CARD_BYTES = 16 * 2**20
MAX_RATIO = 200  # uncompressed / compressed, for members over 1 MiB (text compresses ~10x)
SCRIPT_SUFFIXES = {".risum", ".risup", ".lua", ".js", ".mjs", ".cjs", ".ts", ".py", ".pyc", ".sh", ".bash",
                   ".bat", ".cmd", ".ps1", ".vbs", ".exe", ".dll", ".so", ".dylib", ".wasm", ".jar", ".apk"}
WEIGHT_SUFFIXES = {".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".npy", ".npz",
                   ".gguf", ".ggml", ".onnx", ".h5", ".keras", ".msgpack", ".tflite"}
ADAPTER_TYPE = "x_persona_adapter"  # our asset type (the spec: custom types start with x_)
ADAPTER_DIR = f"assets/{ADAPTER_TYPE}/ai"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
HINT_CLEAN = "persona imports data only: remove those members from the .charx (or export the card as PNG or JSON)"


@dataclass
class Charx:
    path: Path
    card: dict[str, Any]
    members: dict[str, zipfile.ZipInfo] = field(default_factory=dict)  # every member but card.json

    def extract(self, name: str, target: Path) -> None:
        """Copy one member to ``target``, streamed (never more than its declared size)."""
        with _damaged(self.path, name), zipfile.ZipFile(self.path) as zf, zf.open(self.members[name]) as src, \
                open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, 2**20)

    def read(self, name: str, limit: int) -> bytes:
        info = self.members[name]
        if info.file_size > limit:
            raise CardError(f"{self.path}: {name} is over {limit // 2**20} MiB", HINT_CLEAN)
        with _damaged(self.path, name), zipfile.ZipFile(self.path) as zf, zf.open(info) as src:
            return src.read(limit + 1)[:limit]


@contextlib.contextmanager
def _damaged(path: Path, name: str):
    """A member whose data is damaged (bad CRC, bad deflate stream, cut short) is the card's fault."""
    try:
        yield
    except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno not in (None, errno.EINVAL):
            raise  # the disk, not the zip (boundary.py says what)
        raise CardError(f"{path}: {name} cannot be unpacked ({type(exc).__name__}: {str(exc)[:120]})",
                        "the CHARX is damaged; export it again") from None


def bad_name(name: str) -> bool:
    parts = re.split(r"[\\/]", name)
    return ("\0" in name or name.startswith(("/", "\\")) or bool(re.match(r"[A-Za-z]:", name))
            or any(p == ".." for p in parts))


def open_charx(path: Path) -> Charx:
    """Check every member of the zip at ``path`` and read its card.json."""
    if path.stat().st_size > MAX_FILE_BYTES:
        raise CardError(f"{path} is over {MAX_FILE_BYTES // 2**20} MiB", "a CHARX holds a card and its assets")
    try:
        with _damaged(path, "the central directory"):
            zf = zipfile.ZipFile(path)
    except (zipfile.LargeZipFile, ValueError) as exc:
        raise CardError(f"{path} is not a readable zip ({exc})", "export the CHARX again") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise CardError(f"{path} has {len(infos)} members, over {MAX_MEMBERS}", HINT_CLEAN)
        bad = [i.filename for i in infos if bad_name(i.filename)]
        if bad:
            raise CardError(f"{path} has member names that leave the folder: {', '.join(map(repr, bad[:5]))}",
                            "a CHARX's members are relative paths without '..'; this file is hostile or damaged")
        scripts = [i.filename for i in infos if PurePosixPath(i.filename).suffix.lower() in SCRIPT_SUFFIXES]
        if scripts:
            raise CardError(f"{path} carries scripts persona will not import: {', '.join(scripts[:10])}",
                            HINT_CLEAN + "; persona never runs code from a card")
        weights = [i.filename for i in infos if PurePosixPath(i.filename).suffix.lower() in WEIGHT_SUFFIXES]
        if weights:
            raise CardError(f"{path} carries weights that are not safetensors: {', '.join(weights[:10])}",
                            "convert them to .safetensors (pickle-based weights can run code when loaded)")
        total = 0
        for info in infos:
            if info.flag_bits & 0x1:
                raise CardError(f"{path}: {info.filename} is encrypted", "export the CHARX without a password")
            total += info.file_size
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > MAX_MEMBER_BYTES or total > MAX_TOTAL_BYTES or (
                    info.file_size > 2**20 and ratio > MAX_RATIO):
                raise CardError(f"{path}: {info.filename} unpacks to {info.file_size // 2**20} MiB "
                                f"({ratio:.0f}x its packed size): refused as a zip bomb",
                                f"a CHARX may unpack to {MAX_TOTAL_BYTES // 2**20} MiB in all, "
                                f"{MAX_MEMBER_BYTES // 2**20} MiB a member, {MAX_RATIO}x compression")
        by_name = {i.filename: i for i in infos if not i.is_dir()}
        if "card.json" not in by_name:
            raise CardError(f"{path} has no card.json at its root", "a CHARX is a zip with card.json and assets/")
        info = by_name.pop("card.json")
        if info.file_size > MAX_CARD_BYTES:
            raise CardError(f"{path}: card.json is over {MAX_CARD_BYTES // 2**20} MiB", HINT_CLEAN)
        with _damaged(path, "card.json"), zf.open(info) as fh:
            raw = fh.read(MAX_CARD_BYTES + 1)
    from persona.cards.read import decode_text, parse_json

    card = parse_json(decode_text(raw, f"{path} (card.json)"), f"{path} (card.json)")
    return Charx(path, card, by_name)


def embedded_path(uri: Any) -> str | None:
    """The zip member an asset URI names (``embeded://assets/icon/images/main.png``), or None."""
    if isinstance(uri, str):
        match = re.match(r"embedd?ed://(.+)", uri)
        if match and not bad_name(match.group(1)):
            return match.group(1)
    return None


def write_charx(out, card: dict[str, Any], files: dict[str, bytes | Path]) -> None:
    """Write a CHARX to the open binary file ``out``: card.json first, then ``files`` by zip name."""
    import json

    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("card.json", json.dumps(card, ensure_ascii=False, indent=2))
        for name, content in files.items():
            if isinstance(content, Path):
                zf.write(content, name, compress_type=zipfile.ZIP_STORED if name.endswith(".safetensors")
                         else zipfile.ZIP_DEFLATED)
            else:
                zf.writestr(name, content)
