"""Heatmaps: patch distances upsampled to the photo and smoothed, and their PNG overlays."""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from PIL import Image

# PatchCore smooths the upsampled map with a Gaussian of sigma 4 px at 224 px.
SIGMA_FRACTION = 4 / 224
# Colours from cool to hot (blue, cyan, yellow, red) for the overlay.
ANCHORS = np.array([[0, 0, 255], [0, 255, 255], [255, 255, 0], [255, 0, 0]], dtype=np.float32)
OVERLAY_SIDE = 512


def heatmap(
    distances: npt.NDArray[np.float32], grid: tuple[int, int], size: int
) -> npt.NDArray[np.float32]:
    """One photo's patch distances (grid_h * grid_w,) as a smoothed (size, size) map."""
    grid_map = torch.from_numpy(np.ascontiguousarray(distances, dtype=np.float32)).view(1, 1, *grid)
    upsampled = F.interpolate(grid_map, size=(size, size), mode="bilinear", align_corners=False)
    sigma = max(SIGMA_FRACTION * size, 0.5)
    radius = int(round(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    padded = F.pad(upsampled, (radius, radius, radius, radius), mode="replicate")
    smoothed = F.conv2d(padded, kernel.view(1, 1, 1, -1))
    smoothed = F.conv2d(smoothed, kernel.view(1, 1, -1, 1))
    return smoothed[0, 0].numpy()


def peak(heat: npt.NDArray[np.float32]) -> tuple[float, float]:
    """Where a heatmap is hottest, as fractions (x, y) of its width and height."""
    row, column = np.unravel_index(int(np.argmax(heat)), heat.shape)
    return float((column + 0.5) / heat.shape[1]), float((row + 0.5) / heat.shape[0])


def colourise(values: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    """Values in [0, 1] as RGB colours, cool to hot."""
    position = np.clip(values, 0, 1) * (len(ANCHORS) - 1)
    low = np.floor(position).astype(np.int64).clip(0, len(ANCHORS) - 2)
    weight = (position - low)[..., None]
    rgb: npt.NDArray[np.float32] = ANCHORS[low] * (1 - weight) + ANCHORS[low + 1] * weight
    return rgb.astype(np.uint8)


def overlay_png(photo: Image.Image, heat: npt.NDArray[np.float32], threshold: float) -> bytes:
    """The photo (longer side at most 512 px) with its heatmap laid over it, as PNG bytes.

    Colours are scaled so the threshold sits at the middle (cyan to yellow): hot means more
    anomalous than any good photo was; cool parts are drawn fainter so the photo shows through.
    """
    picture = photo.convert("RGB")
    picture.thumbnail((OVERLAY_SIDE, OVERLAY_SIDE))
    resized = Image.fromarray(heat.astype(np.float32), mode="F").resize(
        picture.size, Image.Resampling.BILINEAR
    )
    scaled = np.asarray(resized, dtype=np.float32) / max(2 * threshold, 1e-6)
    colours = colourise(scaled).astype(np.float32)
    alpha = (0.25 + 0.45 * np.clip(scaled, 0, 1))[..., None]
    base = np.asarray(picture, dtype=np.float32)
    blended = (base * (1 - alpha) + colours * alpha).clip(0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(blended).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
