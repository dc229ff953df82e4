"""A backbone's input preprocessing: geometry on PIL images, normalisation on whole batches."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from PIL import Image

from search.decoding import decode_image_with_size


@dataclass(frozen=True)
class PreparedImage:
    """An image ready for the model, and the size it was stored at."""

    pixels: npt.NDArray[np.uint8]  # (input_size, input_size, 3)
    width: int
    height: int


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
        # The sizes and offsets of torchvision's Resize(size) + CenterCrop(size), so vectors match
        # the usual reference pipeline; but resizing straight into the crop box, which computes
        # only the pixels that survive the crop.
        if width <= height:
            new_w, new_h = size, int(size * height / width)
        else:
            new_w, new_h = int(size * width / height), size
        left, top = int(round((new_w - size) / 2)), int(round((new_h - size) / 2))
        scale_x, scale_y = width / new_w, height / new_h
        box = (
            left * scale_x,
            top * scale_y,
            (left + size) * scale_x,
            (top + size) * scale_y,
        )
        resized = image.resize((size, size), Image.Resampling.BILINEAR, box=box)
        return np.asarray(resized, dtype=np.uint8)

    def load(
        self,
        source: bytes | Path,
        *,
        max_pixels: int,
        formats: Collection[str] | None = None,
    ) -> PreparedImage:
        """Decode an encoded image (bytes, or a file) and prepare it: the one path from a file to
        the model's input, for the catalogue, uploads, the CLI and evaluation alike.

        Args:
            source: the encoded bytes, or a path to them.
            max_pixels: larger images are refused before their pixels are decoded.
            formats: Pillow format names allowed (uploads); None accepts any (the catalogue).

        Raises:
            ImageDecodeError: not an image, not an allowed format, corrupt, or too large.
        """
        image, width, height = decode_image_with_size(
            source, max_pixels=max_pixels, draft_size=self.decode_size, formats=formats
        )
        return PreparedImage(self.prepare(image), width, height)

    @property
    def decode_size(self) -> int:
        """The smallest side JPEGs are decoded at (PIL draft mode): twice the input size.

        Decoding at 1/4 scale or less straight to about the input size loses detail that the
        bilinear resize keeps (cosine to full decoding dropped to 0.990); twice the input size
        keeps vectors at 0.999 of full decoding for half the work.
        """
        return 2 * self.input_size

    def to_batch(
        self, arrays: Sequence[npt.NDArray[np.uint8]], device: torch.device | None = None
    ) -> torch.Tensor:
        """Stack prepared images into a normalised float (N, 3, S, S) tensor in channels_last.

        On a CUDA `device`, the uint8 pixels are copied from pinned memory without blocking and
        normalised there: a quarter of the bytes of float pixels cross the bus, and the copy
        overlaps the GPU's work on the previous batch.
        """
        stacked = torch.from_numpy(np.stack(arrays))  # (N, S, S, 3): already channels_last
        if device is not None and device.type != "cpu":
            stacked = stacked.pin_memory().to(device, non_blocking=True)
        batch = stacked.permute(0, 3, 1, 2).to(torch.float32)
        mean = torch.tensor(self.mean, dtype=torch.float32, device=batch.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32, device=batch.device).view(1, 3, 1, 1)
        return batch.sub_(mean * 255.0).div_(std * 255.0)
