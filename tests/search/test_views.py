"""Query views: parsing, what each view does to a batch, and how an embedder averages them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from search.backbones import load_backbone
from search.config import EmbedSettings, Precision
from search.embed import Embedder
from search.views import View, parse_views


def test_views_parse_scales_and_mirrors() -> None:
    assert parse_views("1") == (View(),)
    assert parse_views("1, 1f,1.4") == (View(), View(1.0, True), View(1.4, False))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("big", "write a scale"),
        ("3", "between 0.5 and 2"),
        ("1,1", "listed twice"),
        ("", "write a scale"),
    ],
)
def test_bad_views_are_refused(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_views(spec)
    with pytest.raises(ValidationError):
        EmbedSettings(query_views=spec)


def test_a_view_mirrors_and_enlarges_a_batch() -> None:
    batch = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    assert torch.equal(View(1.0, True).apply(batch), torch.flip(batch, dims=[3]))
    assert View(1.5, False).apply(batch).shape == (2, 3, 6, 6)
    assert torch.equal(View().apply(batch), batch)


@pytest.mark.slow  # runs a (random-weight) backbone
def test_an_embedder_averages_its_views_unit_vectors() -> None:
    backbone = load_backbone("efficientnet_lite0", pretrained=False)
    rng = np.random.default_rng(2)
    size = backbone.preprocessing.input_size
    images = [rng.integers(0, 255, (size, size, 3), dtype=np.uint8) for _ in range(3)]
    fp32 = Precision.FP32
    plain = Embedder(backbone, precision=fp32).embed_arrays(images)
    views = (View(), View(1.0, True))
    mirrored = [np.ascontiguousarray(image[:, ::-1]) for image in images]
    flipped = Embedder(backbone, precision=fp32).embed_arrays(mirrored)
    both = Embedder(backbone, views=views, precision=fp32).embed_arrays(images)
    expected = plain + flipped
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert np.allclose(both, expected, atol=1e-4)
    assert np.allclose(np.linalg.norm(both, axis=1), 1.0, atol=1e-5)
