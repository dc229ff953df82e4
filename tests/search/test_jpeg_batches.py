"""JPEGs decoded by the embedding device: which take that path, and that the model sees the same
picture as through Pillow. Runs on the CPU (torchvision's libjpeg); on a GPU the same code runs
with nvJPEG, checked by the CUDA test where one exists."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from search.backbones import load_backbone
from search.embed import Embedder, Precision
from search.jpeg_batches import decode_on_device, plain_jpeg_size
from search.preprocess import Preprocessing, ResizeMode
from tests.conftest import SAMPLE_CATALOG

QUERIES = SAMPLE_CATALOG.parent / "queries"
CPU = torch.device("cpu")


def encode(image: Image.Image, format: str = "JPEG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def photo(name: str, size: tuple[int, int]) -> Image.Image:
    return Image.open(QUERIES / f"{name}.jpg").convert("RGB").resize(size)


def test_only_plain_jpegs_take_the_device_path() -> None:
    picture = photo("Banana", (300, 200))
    assert plain_jpeg_size(encode(picture), max_pixels=10**6) == (300, 200)
    assert plain_jpeg_size(encode(picture.convert("L")), max_pixels=10**6) == (300, 200)
    rotated = picture.getexif()
    rotated[0x0112] = 6
    refused = [
        encode(picture, format="PNG"),
        encode(picture.convert("CMYK")),  # Pillow converts CMYK its own way
        encode(picture, exif=rotated),  # Pillow turns it upright
        encode(picture)[:40],  # a damaged header: Pillow names the failure
        b"",
    ]
    assert [plain_jpeg_size(data, max_pixels=10**6) for data in refused] == [None] * 5
    assert plain_jpeg_size(encode(picture), max_pixels=300 * 200 - 1) is None  # too large


@pytest.mark.parametrize("resize", [ResizeMode.CROP, ResizeMode.SQUASH])
def test_pixels_match_pillows_preparation(resize: ResizeMode) -> None:
    preprocessing = Preprocessing(224, (0.5,) * 3, (0.25,) * 3, resize)
    pictures = [
        photo("Banana", (900, 700)),
        photo("Lime", (640, 1000)),
        photo("Zucchini", (250, 250)),
    ]
    encoded = [encode(picture, quality=95) for picture in pictures]
    batch = decode_on_device(encoded, preprocessing, CPU)
    assert batch.decoded == [0, 1, 2] and not batch.failed
    assert batch.pixels.is_contiguous(memory_format=torch.channels_last)
    reference = preprocessing.to_batch(
        [preprocessing.prepare(Image.open(io.BytesIO(data)).convert("RGB")) for data in encoded]
    )
    # In 0-255 units, on average: 0.1-0.2 levels apart here (a wrong crop is 30+ apart).
    difference = (batch.pixels - reference).abs().mean(dim=(1, 2, 3)) * 0.25 * 255
    assert difference.max() < 1.0


def test_a_corrupt_jpeg_fails_alone() -> None:
    good = encode(photo("Banana", (320, 240)))
    broken = good[: len(good) // 3]
    preprocessing = load_backbone("efficientnet_lite0", pretrained=False).preprocessing
    batch = decode_on_device([good, broken, good], preprocessing, CPU)
    assert batch.decoded == [0, 2] and list(batch.failed) == [1]
    assert batch.failed[1].startswith("corrupt JPEG")
    assert batch.pixels.shape == (2, 3, 224, 224)
    empty = decode_on_device([], preprocessing, CPU)
    assert empty.pixels.shape == (0, 3, 224, 224) and empty.decoded == []


def test_vectors_match_the_pillow_path() -> None:
    backbone = load_backbone("efficientnet_lite0")
    embedder = Embedder(backbone, precision=Precision.FP32)
    names = ["Banana", "Lime", "Zucchini"]
    encoded = [encode(photo(name, (1000, 800)), quality=90) for name in names]
    on_device = embedder.embed_batch(decode_on_device(encoded, backbone.preprocessing, CPU).pixels)
    pillow = embedder.embed_files(encoded, max_pixels=10**7)
    assert (on_device * pillow).sum(axis=1).min() >= 0.99
    np.testing.assert_allclose(np.linalg.norm(on_device, axis=1), 1.0, rtol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")
def test_nvjpeg_matches_the_cpu_decoder() -> None:
    preprocessing = load_backbone("efficientnet_lite0", pretrained=False).preprocessing
    encoded = [encode(photo(name, (1000, 800)), quality=90) for name in ("Banana", "Lime")]
    cpu = decode_on_device(encoded, preprocessing, CPU).pixels
    cuda = decode_on_device(encoded, preprocessing, torch.device("cuda")).pixels.cpu()
    assert (cuda - cpu).abs().mean() < 0.05  # normalised units: about 3 levels in 0-255
