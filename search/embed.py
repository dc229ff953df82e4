"""Embedding images with a backbone: batched, channels_last, bf16 where the CPU supports it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from enum import StrEnum

import numpy as np
import numpy.typing as npt
import torch
from PIL import Image
from torch.nn import functional

from search.backbones import Backbone

log = logging.getLogger(__name__)


class Precision(StrEnum):
    AUTO = "auto"  # bf16 where the CPU has native bf16 instructions, else fp32
    BF16 = "bf16"
    FP32 = "fp32"


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX); emulated bf16 is slower."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def resolve_precision(precision: Precision) -> Precision:
    if precision is Precision.AUTO:
        return Precision.BF16 if cpu_has_bf16() else Precision.FP32
    return precision


class Embedder:
    """Turns prepared images into L2-normalised float32 vectors with one backbone."""

    def __init__(self, backbone: Backbone, *, precision: Precision = Precision.AUTO) -> None:
        self.backbone = backbone
        self.preprocessing = backbone.preprocessing
        self.precision = resolve_precision(precision)
        self.model = backbone.model.to(memory_format=torch.channels_last)
        log.debug("embedder %s in %s", backbone.identity, self.precision)

    @property
    def dim(self) -> int:
        return self.backbone.dim

    def embed_arrays(self, arrays: Sequence[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float32]:
        """Embed images already prepared by `preprocessing.prepare`.

        Returns:
            (len(arrays), dim) float32, each row of unit length.
        """
        if not arrays:
            return np.zeros((0, self.dim), dtype=np.float32)
        batch = self.preprocessing.to_batch(arrays)
        with torch.inference_mode():
            if self.precision is Precision.BF16:
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    features = self.model(batch)
            else:
                features = self.model(batch)
            vectors = functional.normalize(features.float(), dim=1)
        return vectors.numpy().astype(np.float32, copy=False)

    def embed_images(self, images: Sequence[Image.Image]) -> npt.NDArray[np.float32]:
        """Embed decoded RGB images (see `search.images.decode_image`)."""
        return self.embed_arrays([self.preprocessing.prepare(image) for image in images])
