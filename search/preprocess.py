"""A backbone's input preprocessing: geometry on PIL images, normalisation on whole batches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt
import torch
from PIL import Image


class ResizeMode(StrEnum):
    CROP = "crop"  # shorter side to the input size, then the centre square
    SQUASH = "squash"  # the whole image to a square, aspect ratio not kept


@dataclass(frozen=True)
class Preprocessing:
    """How a backbone wants its input. Used by the indexer and the API alike."""

    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resize: ResizeMode = ResizeMode.CROP

    def prepare(self, image: Image.Image) -> npt.NDArray[np.uint8]:
        """Resize an RGB image to the model's input: (input_size, input_size, 3) uint8."""
        size = self.input_size
        width, height = image.size
        if self.resize is ResizeMode.SQUASH:
            resized = image.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=None)
            return np.asarray(resized, dtype=np.uint8)
        scale = size / min(width, height)
        new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
        left, top = (new_w - size) // 2, (new_h - size) // 2
        # Resizing straight into the crop box reads only the pixels that survive the crop.
        box = (left / scale, top / scale, (left + size) / scale, (top + size) / scale)
        resized = image.resize((size, size), Image.Resampling.BILINEAR, box=box)
        return np.asarray(resized, dtype=np.uint8)

    def to_batch(self, arrays: Sequence[npt.NDArray[np.uint8]]) -> torch.Tensor:
        """Stack prepared images into a normalised float (N, 3, S, S) tensor in channels_last."""
        stacked = torch.from_numpy(np.stack(arrays))  # (N, S, S, 3): already channels_last
        batch = stacked.permute(0, 3, 1, 2).to(torch.float32)
        mean = torch.tensor(self.mean, dtype=torch.float32).view(1, 3, 1, 1) * 255.0
        std = torch.tensor(self.std, dtype=torch.float32).view(1, 3, 1, 1) * 255.0
        return batch.sub_(mean).div_(std)
