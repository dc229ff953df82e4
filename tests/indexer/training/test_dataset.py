"""The training dataset hands torch arrays it may write to (no NumPy non-writable warning)."""

from __future__ import annotations

import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image

from indexer.training.batches import ImageDataset
from indexer.training.data import Example
from search.preprocess import Preprocessing


def test_validation_images_convert_without_a_numpy_warning(tmp_path: Path) -> None:
    path = tmp_path / "red.png"
    Image.fromarray(np.full((40, 60, 3), (200, 30, 40), dtype=np.uint8)).save(path)
    backbone = SimpleNamespace(preprocessing=Preprocessing(32, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)))
    dataset = ImageDataset(
        [Example(path, {"sku": "A"})],
        {"sku": {"A": 0}},
        backbone,  # type: ignore[arg-type]
        train=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pixels, targets = dataset[0]
    assert tuple(pixels.shape) == (3, 32, 32) and targets == {"sku": 0}
