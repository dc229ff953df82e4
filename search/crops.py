"""Finding the product in a photo from the backbone's own activations, without a detector.

Selective convolutional descriptor aggregation (Wei et al., IEEE TIP 2017) observed that, in an
ImageNet CNN's last feature map summed over channels, the object is where the sum is above its
mean, in one connected region. The box around the largest such region is where the product is:
the query is cropped to it (with a margin) and embedded again, at the full input size. A box
covering nearly the whole picture (a packshot on white, a close-up) means there is nothing to
crop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch.nn import functional

# A box covering more than this share of the picture is no crop at all.
WHOLE_PICTURE = 0.9
# The box grows by this share of its size on each side: activations end inside object edges.
MARGIN = 0.1


@dataclass(frozen=True)
class Box:
    """A region as fractions of the picture's height and width, [top, bottom) x [left, right)."""

    top: float
    left: float
    bottom: float
    right: float

    @property
    def area(self) -> float:
        return (self.bottom - self.top) * (self.right - self.left)


def largest_region(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """The largest 4-connected region of a boolean map (empty map: all False)."""
    height, width = mask.shape
    labels = np.zeros(mask.shape, dtype=np.int32)
    best, best_size, label = 0, 0, 0
    for start in zip(*np.nonzero(mask), strict=True):
        if labels[start]:
            continue
        label += 1
        labels[start] = label
        stack, size = [start], 0
        while stack:
            row, col = stack.pop()
            size += 1
            for near in ((row - 1, col), (row + 1, col), (row, col - 1), (row, col + 1)):
                if 0 <= near[0] < height and 0 <= near[1] < width:
                    if mask[near] and not labels[near]:
                        labels[near] = label
                        stack.append(near)
        if size > best_size:
            best, best_size = label, size
    result: npt.NDArray[np.bool_] = labels == best if best else np.zeros_like(mask)
    return result


def salient_box(activation: npt.NDArray[np.floating], margin: float = MARGIN) -> Box | None:
    """The box around the largest above-mean region of a (h, w) activation map, widened by
    `margin`; None when it covers (nearly) the whole picture or nothing stands out."""
    mask = activation > activation.mean()
    region = largest_region(mask)
    if not region.any():
        return None
    rows, cols = np.nonzero(region)
    height, width = activation.shape
    top, bottom = rows.min() / height, (rows.max() + 1) / height
    left, right = cols.min() / width, (cols.max() + 1) / width
    grow_y, grow_x = (bottom - top) * margin, (right - left) * margin
    box = Box(
        max(0.0, top - grow_y),
        max(0.0, left - grow_x),
        min(1.0, bottom + grow_y),
        min(1.0, right + grow_x),
    )
    return None if box.area > WHOLE_PICTURE else box


def crop_batch(batch: torch.Tensor, activations: torch.Tensor) -> torch.Tensor:
    """Each image of a normalised (N, 3, S, S) batch cropped to its salient box and resized
    back to S x S; images with nothing to crop stay as they are.

    Args:
        batch: the model's input.
        activations: (N, C, h, w) its last feature maps, summed over channels here.
    """
    size = batch.shape[-1]
    maps = activations.float().sum(dim=1).cpu().numpy()
    crops = []
    for image, activation in zip(batch, maps, strict=True):
        box = salient_box(activation)
        if box is None:
            crops.append(image)
            continue
        top, bottom = int(box.top * size), max(int(np.ceil(box.bottom * size)), 1)
        left, right = int(box.left * size), max(int(np.ceil(box.right * size)), 1)
        region = image[:, top:bottom, left:right].unsqueeze(0)
        resized = functional.interpolate(
            region, size=(size, size), mode="bilinear", align_corners=False, antialias=True
        )
        crops.append(resized[0])
    return torch.stack(crops).contiguous(memory_format=torch.channels_last)
