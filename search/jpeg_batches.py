"""Decoding catalogue JPEGs in batches on the embedding device (nvJPEG on a CUDA GPU).

On a GPU, embedding outruns Pillow: an H200 embeds 22,000+ images/s while 16 cores decode about
1,800 catalogue-size JPEGs/s, and nvJPEG about 6,100 (issue 12's figures). This path hands the
encoded bytes of plain JPEGs to `torchvision.io.decode_jpeg` on the device and resizes them there
with the geometry of `Preprocessing.prepare`; everything else (other formats, CMYK, EXIF-rotated
pictures, files Pillow must refuse with a reason) keeps the Pillow path, so a picture looks the
same to the model whichever path it took. The same code runs on the CPU, where it is tested.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from PIL import Image
from torch.nn import functional
from torchvision.io import ImageReadMode, decode_jpeg

from search.preprocess import Preprocessing, ResizeMode

JPEG_MAGIC = b"\xff\xd8\xff"
EXIF_ORIENTATION = 0x0112
# Modes nvJPEG and libjpeg turn into RGB as Pillow does; CMYK and YCCK JPEGs are not among them.
PLAIN_MODES = frozenset({"RGB", "L"})


@dataclass(frozen=True)
class DeviceBatch:
    """Decoded JPEGs ready for the model, and those that would not decode."""

    pixels: torch.Tensor  # (n_ok, 3, S, S) normalised float, channels_last, on the device
    decoded: list[int]  # positions (in the input) of the rows of `pixels`
    failed: dict[int, str]  # position -> why it did not decode


def plain_jpeg_size(data: bytes, *, max_pixels: int) -> tuple[int, int] | None:
    """(width, height) of a JPEG the device path decodes as Pillow would, from its header only;
    None sends it down the Pillow path (not a JPEG, CMYK, rotated by EXIF, over `max_pixels`,
    unreadable header), which also gives a refused file its reason."""
    if not data.startswith(JPEG_MAGIC):
        return None
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG"]) as image:
            if image.mode not in PLAIN_MODES:
                return None
            if image.getexif().get(EXIF_ORIENTATION, 1) != 1:
                return None
            width, height = image.size
    except Exception:  # Pillow raises many kinds for a damaged header; its path names them
        return None
    if width * height > max_pixels:
        return None
    return width, height


def decode_on_device(
    encoded: Sequence[bytes], preprocessing: Preprocessing, device: torch.device
) -> DeviceBatch:
    """Decode JPEGs on `device` and prepare them for the model.

    The batch is decoded in one call; when any of it is corrupt, each is decoded alone so that
    only the corrupt ones fail.
    """
    tensors = [torch.frombuffer(bytearray(data), dtype=torch.uint8) for data in encoded]
    try:
        images: list[torch.Tensor | str] = list(_decode(tensors, device))
    except RuntimeError:
        images = [_decode_one(tensor, device) for tensor in tensors]
    decoded = [i for i, image in enumerate(images) if isinstance(image, torch.Tensor)]
    failed = {i: image for i, image in enumerate(images) if isinstance(image, str)}
    size = preprocessing.input_size
    prepared = [_prepare(images[i], preprocessing) for i in decoded]  # type: ignore[arg-type]
    if prepared:
        stacked = torch.stack(prepared)
    else:
        stacked = torch.zeros((0, 3, size, size), dtype=torch.float32, device=device)
    mean = torch.tensor(preprocessing.mean, device=device).view(1, 3, 1, 1) * 255.0
    std = torch.tensor(preprocessing.std, device=device).view(1, 3, 1, 1) * 255.0
    pixels = stacked.sub_(mean).div_(std).contiguous(memory_format=torch.channels_last)
    return DeviceBatch(pixels, decoded, failed)


def _decode(tensors: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    if not tensors:
        return []
    with warnings.catch_warnings():
        # torchvision 0.29 points to TorchCodec for decoding; decode_jpeg still works and is
        # what runs here and with nvJPEG (docs/scaling.md).
        warnings.simplefilter("ignore", DeprecationWarning)
        images = decode_jpeg(tensors, mode=ImageReadMode.RGB, device=device)
    return images if isinstance(images, list) else [images]


def _decode_one(tensor: torch.Tensor, device: torch.device) -> torch.Tensor | str:
    try:
        return _decode([tensor], device)[0]
    except RuntimeError as error:
        return f"corrupt JPEG: {str(error).splitlines()[-1].strip()}"


def _prepare(image: torch.Tensor, preprocessing: Preprocessing) -> torch.Tensor:
    """A (3, H, W) uint8 image -> (3, S, S) float in 0-255, with `Preprocessing.prepare`'s
    geometry: the shorter side to S and the centre square (CROP), or the whole image (SQUASH)."""
    size = preprocessing.input_size
    height, width = image.shape[1], image.shape[2]
    region = image
    if preprocessing.resize is ResizeMode.CROP:
        if width <= height:
            new_w, new_h = size, int(size * height / width)
        else:
            new_w, new_h = int(size * width / height), size
        left, top = round((new_w - size) / 2), round((new_h - size) / 2)
        scale_x, scale_y = width / new_w, height / new_h
        # The crop box in source pixels, to whole pixels: Pillow's box is fractional, which
        # shifts the picture by under one source pixel (cosine to Pillow's vectors >= 0.99).
        x0, y0 = round(left * scale_x), round(top * scale_y)
        x1 = max(x0 + 1, round((left + size) * scale_x))
        y1 = max(y0 + 1, round((top + size) * scale_y))
        region = image[:, y0:y1, x0:x1]
    resized = functional.interpolate(
        region.unsqueeze(0).float(),
        size=(size, size),
        mode="bilinear",
        align_corners=False,
        antialias=True,  # as Pillow's BILINEAR, which widens its filter when shrinking
    )
    return resized[0].round_().clamp_(0, 255)  # as the uint8 pixels of the Pillow path
