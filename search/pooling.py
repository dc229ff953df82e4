"""Generalized-mean (GeM) pooling of a backbone's last feature map, as a named variant.

GeM (Radenović et al., TPAMI 2019) pools each channel as (mean of x**p)**(1/p): p = 1 is average
pooling, large p approaches max pooling, so strong local responses (the object) weigh more than a
large plain background. A backbone name with `+gem` (e.g. `efficientnet_lite0+gem`) swaps its
average pooling for GeM with p = 3; the vectors differ, so its identity differs too. Measured on
the Grocery set it did not help (docs/benchmarks.md#retrieval-quality); it is there to measure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from search.errors import BackboneUnavailable

if TYPE_CHECKING:
    from search.backbones import Backbone

GEM_P = 3.0


class GeM(nn.Module):
    """GeM over the spatial dimensions of (N, C, H, W): (N, C), or (N, C, 1, 1) if `keep_dims`."""

    def __init__(self, p: float = GEM_P, *, keep_dims: bool = False, eps: float = 1e-6) -> None:
        super().__init__()
        self.p, self.keep_dims, self.eps = p, keep_dims, eps

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        powered = features.float().clamp(min=self.eps).pow(self.p)
        pooled = powered.mean(dim=(2, 3), keepdim=self.keep_dims).pow(1.0 / self.p)
        return pooled.to(features.dtype)


def with_pooling(backbone: Backbone, pooling: str) -> Backbone:
    """The backbone with `pooling` ("gem") instead of average pooling, renamed to match.

    Raises:
        BackboneUnavailable: an unknown pooling.
    """
    if pooling != "gem":
        raise BackboneUnavailable(f"unknown pooling {pooling!r} (known: gem)")
    model = backbone.model
    if hasattr(model, "global_pool"):  # timm: pooled and flattened in one module
        model.global_pool = GeM()
    elif hasattr(model, "avgpool"):  # torchvision ResNet: flattened after the pool
        model.avgpool = GeM(keep_dims=True)
    else:
        raise BackboneUnavailable(f"{backbone.name}: no pooling layer to replace")
    backbone.name = f"{backbone.name}+{pooling}"
    backbone.identity = f"{backbone.identity}+{pooling}"
    backbone.classifier = None  # ImageNet logits were trained on average-pooled features
    return backbone
