"""Embedding images with a backbone: batched, channels_last, bf16 where the CPU supports it."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import torch
from PIL import Image
from torch.nn import functional

from search.backbones import Backbone
from search.config import Precision
from search.crops import crop_batch
from search.finetuned import read_heads
from search.views import View

__all__ = ["Embedder", "HeadPredictions", "Precision", "cpu_has_bf16", "resolve_precision"]

log = logging.getLogger(__name__)


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX); emulated bf16 is slower."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def resolve_precision(precision: Precision, device: torch.device | None = None) -> Precision:
    """`auto` -> bf16 where the device computes it natively (CUDA since Ampere; CPUs with
    AVX-512 BF16 or AMX), else fp32."""
    if precision is not Precision.AUTO:
        return precision
    if device is not None and device.type == "cuda":
        native = torch.cuda.is_bf16_supported(including_emulation=False)
        return Precision.BF16 if native else Precision.FP32
    return Precision.BF16 if cpu_has_bf16() else Precision.FP32


@dataclass(frozen=True)
class HeadPredictions:
    """A fine-tuned model's answers for n images."""

    probabilities: dict[str, npt.NDArray[np.float32]]  # label -> (n, classes)
    values: dict[str, npt.NDArray[np.float32]]  # numeric field -> (n,), in the field's units


class Embedder:
    """Turns prepared images into L2-normalised float32 vectors with one backbone.

    Images go through the model `batch_size` at a time, on `device` (a torch device name,
    already resolved by `search.devices.resolve_device`); vectors come back to the CPU.

    After `compile()`, the model runs as a torch.compile (inductor) graph: 1.19x bf16 eager's
    throughput here (scripts/bench_embed.py), for a one-time cost of 3 to 20 seconds, so it pays
    off for large batches of work only.
    """

    def __init__(
        self,
        backbone: Backbone,
        *,
        precision: Precision = Precision.AUTO,
        batch_size: int = 32,
        views: tuple[View, ...] = (View(),),
        device: str = "cpu",
    ) -> None:
        self.backbone = backbone
        self.views = views  # for query photos (search.views); the catalogue uses the default
        self.preprocessing = backbone.preprocessing
        self.device = torch.device(device)
        self.precision = resolve_precision(precision, self.device)
        self.batch_size = batch_size
        self.model = backbone.model.to(self.device).to(memory_format=torch.channels_last)
        if backbone.heads is not None:
            backbone.heads.to(self.device)
        self._forward: Callable[[torch.Tensor], torch.Tensor] = self.model
        self.compiled = False
        log.debug("embedder %s in %s on %s", backbone.identity, self.precision, self.device)

    @property
    def dim(self) -> int:
        return self.backbone.dim

    def compile(self, cache_dir: Path | None = None) -> float:
        """Compile the model now (not at the first batch); returns the seconds it took.

        Falls back to eager execution, with a warning, where compilation is impossible (no C++
        compiler, unsupported platform).
        """
        if self.compiled:
            return 0.0
        if cache_dir is not None:
            cache_dir.mkdir(parents=True, exist_ok=True)
            os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir))
        started = time.perf_counter()
        # Shapes never change: every batch is padded to batch_size, so nothing recompiles.
        self._forward = torch.compile(self.model, dynamic=False)
        self.compiled = True
        size = self.preprocessing.input_size
        try:
            self.embed_arrays([np.zeros((size, size, 3), dtype=np.uint8)])
        except Exception as error:  # inductor raises many kinds of errors
            log.warning("torch.compile failed, running eagerly: %s", error)
            self._forward = self.model
            self.compiled = False
        return time.perf_counter() - started

    def embed_arrays(self, arrays: Sequence[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float32]:
        """Embed images already prepared by `preprocessing.prepare`.

        Returns:
            (len(arrays), dim) float32, each row of unit length.
        """
        chunks = [
            self._embed_batch(arrays[start : start + self.batch_size])
            for start in range(0, len(arrays), self.batch_size)
        ]
        if not chunks:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.concatenate(chunks)

    def predict(
        self, arrays: Sequence[npt.NDArray[np.uint8]]
    ) -> dict[str, npt.NDArray[np.float32]]:
        """Class probabilities of a fine-tuned model's classification heads: label -> (n, classes).

        Raises:
            ValueError: the backbone has no heads (it was not fine-tuned).
        """
        return self.predict_heads(arrays).probabilities

    def predict_heads(self, arrays: Sequence[npt.NDArray[np.uint8]]) -> HeadPredictions:
        """What every head of a fine-tuned model says, from one pass through the backbone.

        Raises:
            ValueError: the backbone has no heads (it was not fine-tuned).
        """
        heads = self.backbone.heads
        if heads is None:
            raise ValueError(f"{self.backbone.name} has no classification heads")
        batch = self.preprocessing.to_batch(arrays, self.device)
        with torch.inference_mode():
            with self._autocast():
                features = self.model(batch)
            probabilities, values = read_heads(heads, features.float())
        return HeadPredictions(
            probabilities={label: p.cpu().numpy() for label, p in probabilities.items()},
            values={field: v.cpu().numpy() for field, v in values.items()},
        )

    def embed_images(self, images: Sequence[Image.Image]) -> npt.NDArray[np.float32]:
        """Embed decoded RGB images (see `search.decoding.decode_image`)."""
        return self.embed_arrays([self.preprocessing.prepare(image) for image in images])

    def embed_files(
        self, sources: Sequence[bytes | Path], *, max_pixels: int
    ) -> npt.NDArray[np.float32]:
        """Embed encoded images (bytes or paths): decode, prepare, embed.

        Raises:
            ImageDecodeError: one of them is not a decodable image within `max_pixels`.
        """
        prepare = self.preprocessing.load
        return self.embed_arrays([prepare(s, max_pixels=max_pixels).pixels for s in sources])

    def _embed_batch(self, arrays: Sequence[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float32]:
        return self.embed_batch(self.preprocessing.to_batch(arrays, self.device))

    def embed_batch(self, batch: torch.Tensor) -> npt.NDArray[np.float32]:
        """Embed a normalised (N, 3, S, S) batch already on the device (N <= batch_size), e.g.
        JPEGs decoded there (`search.jpeg_batches`)."""
        count = len(batch)
        if self.compiled and count < self.batch_size:
            padding = batch.new_zeros((self.batch_size - count, *batch.shape[1:]))
            batch = torch.cat([batch, padding]).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            total = None
            for view in self.views:
                with self._autocast():
                    if view.crop:
                        maps = cast(Any, self.model).forward_features(batch)
                        features = self._forward(crop_batch(batch, maps))
                    else:
                        features = self._forward(view.apply(batch))
                # Each view counts the same, whatever the length of its raw features.
                unit = functional.normalize(features[:count].float(), dim=1)
                total = unit if total is None else total + unit
            assert total is not None
            vectors = functional.normalize(total, dim=1)
        return vectors.cpu().numpy().astype(np.float32, copy=False)

    def _autocast(self) -> torch.autocast:
        bf16 = self.precision is Precision.BF16
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16)
