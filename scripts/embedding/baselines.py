"""What the pipeline is measured against: a naive loop, and the model alone."""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torchvision import transforms

from search.backbones import Backbone, load_backbone
from search.config import Precision
from search.embed import Embedder


def make_embedder(
    backbone: Backbone, *, precision: Precision, batch_size: int, device: str
) -> Embedder:
    """An embedder on `device`; the device is passed on only where Embedder takes one.

    Raises:
        SystemExit: a device other than the CPU, and an Embedder without device support.
    """
    options: dict[str, Any] = {"precision": precision, "batch_size": batch_size}
    if "device" in inspect.signature(Embedder.__init__).parameters:
        options["device"] = device
    elif device != "cpu":
        raise SystemExit(f"bench_embed: this Embedder runs on the CPU only, not {device}")
    return Embedder(backbone, **options)


def naive(paths: list[Path], backbone_name: str) -> tuple[float, np.ndarray]:
    """One image at a time, PIL decode at full size, torchvision transforms, fp32."""
    backbone = load_backbone(backbone_name)
    prep = backbone.preprocessing
    transform = transforms.Compose(
        [
            transforms.Resize(prep.input_size),
            transforms.CenterCrop(prep.input_size),
            transforms.ToTensor(),
            transforms.Normalize(prep.mean, prep.std),
        ]
    )
    vectors = []
    with torch.inference_mode():
        backbone.model(torch.zeros(1, 3, prep.input_size, prep.input_size))  # warm-up
        started = time.perf_counter()
        for path in paths:
            image = Image.open(path).convert("RGB")
            features = backbone.model(transform(image).unsqueeze(0))
            vectors.append(torch.nn.functional.normalize(features, dim=1)[0].numpy())
        seconds = time.perf_counter() - started
    return seconds, np.stack(vectors)


def forward_only(paths: list[Path], embedder: Embedder, *, max_pixels: int) -> float:
    """The model alone: seconds to embed the images already decoded and prepared (untimed),
    at the embedder's batch size and precision, after a warm-up batch."""
    prep = embedder.preprocessing
    arrays = [prep.load(path, max_pixels=max_pixels).pixels for path in paths]
    embedder.embed_arrays(arrays[: embedder.batch_size])
    started = time.perf_counter()
    embedder.embed_arrays(arrays)
    return time.perf_counter() - started
