"""Preprocessing geometry and the embedder's vectors, in fp32 and bf16."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from search.backbones import Backbone, load_backbone
from search.decoding import decode_image
from search.embed import Embedder, Precision, resolve_precision
from search.errors import ImageDecodeError
from search.preprocess import Preprocessing, ResizeMode
from tests.conftest import SAMPLE_CATALOG


@pytest.fixture(scope="module")
def lite0() -> Backbone:
    return load_backbone("efficientnet_lite0")


def scenes(count: int) -> list[Image.Image]:
    rng = np.random.default_rng(7)
    images = []
    for index in range(count):
        pixels = np.zeros((120, 160, 3), dtype=np.uint8)
        pixels[:] = rng.integers(0, 255, size=3)
        top, left = rng.integers(0, 60), rng.integers(0, 80)
        pixels[top : top + 50, left : left + 70] = rng.integers(0, 255, size=3)
        pixels[:: 7 + index % 5] //= 2
        images.append(Image.fromarray(pixels))
    return images


def test_crop_keeps_the_centre_and_squash_keeps_everything() -> None:
    pixels = np.zeros((100, 300, 3), dtype=np.uint8)
    pixels[:, :100] = (255, 0, 0)  # red left third
    pixels[:, 100:200] = (0, 255, 0)
    pixels[:, 200:] = (0, 0, 255)
    image = Image.fromarray(pixels)
    crop = Preprocessing(30, (0.5,) * 3, (0.5,) * 3, ResizeMode.CROP).prepare(image)
    squash = Preprocessing(30, (0.5,) * 3, (0.5,) * 3, ResizeMode.SQUASH).prepare(image)
    assert crop.shape == squash.shape == (30, 30, 3) and crop.dtype == np.uint8
    assert (crop[:, :, 1] > 200).all()  # only the green middle survives the crop
    assert squash[15, 2].tolist() == [255, 0, 0] and squash[15, 27].tolist() == [0, 0, 255]


def test_to_batch_normalises_into_channels_last() -> None:
    preprocessing = Preprocessing(4, (0.5, 0.5, 0.5), (0.25, 0.5, 0.5))
    arrays = [np.full((4, 4, 3), 255, dtype=np.uint8), np.zeros((4, 4, 3), dtype=np.uint8)]
    batch = preprocessing.to_batch(arrays)
    assert batch.shape == (2, 3, 4, 4)
    assert batch.is_contiguous(memory_format=torch.channels_last)
    assert batch[0, 0, 0, 0].item() == pytest.approx(2.0)  # (1 - 0.5) / 0.25
    assert batch[1, 1, 0, 0].item() == pytest.approx(-1.0)


def test_vectors_are_unit_length_float32(lite0: Backbone) -> None:
    vectors = Embedder(lite0, precision=Precision.FP32).embed_images(scenes(3))
    assert vectors.shape == (3, 1280) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert Embedder(lite0).embed_arrays([]).shape == (0, 1280)


def test_bf16_agrees_with_fp32(lite0: Backbone) -> None:
    images = scenes(6)
    fp32 = Embedder(lite0, precision=Precision.FP32).embed_images(images)
    bf16 = Embedder(lite0, precision=Precision.BF16).embed_images(images)
    cosines = (fp32 * bf16).sum(axis=1)
    assert cosines.min() >= 0.99, cosines
    # Different images stay apart: agreement is not just everything collapsing together.
    assert (fp32 @ fp32.T)[~np.eye(6, dtype=bool)].max() < cosines.min()


@pytest.mark.parametrize("native_bf16", [True, False])
def test_precision_auto_is_bf16_exactly_where_the_cpu_has_it(
    native_bf16: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("search.embed.cpu_has_bf16", lambda: native_bf16)
    expected = Precision.BF16 if native_bf16 else Precision.FP32
    assert resolve_precision(Precision.AUTO) is expected
    assert resolve_precision(Precision.FP32) is Precision.FP32
    assert resolve_precision(Precision.BF16) is Precision.BF16


@pytest.mark.slow  # torch.compile takes about 30 s here
def test_compiled_model_agrees_with_eager_on_partial_batches(lite0: Backbone) -> None:
    images = scenes(5)
    eager = Embedder(lite0, precision=Precision.FP32, batch_size=4)
    expected = eager.embed_images(images)
    compiled = Embedder(load_backbone("efficientnet_lite0"), precision=Precision.FP32, batch_size=4)
    assert compiled.compile() > 0 and compiled.compiled
    vectors = compiled.embed_images(images)  # one full batch of 4, then 1 padded to 4
    assert vectors.shape == (5, 1280)
    assert (vectors * expected).sum(axis=1).min() > 0.999


def test_embed_files_decodes_and_prepares_like_the_catalog(
    lite0: Backbone,
) -> None:
    photo = SAMPLE_CATALOG.parent / "queries" / "Banana.jpg"
    embedder = Embedder(lite0, precision=Precision.FP32)
    from_path = embedder.embed_files([photo], max_pixels=50_000_000)
    from_bytes = embedder.embed_files([photo.read_bytes()], max_pixels=50_000_000)
    decoded = decode_image(photo, draft_size=lite0.preprocessing.decode_size)
    assert np.array_equal(from_path, from_bytes)
    assert np.allclose(from_path, embedder.embed_images([decoded]), atol=1e-6)
    with pytest.raises(ImageDecodeError, match="pixels"):
        embedder.embed_files([photo], max_pixels=100)


def test_vectors_match_the_torchvision_reference_pipeline(lite0: Backbone) -> None:
    """Our resize-into-the-crop and batch normalisation against torchvision's own transforms,
    an independent reference: the vectors must agree, not just look plausible."""
    from torchvision.transforms import v2

    prep = lite0.preprocessing
    reference = v2.Compose(
        [
            v2.Resize(prep.input_size, interpolation=v2.InterpolationMode.BILINEAR),
            v2.CenterCrop(prep.input_size),
            v2.PILToTensor(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(list(prep.mean), list(prep.std)),
        ]
    )
    images = [scene.resize((640, 480)) for scene in scenes(3)]
    embedder = Embedder(lite0, precision=Precision.FP32)
    ours = embedder.embed_images(images)
    with torch.inference_mode():
        batch = torch.stack([reference(image) for image in images])
        theirs = torch.nn.functional.normalize(lite0.model(batch), dim=1).numpy()
    cosines = (ours * theirs).sum(axis=1)
    assert cosines.min() > 0.999, cosines  # a wrong crop or normalisation gives 0.97-0.99
