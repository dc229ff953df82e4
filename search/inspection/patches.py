"""Patch features from a backbone's middle feature maps, as PatchCore takes them.

The middle stages describe local structure (edges, texture, small parts) without the last
stages' ImageNet-class bias: each position's features are averaged over its 3x3 neighbourhood
(a little context, robust to small shifts), the deeper map is upsampled to the shallower one's
grid, and the two are concatenated: one feature vector per patch of the photo.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from search.backbones import Backbone
from search.errors import BackboneUnavailable
from search.preprocess import Preprocessing, ResizeMode

# EfficientNet stages at strides 8 and 16 (timm's feature indices 2 and 3): for Lite0 at 224
# px, 40 + 112 channels on a 28 x 28 grid. ResNets: layer2 and layer3, as in the paper.
TIMM_STAGES = (2, 3)
BATCH = 16


class PatchExtractor:
    """Turns photos into (patches, features) arrays with one backbone, in eval mode.

    Photos are squashed whole to the backbone's input size rather than centre-cropped: a
    defect at the edge of the picture must be seen, and reference and inspected photos go
    through the same geometry.
    """

    def __init__(self, backbone: Backbone) -> None:
        self.identity = backbone.identity
        self.model: Any = backbone.model
        base = backbone.preprocessing
        self.preprocessing = Preprocessing(base.input_size, base.mean, base.std, ResizeMode.SQUASH)
        if not hasattr(self.model, "forward_intermediates") and not hasattr(self.model, "layer3"):
            raise BackboneUnavailable(f"{backbone.name}: no middle feature maps to inspect with")

    @property
    def input_size(self) -> int:
        return self.preprocessing.input_size

    def extract(self, arrays: Sequence[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float32]:
        """Patch features of prepared photos: (photos, grid_h * grid_w, dim) float32."""
        chunks = [
            self._batch(arrays[start : start + BATCH]) for start in range(0, len(arrays), BATCH)
        ]
        return np.concatenate(chunks) if chunks else np.zeros((0, 0, 0), dtype=np.float32)

    def grid(self) -> tuple[int, int]:
        """The patch grid of one photo (rows, columns)."""
        probe = np.zeros((1, self.input_size, self.input_size, 3), dtype=np.uint8)
        with torch.inference_mode():
            maps = self._maps(self.preprocessing.to_batch(list(probe)))
        return int(maps[0].shape[2]), int(maps[0].shape[3])

    def _batch(self, arrays: Sequence[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float32]:
        with torch.inference_mode():
            first, second = self._maps(self.preprocessing.to_batch(arrays))
            first = F.avg_pool2d(first, 3, stride=1, padding=1, count_include_pad=False)
            second = F.avg_pool2d(second, 3, stride=1, padding=1, count_include_pad=False)
            second = F.interpolate(
                second, size=first.shape[2:], mode="bilinear", align_corners=False
            )
            features = torch.cat([first, second], dim=1)  # (N, C, H, W)
            patches = features.flatten(2).transpose(1, 2)  # (N, H * W, C)
            return patches.float().contiguous().numpy()

    def _maps(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if hasattr(self.model, "forward_intermediates"):
            first, second = self.model.forward_intermediates(
                batch, indices=list(TIMM_STAGES), intermediates_only=True, stop_early=True
            )
            return first, second
        model = self.model  # torchvision ResNet: its stem, then layer1..layer3
        x = model.maxpool(model.relu(model.bn1(model.conv1(batch))))
        first = model.layer2(model.layer1(x))
        return first, model.layer3(first)
