"""Metric-learning fine-tuning: the proxy head's maths, which images train, where proxies start."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional

from indexer.training.batches import repeat_catalogue, split_examples
from indexer.training.data import Example
from indexer.training.steps import start_proxies
from search.backbones import load_backbone
from search.finetuned import ProxyHead, build_heads


def test_proxy_logits_are_cosines_over_the_temperature() -> None:
    head = ProxyHead(dim=2, classes=2, temperature=0.1)
    with torch.no_grad():
        head.proxies.copy_(torch.tensor([[2.0, 0.0], [0.0, 5.0]]))  # lengths must not matter
    features = torch.tensor([[3.0, 3.0], [0.0, -1.0]])
    expected = torch.tensor([[0.5**0.5, 0.5**0.5], [0.0, -1.0]]) / 0.1
    assert torch.allclose(head(features), expected, atol=1e-5)


def test_only_the_metric_label_gets_a_proxy_head() -> None:
    heads = build_heads(8, {"sku": ["a", "b"], "category": ["x", "y"]}, 0.2, metric_label="sku")
    assert isinstance(heads["sku"], ProxyHead)
    assert isinstance(heads["category"], torch.nn.Sequential)


def examples(photos: int, packshots: int) -> list[Example]:
    made = [Example(Path(f"p{i}.jpg"), {"sku": str(i % 3)}) for i in range(photos)]
    return made + [
        Example(Path(f"c{i}.jpg"), {"sku": str(i)}, catalogue=True) for i in range(packshots)
    ]


def test_validation_holds_out_photos_never_the_catalogue_images() -> None:
    options = SimpleNamespace(seed=7, validation_fraction=0.3)
    train, validation = split_examples(examples(20, 10), options)
    assert len(validation) == 9 and not any(e.catalogue for e in validation)
    assert sum(e.catalogue for e in train) == 10 and len(train) == 21


def test_without_photos_catalogue_images_are_held_out_as_before() -> None:
    options = SimpleNamespace(seed=7, validation_fraction=0.3)
    train, validation = split_examples(examples(0, 10), options)
    assert len(validation) == 3 and len(train) == 7


def test_catalogue_images_repeat_only_beside_photos() -> None:
    mixed = repeat_catalogue(examples(5, 2), 4)
    assert len(mixed) == 5 + 2 * 4 and sum(e.catalogue for e in mixed) == 8
    only = examples(0, 2)
    assert repeat_catalogue(only, 4) == only


@pytest.mark.slow  # embeds with a real (random-weight) backbone
def test_proxies_start_at_the_mean_direction_of_their_catalogue_images(tmp_path: Path) -> None:
    backbone = load_backbone("efficientnet_lite0", pretrained=False)
    rng = np.random.default_rng(3)
    made = []
    for index, sku in enumerate(["a", "a", "b"]):
        path = tmp_path / f"{index}.png"
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
        made.append(Example(path, {"sku": sku}, catalogue=True))
    head = ProxyHead(backbone.dim, 3, 0.1)
    untouched = head.proxies[2].detach().clone()
    device = torch.device("cpu")
    classes = {"a": 0, "b": 1, "c": 2}
    assert start_proxies(head, "sku", made, classes, backbone, device=device, bf16=False) == 2

    prep = backbone.preprocessing
    pixels = [prep.prepare(Image.open(e.path).convert("RGB")) for e in made]
    with torch.inference_mode():
        features = functional.normalize(backbone.model(prep.to_batch(pixels)), dim=1)
    expected_a = functional.normalize(features[0] + features[1], dim=0)
    assert torch.allclose(head.proxies[0].detach(), expected_a, atol=1e-4)
    assert torch.allclose(head.proxies[1].detach(), features[2], atol=1e-4)
    assert torch.equal(head.proxies[2].detach(), untouched)  # no catalogue image: random start
