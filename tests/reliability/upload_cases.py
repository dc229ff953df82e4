"""Bad uploads, generated deterministically (fixed seed) for the fuzz test and scripts/faults/fuzz.

Every case is something a careless or hostile client could send to /v1/search: random bytes,
truncated and bit-flipped files of every format, wrong declared types, zero bytes, tiny files
whose headers claim 60000x60000 pixels, 16-bit and palette images, animations with thousands of
frames, EXIF- and ICC-heavy files, polyglots. The right answer to each is a 200 or a 4xx
problem+json, never a 5xx; "heavy" cases decode many megapixels and are left out of fast runs.
"""

from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PIL import Image

SEED = 20_261_129
PHOTO = Path(__file__).resolve().parents[2] / "scripts" / "sample_catalog" / "queries" / "Lime.jpg"
ALLOWED_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif")
OTHER_TYPES = ("text/plain", "application/octet-stream", "image/svg+xml", "image/tiff", "")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HUGE = 60_000


@dataclass(frozen=True)
class UploadCase:
    """One upload: what is sent, under which name and declared type."""

    name: str
    kind: str
    data: bytes
    content_type: str
    filename: str
    heavy: bool = False


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@cache
def photo(size: int = 96) -> Image.Image:
    return Image.open(PHOTO).convert("RGB").resize((size, size))


@cache
def base_files() -> dict[str, bytes]:
    """Small valid files of every format Pillow writes, the raw material for mutations."""
    rgb = photo()
    frames = [photo(48).rotate(angle) for angle in range(0, 360, 30)]
    return {
        "jpeg": encode(rgb, "JPEG", quality=80),
        "jpeg-progressive": encode(rgb, "JPEG", progressive=True),
        "png": encode(rgb, "PNG"),
        "png-interlaced": encode(rgb.convert("RGBA"), "PNG", interlace=1),
        "png-16bit": encode(Image.new("I;16", (64, 64), 40_000), "PNG"),
        "webp-lossy": encode(rgb, "WEBP", quality=70),
        "webp-lossless": encode(rgb, "WEBP", lossless=True),
        "gif": encode(rgb.convert("P"), "GIF"),
        "gif-animated": encode(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        "apng": encode(frames[0], "PNG", save_all=True, append_images=frames[1:]),
        "webp-animated": encode(frames[0], "WEBP", save_all=True, append_images=frames[1:]),
        "tiff": encode(rgb, "TIFF"),
        "bmp": encode(rgb, "BMP"),
        "ico": encode(rgb, "ICO"),
        "ppm": encode(rgb, "PPM"),
    }


def declared_type(data: bytes) -> str:
    if data.startswith(PNG_MAGIC):
        return "image/png"
    if data.startswith(b"GIF8"):
        return "image/gif"
    if data[8:12] == b"WEBP":
        return "image/webp"
    return "image/jpeg"


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload)
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png(width: int, height: int, *, depth: int = 8, colour: int = 2, idat: bytes = b"") -> bytes:
    """A PNG claiming any size, with whatever image data (usually far too little)."""
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        PNG_MAGIC
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", idat or zlib.compress(b"\0" * 1024))
        + png_chunk(b"IEND", b"")
    )


def zero_png(width: int, height: int, *, depth: int, colour: int) -> bytes:
    """A real, fully decodable PNG of zeros, compressed row by row (never all in memory)."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    row = b"\0" * (1 + width * channels * depth // 8)
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row) for _ in range(height)]
    idat = b"".join(parts) + compressor.flush()
    return png(width, height, depth=depth, colour=colour, idat=idat)


def gif_claiming(width: int, height: int) -> bytes:
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return screen + frame + b"\x3b"


def webp_claiming(width: int, height: int) -> bytes:
    lossy = base_files()["webp-lossy"]
    vp8 = lossy[12:]
    header = b"VP8X" + struct.pack("<I", 10) + b"\0\0\0\0"
    header += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + header + vp8
    return b"RIFF" + struct.pack("<I", len(body)) + body


def jpeg_claiming(width: int, height: int) -> bytes:
    data = bytearray(base_files()["jpeg"])
    at = data.index(b"\xff\xc0")
    data[at + 5 : at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@cache
def many_frames_gif(frames: int) -> bytes:
    """A GIF of `frames` frames, made by repeating one frame's bytes (Pillow would be slow)."""
    one = encode(Image.new("P", (32, 32), 1), "GIF")
    start = one.index(b"\x2c")
    return one[:start] + one[start:-1] * frames + b"\x3b"


