"""Reading a card file: bounded before parsing, its format told by its bytes (PNG, zip, JSON, YAML).

PNG text chunks are read by Pillow (tEXt, iTXt and zTXt alike, with its
decompression and pixel-count bounds raised only as far as ours), never by
chunk code of our own; ``ccv3`` wins over ``chara`` as in SillyTavern, and the
keywords are compared without case as SillyTavern does.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import os
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from persona import jsonlimits
from persona.cards import CardError

MAX_FILE_BYTES = 32 * 2**20  # a JSON, PNG or YAML card
MAX_CHUNK_CHARS = 24 * 2**20  # the base64 text of one PNG chunk (18 MiB of JSON)
MAX_JSON_BYTES = 18 * 2**20
MAX_PIXELS = 4096 * 4096  # an avatar; Pillow's own bomb check would allow 89 M
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"
CARD_HINT = "import a character card exported by SillyTavern (PNG, JSON or CHARX), or a text-generation-webui YAML"


@dataclass
class Source:
    """What a file held: the card (or world-info) JSON object and what came with it."""

    path: Path
    kind: str  # "json", "png", "charx", "yaml"
    obj: dict[str, Any]
    chunk: str | None = None  # the PNG chunk the card came from
    image: bytes | None = None  # the picture, re-encoded as a plain PNG (no text chunks)
    charx: Any = None  # persona.cards.charx.Charx for a CHARX
    notes: list[str] = field(default_factory=list)  # what the reader noticed for the report


def read_bounded(path: Path, limit: int, what: str) -> bytes:
    """A regular file of at most ``limit`` bytes, checked while reading."""
    from persona.pack_files import read_limited

    return read_limited(path, limit, "a character card is a few MiB at most; check that this is the right file",
                        error=CardError, not_regular="name a card file",
                        size=f"{limit // 2**20} MiB, the limit for {what}")


def load(path: str | os.PathLike[str]) -> Source:
    """The card or world-info object in ``path``; CardError for anything else."""
    path = Path(path)
    if not stat.S_ISREG(os.stat(path).st_mode):  # before open: opening a FIFO would wait for a writer
        raise CardError(f"{path} is not a regular file", "name a card file")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(ZIP_MAGIC):
        from persona.cards import charx

        box = charx.open_charx(path)
        return Source(path, "charx", box.card, charx=box)
    data = read_bounded(path, MAX_FILE_BYTES, "a card file")
    if data.startswith(PNG_MAGIC):
        obj, chunk, image = read_png(data, path)
        return Source(path, "png", obj, chunk=chunk, image=image)
    text = decode_text(data, path)
    if text.lstrip()[:1] in ("{", "["):
        return Source(path, "json", parse_json(text, str(path)))
    if path.suffix.lower() in (".yaml", ".yml"):
        return Source(path, "yaml", parse_yaml(text, path))
    raise CardError(f"{path} is not a character card (not PNG, zip, JSON or YAML)", CARD_HINT)


def decode_text(data: bytes, where: Any) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CardError(f"{where} is not UTF-8 text (byte {exc.start})", "save the card as UTF-8") from None


def parse_json(text: str | bytes, where: str) -> dict[str, Any]:
    """A JSON object, nesting bounded; CardError if it is not JSON or not an object."""
    try:
        obj = jsonlimits.loads(text)
    except (ValueError, RecursionError) as exc:
        raise CardError(f"{where}: the card is not valid JSON ({str(exc)[:160]})",
                        "the file is damaged or not a card; export it again from where it came from") from None
    if not isinstance(obj, dict):
        raise CardError(f"{where}: the card's JSON is a {type(obj).__name__}, not an object",
                        "a card is a JSON object with spec and data (V2/V3) or name, description, ... (V1)")
    return obj


@contextlib.contextmanager
def _pillow_limits():
    """Pillow's zTXt/iTXt bound (1 MiB) is below real cards with big lorebooks: raise it to ours, then restore."""
    from PIL import Image, PngImagePlugin

    saved = PngImagePlugin.MAX_TEXT_CHUNK, PngImagePlugin.MAX_TEXT_MEMORY, Image.MAX_IMAGE_PIXELS
    PngImagePlugin.MAX_TEXT_CHUNK = MAX_CHUNK_CHARS
    PngImagePlugin.MAX_TEXT_MEMORY = 2 * MAX_CHUNK_CHARS
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        yield
    finally:
        PngImagePlugin.MAX_TEXT_CHUNK, PngImagePlugin.MAX_TEXT_MEMORY, Image.MAX_IMAGE_PIXELS = saved


