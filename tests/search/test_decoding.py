"""Decoding every kind of catalogue image into upright RGB, and refusing bad ones clearly."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from search.decoding import UPLOAD_FORMATS, decode_image, decode_image_with_size
from search.errors import ImageDecodeError


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def test_rgba_transparency_becomes_white() -> None:
    image = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    image.putpixel((0, 0), (255, 0, 0, 255))
    decoded = decode_image(encode(image, "PNG"))
    assert decoded.mode == "RGB"
    assert decoded.getpixel((0, 0)) == (255, 0, 0)
    assert decoded.getpixel((5, 5)) == (255, 255, 255)


def test_palette_with_transparency_becomes_white() -> None:
    image = Image.new("P", (4, 4), 0)
    image.putpalette([0, 0, 255] + [0, 255, 0] * 255)
    data = encode(image, "PNG", transparency=0)
    assert decode_image(data).getpixel((1, 1)) == (255, 255, 255)
    assert decode_image(encode(image, "PNG")).getpixel((1, 1)) == (0, 0, 255)


def test_grey_with_alpha_becomes_white() -> None:
    image = Image.new("LA", (4, 4), (10, 0))
    assert decode_image(encode(image, "PNG")).getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize(("mode", "fmt"), [("L", "PNG"), ("1", "PNG"), ("CMYK", "JPEG")])
def test_other_modes_become_rgb(mode: str, fmt: str) -> None:
    decoded = decode_image(encode(Image.new(mode, (6, 6)), fmt))
    assert decoded.mode == "RGB" and decoded.size == (6, 6)


def test_16_bit_grey_is_scaled_not_clipped() -> None:
    values = np.array([[0, 32768], [65535, 1000]], dtype=np.uint16)
    image = Image.fromarray(values)
    assert image.mode.startswith("I;16")
    decoded = np.asarray(decode_image(encode(image, "PNG")))
    assert decoded[0, 0].tolist() == [0, 0, 0]
    assert decoded[0, 1, 0] == 127 and decoded[1, 0, 0] == 255 and decoded[1, 1, 0] == 3


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (40, 20), (200, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    decoded, width, height = decode_image_with_size(encode(image, "JPEG", exif=exif))
    assert decoded.size == (20, 40)
    assert (width, height) == (40, 20)


def test_draft_decodes_large_jpegs_smaller_but_never_below_the_asked_size() -> None:
    data = encode(Image.new("RGB", (1600, 1000), (1, 2, 3)), "JPEG")
    decoded, width, height = decode_image_with_size(data, draft_size=224)
    assert (width, height) == (1600, 1000)
    assert min(decoded.size) >= 224 and decoded.size[0] <= 800
    assert decode_image(data).size == (1600, 1000)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"this is not an image at all", "not-an-image"),
        (encode(Image.new("RGB", (64, 64)), "JPEG")[:200], "corrupt"),
        (encode(Image.new("RGB", (64, 64)), "PNG")[:60], "corrupt"),
    ],
)
def test_bad_images_raise_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ImageDecodeError) as raised:
        decode_image(data)
    assert raised.value.reason == reason


def test_images_over_the_pixel_limit_are_refused_before_decoding() -> None:
    data = encode(Image.new("RGB", (300, 300)), "PNG")
    with pytest.raises(ImageDecodeError) as raised:
        decode_image(data, max_pixels=300 * 299)
    assert raised.value.reason == "too-large"
    assert decode_image(data, max_pixels=300 * 300).size == (300, 300)


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "PPM"])
def test_formats_outside_the_allow_list_are_refused_before_decoding(fmt: str) -> None:
    data = encode(Image.new("RGB", (8, 8)), fmt)
    with pytest.raises(ImageDecodeError) as raised:
        decode_image(data, formats=UPLOAD_FORMATS)
    assert raised.value.reason == "unsupported-format" and fmt in str(raised.value)
    assert decode_image(data).size == (8, 8)  # the catalogue takes any format Pillow reads


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF"])
def test_allowed_formats_are_sniffed_from_the_bytes(fmt: str) -> None:
    assert decode_image(encode(Image.new("RGB", (8, 8)), fmt), formats=UPLOAD_FORMATS)


@pytest.mark.parametrize(("mode", "fmt"), [("L", "PNG"), ("RGBA", "PNG"), ("RGB", "WEBP")])
def test_large_images_of_any_format_are_reduced_early(mode: str, fmt: str) -> None:
    data = encode(Image.new(mode, (2000, 1000)), fmt)
    decoded, width, height = decode_image_with_size(data, draft_size=224)
    assert (width, height) == (2000, 1000)
    assert 224 <= min(decoded.size) < 448 and decoded.size[0] == 2 * decoded.size[1]


def test_reduced_palette_and_16_bit_images_keep_their_colours() -> None:
    palette = Image.new("P", (1000, 1000), 1)
    palette.putpalette([0, 0, 0, 10, 200, 30] + [0, 0, 0] * 254)
    assert decode_image(encode(palette, "PNG"), draft_size=100).getpixel((5, 5)) == (10, 200, 30)
    grey = Image.fromarray(np.full((1000, 1000), 65535, dtype=np.uint16))
    assert decode_image(encode(grey, "PNG"), draft_size=100).getpixel((5, 5)) == (255, 255, 255)


def test_16_bit_images_are_converted_without_full_size_float_copies() -> None:
    import tracemalloc

    side = 1500
    image = Image.fromarray(np.arange(side * side, dtype=np.uint16).reshape(side, side))
    data = encode(image, "PNG")
    tracemalloc.start()
    try:
        decode_image(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The old float64 path allocated more than 16 bytes per pixel.
    assert peak < 4 * side * side


def test_exif_orientation_survives_reduction() -> None:
    image = Image.new("RGB", (1600, 800), (200, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded, width, height = decode_image_with_size(encode(image, "PNG", exif=exif), draft_size=200)
    assert (width, height) == (1600, 800)
    assert decoded.size[1] == 2 * decoded.size[0] and decoded.size[0] >= 200