@cache
def heavy_files() -> dict[str, bytes]:
    """Images at or just under the 16 MP query limit: what costs the most memory to decode."""
    return {
        "grey16-4000x4000": zero_png(4000, 4000, depth=16, colour=0),
        "rgba16-4000x4000": zero_png(4000, 4000, depth=16, colour=6),
        "rgba-4000x3999": zero_png(4000, 3999, depth=8, colour=6),
        "palette-4000x4000": encode(Image.new("P", (4000, 4000), 3), "PNG"),
        "gif-4000x4000": encode(Image.new("P", (4000, 4000), 7), "GIF"),
        "webp-4000x4000": encode(Image.new("RGB", (4000, 4000), (9, 9, 9)), "WEBP", quality=10),
    }


Maker = Callable[[random.Random], tuple[bytes, str]]


def random_bytes(rng: random.Random) -> tuple[bytes, str]:
    size = rng.choice((1, 2, 8, 64, 512, 4096, 65_536))
    return rng.randbytes(size), rng.choice(ALLOWED_TYPES)


def magic_then_noise(rng: random.Random) -> tuple[bytes, str]:
    magic = rng.choice((b"\xff\xd8\xff\xe0", PNG_MAGIC, b"GIF89a", b"RIFF\0\0\0\0WEBPVP8 "))
    return magic + rng.randbytes(rng.choice((0, 10, 100, 5000))), rng.choice(ALLOWED_TYPES)


def truncated(rng: random.Random) -> tuple[bytes, str]:
    name, data = rng.choice(sorted(base_files().items()))
    cut = rng.randrange(0, len(data))
    return data[:cut], declared_type(data)


def bit_flipped(rng: random.Random) -> tuple[bytes, str]:
    name, data = rng.choice(sorted(base_files().items()))
    mutated = bytearray(data)
    for _ in range(rng.choice((1, 2, 5, 20, 100))):
        mutated[rng.randrange(len(mutated))] = rng.randrange(256)
    return bytes(mutated), declared_type(data)


def wrong_declared_type(rng: random.Random) -> tuple[bytes, str]:
    name, data = rng.choice(sorted(base_files().items()))
    return data, rng.choice(ALLOWED_TYPES + OTHER_TYPES)


def zero_bytes(rng: random.Random) -> tuple[bytes, str]:
    return b"", rng.choice(ALLOWED_TYPES + ("",))


def huge_dimensions(rng: random.Random) -> tuple[bytes, str]:
    width = rng.choice((HUGE, 65_535, 4001, 16_384, 1))
    height = rng.choice((HUGE, 65_535, 4000, 16_383, 1))
    if width * height <= 16_000_000:
        width = height = HUGE
    maker = rng.choice((png, gif_claiming, webp_claiming, jpeg_claiming))
    if maker is png:
        depth, colour = rng.choice(((8, 2), (16, 0), (16, 6), (8, 3), (1, 0)))
        data = png(width, height, depth=depth, colour=colour)
    else:
        data = maker(width, height)
    return data, declared_type(data)


def deep_and_palette(rng: random.Random) -> tuple[bytes, str]:
    size = (rng.randint(1, 700), rng.randint(1, 700))
    choice = rng.randrange(6)
    if choice == 0:
        image = Image.new("I;16", size, rng.randrange(65_536))
    elif choice == 1:  # 16-bit RGB(A) with noise: Pillow cannot write it, so built by hand
        width, height = size[0] % 200 + 1, size[1] % 200 + 1
        colour = rng.choice((2, 6))
        row_bytes = width * (6 if colour == 2 else 8)
        rows = b"".join(b"\0" + rng.randbytes(row_bytes) for _ in range(height))
        return png(width, height, depth=16, colour=colour, idat=zlib.compress(rows)), "image/png"
    elif choice == 2:
        image = Image.new("P", size, rng.randrange(256))
        image.putpalette(list(rng.randbytes(768)))
        return encode(image, "PNG", transparency=rng.randrange(256)), "image/png"
    elif choice == 3:
        image = Image.new("1", size, rng.randrange(2))
    elif choice == 4:
        image = Image.new("LA", size, (rng.randrange(256), rng.randrange(256)))
    else:
        image = Image.new("P", size, rng.randrange(256))
        return encode(image, "GIF", transparency=rng.randrange(256)), "image/gif"
    return encode(image, "PNG"), "image/png"


def animated(rng: random.Random) -> tuple[bytes, str]:
    choice = rng.randrange(4)
    if choice == 0:
        return many_frames_gif(rng.choice((1000, 3000, 5000))), "image/gif"
    name = ("gif-animated", "apng", "webp-animated")[choice - 1]
    data = base_files()[name]
    return data, declared_type(data)


