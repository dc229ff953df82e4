"""The embedding settings (`FACET_EMBED__...`): the backbone, where and how images are embedded.

Part of `search.config`'s `Settings`; kept free of torch, like the rest of the settings.
"""

from __future__ import annotations

import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from search.views import parse_views


class Precision(StrEnum):
    """Inference precision (defined here, not beside the embedder, so the CLI needs no torch)."""

    AUTO = "auto"  # bf16 where the CPU has native bf16 instructions, else fp32
    BF16 = "bf16"
    FP32 = "fp32"


class EmbedSettings(BaseModel):
    """The backbone and how the catalogue is embedded."""

    backbone: str = "efficientnet_lite0"
    # A local weights file for the backbone (e.g. ResNet weights on a machine without internet).
    weights: Path | None = None
    # Where images are embedded, by `facet build`, `facet evaluate`, `facet search` and the
    # service: auto (the first CUDA GPU where there is one, else the CPU), cpu, cuda or cuda:N.
    device: str = "auto"
    # "auto" uses bf16 where the device computes it natively (AVX-512 BF16 / AMX, CUDA since
    # Ampere), else fp32.
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    # Images per forward pass; None: 32 on a CPU (larger batches gain nothing here), 256 on a
    # GPU, which needs large batches to be kept busy.
    batch_size: int | None = Field(default=None, ge=1, le=4096)
    # torch.compile the model: 3-20 s once, then 1.19x bf16 eager's throughput (132.2 versus
    # 111.0 images/s in scripts/bench_embed.py). "auto" compiles when a build has at least
    # compile_min_images images to embed, where that pays off.
    compile: Literal["auto", "on", "off"] = "auto"
    compile_min_images: int = Field(default=1000, ge=0)
    # Threads decoding and resizing images while the model runs; None sizes them from the
    # cores: on a CPU a quarter of them (at least 2; torch's threads use the rest), on a GPU all
    # of them, since decoding is then the bottleneck (docs/scaling.md).
    decode_workers: int | None = Field(default=None, ge=1, le=256)
    # Who decodes plain JPEGs (RGB or grey, upright) in `facet build`: "pillow" in the
    # decoding threads, or "device": torchvision's decode_jpeg on the embedding device (nvJPEG
    # on a GPU, where Pillow cannot keep up with the model; search/jpeg_batches.py). Other
    # images always go through Pillow.
    jpeg_decoder: Literal["pillow", "device"] = "pillow"
    # Images with more pixels are refused before decoding (decompression bombs).
    max_image_pixels: int = Field(default=50_000_000, ge=1)
    # How query photos are embedded (search/views.py): "1" as prepared; e.g. "1,1f,1.4" adds
    # the mirror image and a 1.4x enlargement, averaged (about 4x the model time per query).
    # Read by `facet build`, which records it in the build for the service to use.
    query_views: str = "1"

    @field_validator("device")
    @classmethod
    def _device_names_one(cls, value: str) -> str:
        if value in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", value):
            return value
        raise ValueError("use auto, cpu, cuda or cuda:N")

    def batch_for(self, device: str) -> int:
        """Images per forward pass on a resolved device."""
        if self.batch_size is not None:
            return self.batch_size
        return 32 if device == "cpu" else 256

    def decode_workers_for(self, device: str) -> int:
        """Decoding threads on a resolved device, sized from this machine's cores."""
        if self.decode_workers is not None:
            return self.decode_workers
        cores = os.cpu_count() or 1
        return max(2, cores // 4) if device == "cpu" else max(2, cores)

    @field_validator("query_views")
    @classmethod
    def _views_parse(cls, value: str) -> str:
        parse_views(value)
        return ",".join(part.strip() for part in value.split(","))