def open_image(data: bytes, where: Any, formats: tuple[str, ...] = ("PNG",)):
    """A decoded Pillow image, its size checked before its pixels are decompressed."""
    from PIL import Image

    with _pillow_limits(), warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size check below says it
        try:
            im = Image.open(io.BytesIO(data), formats=list(formats))
            width, height = im.size
            if width * height > MAX_PIXELS:
                raise CardError(f"{where}: the image is {width}x{height}, over {MAX_PIXELS // 2**20} M pixels",
                                "scale the picture down (cards are usually under 1024x1536)")
            im.load()
            _ = im.text if hasattr(im, "text") else None  # text chunks after the image data
        except CardError:
            raise
        except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
            raise CardError(f"{where} is not a readable image ({type(exc).__name__}: {str(exc)[:160]})",
                            "the file is damaged; export the card again") from None
    return im


def pngable(im):
    """``im`` in a mode PNG can hold (a CMYK JPEG or a 32-bit float image cannot be saved as PNG)."""
    return im if im.mode in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16") else im.convert("RGBA")


def plain_png(im) -> bytes:
    """The picture alone as PNG bytes: no text chunks (the card) come along."""
    out = io.BytesIO()
    pngable(im).save(out, "PNG")
    return out.getvalue()


def read_png(data: bytes, where: Any) -> tuple[dict[str, Any], str, bytes]:
    im = open_image(data, where)
    chunks = {key.lower(): value for key, value in reversed(list(im.text.items()))}  # first wins
    chunk = "ccv3" if "ccv3" in chunks else "chara" if "chara" in chunks else None
    if chunk is None:
        raise CardError(f"{where} is a PNG with no character card in it (no 'chara' or 'ccv3' text chunk)",
                        "export the character from SillyTavern as a PNG card, or import its JSON instead")
    text = chunks[chunk]
    if len(text) > MAX_CHUNK_CHARS:
        raise CardError(f"{where}: the {chunk!r} chunk is over {MAX_CHUNK_CHARS // 2**20} MiB",
                        "that is not a character card; export it again")
    try:
        raw = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise CardError(f"{where}: the {chunk!r} chunk is not valid base64 (truncated or damaged)",
                        "the card was damaged in transit; download or export it again") from None
    return parse_json(decode_text(raw, f"{where} ({chunk})"), f"{where} ({chunk})"), chunk, plain_png(im)


# -- text-generation-webui characters ------------------------------------------------------------

MAX_YAML_DEPTH = 64


def parse_yaml(text: str, where: Path) -> dict[str, Any]:
    """A YAML mapping by ``yaml.safe_load``, after one linear pass that refuses aliases and deep nesting.

    Aliases are refused because a few of them expand into a structure whose
    walk (nesting check, JSON dump) is exponential: "billion laughs".
    """
    import yaml

    try:
        depth = 0
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise CardError(f"{where}: YAML aliases (*name) are not accepted in a character file",
                                "write the values out in full")
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    raise CardError(f"{where}: the YAML nests more than {MAX_YAML_DEPTH} levels",
                                    "a character file is a flat mapping (name, context, greeting, ...)")
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
        obj = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CardError(f"{where} is not valid YAML ({str(exc)[:200]})", "fix the line it names") from None
    if not isinstance(obj, dict):
        raise CardError(f"{where}: a character YAML is a mapping, not a {type(obj).__name__}",
                        "text-generation-webui characters have name, context and greeting keys")
    return obj