def exif_heavy(rng: random.Random) -> tuple[bytes, str]:
    exif = Image.Exif()
    exif[0x0112] = rng.choice((0, 1, 3, 5, 6, 8, 9, 255, 65_535))
    if rng.random() < 0.5:
        exif[0x010E] = "x" * rng.choice((100, 30_000, 60_000))
        raw = exif.tobytes()
    else:
        raw = b"Exif\0\0" + rng.choice((b"II*\0", b"MM\0*")) + rng.randbytes(rng.choice((4, 900)))
    fmt = rng.choice(("JPEG", "PNG", "WEBP"))
    data = encode(photo(), fmt, exif=raw)
    return data, declared_type(data)


def icc_heavy(rng: random.Random) -> tuple[bytes, str]:
    profile = rng.randbytes(rng.choice((128, 65_536, 600_000, 2_000_000)))
    fmt = rng.choice(("JPEG", "PNG", "WEBP"))
    data = encode(photo(), fmt, icc_profile=profile)
    return data, declared_type(data)


def polyglot(rng: random.Random) -> tuple[bytes, str]:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        member = zipfile.ZipInfo("index.html", date_time=(2020, 1, 1, 0, 0, 0))
        zipped.writestr(member, "<script>alert(1)</script>")
    html = b"<html><body><script>alert(document.cookie)</script></body></html>"
    gif = base_files()["gif"]
    choice = rng.randrange(6)
    if choice == 0:
        data = gif + archive.getvalue()  # GIFAR: a GIF that is also a zip
    elif choice == 1:
        comment = b"\x21\xfe" + bytes([len(html[:255])]) + html[:255] + b"\0"
        data = gif[:-1] + comment + b"\x3b"  # HTML inside a GIF comment
    elif choice == 2:
        data = b"GIF89a/*" + html + b"*/"
    elif choice == 3:
        data = base_files()["png"] + archive.getvalue()
    elif choice == 4:
        data = base_files()["jpeg"] + html
    else:
        data = html + base_files()["png"]
    return data, rng.choice(ALLOWED_TYPES)


def other_format(rng: random.Random) -> tuple[bytes, str]:
    name = rng.choice(("tiff", "bmp", "ico", "ppm"))
    extra = {
        "psd": b"8BPS\0\1" + rng.randbytes(100),
        "svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    }
    if rng.random() < 0.3:
        return rng.choice(sorted(extra.items()))[1], rng.choice(ALLOWED_TYPES)
    return base_files()[name], rng.choice(ALLOWED_TYPES)


def valid(rng: random.Random) -> tuple[bytes, str]:
    name = rng.choice(("jpeg", "jpeg-progressive", "png", "png-interlaced", "webp-lossy", "gif"))
    data = base_files()[name]
    return data, declared_type(data)


def heavy(rng: random.Random) -> tuple[bytes, str]:
    data = rng.choice(sorted(heavy_files().items()))[1]
    return data, declared_type(data)


MAKERS: dict[str, Maker] = {
    "random-bytes": random_bytes,
    "magic-then-noise": magic_then_noise,
    "truncated": truncated,
    "bit-flipped": bit_flipped,
    "wrong-declared-type": wrong_declared_type,
    "zero-bytes": zero_bytes,
    "huge-dimensions": huge_dimensions,
    "16-bit-and-palette": deep_and_palette,
    "animated": animated,
    "exif-heavy": exif_heavy,
    "icc-heavy": icc_heavy,
    "polyglot": polyglot,
    "other-format": other_format,
    "valid": valid,
    "heavy": heavy,
}
# Kinds repeat in this proportion (mutations find the most, so they come most often).
WEIGHTS = {"truncated": 3, "bit-flipped": 4, "random-bytes": 2}


def generate_cases(
    count: int = 2000, *, seed: int = SEED, include_heavy: bool = True
) -> Iterator[UploadCase]:
    """`count` upload cases, always the same ones for the same arguments."""
    rng = random.Random(seed)
    kinds = [
        kind
        for kind in MAKERS
        for _ in range(WEIGHTS.get(kind, 1))
        if include_heavy or kind != "heavy"
    ]
    for number in range(count):
        kind = kinds[number % len(kinds)]
        data, content_type = MAKERS[kind](rng)
        extension = content_type.rpartition("/")[2] or "bin"
        yield UploadCase(
            name=f"{number:05d}-{kind}",
            kind=kind,
            data=data,
            content_type=content_type or "application/octet-stream",
            filename=f"upload-{number}.{extension}",
            heavy=kind == "heavy",
        )
