"""GeM pooling: its maths on a known tensor, and `+gem` backbones as named variants."""

from __future__ import annotations

from typing import Any, cast

import pytest
import torch

from search.backbones import load_backbone
from search.errors import BackboneUnavailable
from search.pooling import GeM


def test_gem_on_a_known_tensor() -> None:
    features = torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 1, 2, 2)
    assert GeM(p=3)(features).item() == pytest.approx(25.0 ** (1 / 3))  # (1+8+27+64)/4 = 25
    assert GeM(p=1)(features).item() == pytest.approx(features.mean().item())  # p=1: average
    assert GeM(p=50)(features).item() == pytest.approx(4.0, rel=0.03)  # large p: nearly max
    assert GeM(p=3)(features).item() > features.mean().item()
    assert GeM(keep_dims=True)(features).shape == (1, 1, 1, 1)


@pytest.mark.slow  # builds two pretrained backbones
def test_a_gem_backbone_is_a_different_model_with_its_own_identity() -> None:
    plain = load_backbone("efficientnet_lite0")  # the packaged ImageNet weights
    gem = load_backbone("efficientnet_lite0+gem")
    assert gem.name == "efficientnet_lite0+gem" and gem.identity == f"{plain.identity}+gem"
    assert gem.classifier is None and gem.dim == plain.dim
    batch = torch.rand(2, 3, 224, 224)
    with torch.inference_mode():
        features = cast(Any, plain.model).forward_features(batch)
        assert torch.allclose(gem.model(batch), GeM()(features), atol=1e-5)
        assert not torch.allclose(gem.model(batch), plain.model(batch), rtol=0.05)


def test_unknown_poolings_and_fine_tuned_variants_are_refused() -> None:
    with pytest.raises(BackboneUnavailable, match="unknown pooling 'max'"):
        load_backbone("efficientnet_lite0+max", pretrained=False)
    with pytest.raises(BackboneUnavailable, match="unknown backbone 'mymodel'"):
        load_backbone("mymodel+gem", pretrained=False)
