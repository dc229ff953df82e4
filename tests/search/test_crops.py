"""The crop box: one bright object in a synthetic map, the largest of two, nothing to crop."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pytest
import torch
from torch.nn import functional

from search.backbones import load_backbone
from search.config import Precision
from search.crops import Box, crop_batch, largest_region, salient_box
from search.embed import Embedder
from search.views import View, parse_views


def test_the_box_surrounds_the_one_bright_object() -> None:
    activation = np.zeros((10, 10))
    activation[2:5, 6:9] = 5.0  # rows 2-4, columns 6-8
    box = salient_box(activation, margin=0.0)
    assert box == Box(top=0.2, left=0.6, bottom=0.5, right=0.9)
    widened = salient_box(activation, margin=0.1)
    assert widened is not None
    assert (widened.top, widened.left) == pytest.approx((0.17, 0.57))
    assert (widened.bottom, widened.right) == pytest.approx((0.53, 0.93))


def test_of_two_objects_the_larger_one_wins() -> None:
    activation = np.zeros((8, 8))
    activation[0:2, 0:2] = 9.0  # small but brighter
    activation[4:8, 3:7] = 3.0  # larger
    assert salient_box(activation, margin=0.0) == Box(0.5, 0.375, 1.0, 0.875)


def test_regions_connect_through_edges_not_corners() -> None:
    mask = np.array([[1, 0, 0], [0, 1, 1], [0, 1, 0]], dtype=bool)
    assert largest_region(mask).tolist() == [
        [False, False, False],
        [False, True, True],
        [False, True, False],
    ]


def test_nothing_to_crop_when_the_object_fills_the_picture_or_nothing_stands_out() -> None:
    filled = np.ones((6, 6))
    filled[0, 0] = 0.0  # above the mean almost everywhere: a packshot or a close-up
    assert salient_box(filled) is None
    assert salient_box(np.ones((6, 6))) is None  # flat: nothing above the mean


def test_a_batch_is_cropped_to_each_images_box_and_resized_back() -> None:
    batch = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    activations = torch.zeros(2, 4, 4, 4)
    activations[0, :, 0:2, 0:2] = 1.0  # image 0: its top-left quarter stands out
    activations[1] = 1.0  # image 1: nothing stands out
    cropped = crop_batch(batch, activations)
    assert cropped.shape == batch.shape
    # 10% margin around rows/columns 0-4 of 8 (the top-left 2x2 cells of 4x4): pixels 0-5.
    region = batch[0:1, :, 0:5, 0:5]
    expected = functional.interpolate(
        region, size=(8, 8), mode="bilinear", align_corners=False, antialias=True
    )
    assert torch.allclose(cropped[0], expected[0])
    assert torch.equal(cropped[1], batch[1])


def test_crop_is_a_query_view() -> None:
    assert parse_views("1,crop") == (View(), View(crop=True))


@pytest.mark.slow  # runs a pretrained backbone
def test_the_crop_view_embeds_the_product_region() -> None:
    backbone = load_backbone("efficientnet_lite0")
    size = backbone.preprocessing.input_size
    picture = np.full((size, size, 3), 20, dtype=np.uint8)
    picture[20:90, 130:200] = (230, 180, 40)  # one bright object, top right
    crop = Embedder(backbone, precision=Precision.FP32, views=(View(crop=True),))
    batch = backbone.preprocessing.to_batch([picture])
    with torch.inference_mode():
        maps = cast(Any, backbone.model).forward_features(batch)
        expected = functional.normalize(backbone.model(crop_batch(batch, maps)), dim=1)
    box = salient_box(maps.sum(dim=1)[0].numpy())
    assert box is not None and box.area < 0.5  # found a small region, not the whole picture
    assert np.allclose(crop.embed_arrays([picture]), expected.numpy(), atol=1e-4)
