"""Fine-tuned models: a backbone retrained on a catalogue, with one classification head per label.

A model lives in its own folder (under FACET_HOME/models/<name>/): `model.pt` holds the backbone's
and the heads' weights, `model.json` the base backbone, the label vocabularies and the training
metrics. The backbone registry loads it by name like any other backbone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional

from search.errors import BackboneUnavailable

MODEL_FILE = "model.pt"
META_FILE = "model.json"


class ProxyHead(nn.Module):
    """A normalised-softmax (proxy) classifier: logits are the cosines between the L2-normalised
    features and one learned proxy per class, divided by a temperature.

    Trained with cross-entropy, it pulls every image of a class (catalogue packshot and shopper
    photo alike) towards one direction, which is what nearest-neighbour search over normalised
    vectors needs; a linear head only separates classes (Zhai & Wu, "Classification is a strong
    baseline for deep metric learning", BMVC 2019).
    """

    def __init__(self, dim: int, classes: int, temperature: float) -> None:
        super().__init__()
        self.proxies = nn.Parameter(torch.randn(classes, dim) / dim**0.5)
        self.temperature = temperature

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        cosines = functional.normalize(features, dim=1) @ functional.normalize(self.proxies).T
        return cosines / self.temperature


def build_heads(
    dim: int,
    vocabularies: dict[str, list[str]],
    dropout: float,
    *,
    metric_label: str | None = None,
    temperature: float = 0.1,
) -> nn.ModuleDict:
    """One head per label over the pooled backbone features: dropout + a linear classifier, or a
    proxy head for `metric_label` (the label whose classes retrieval should tell apart)."""
    heads: dict[str, nn.Module] = {}
    for label, classes in vocabularies.items():
        if label == metric_label:
            heads[label] = ProxyHead(dim, len(classes), temperature)
        else:
            heads[label] = nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, len(classes)))
    return nn.ModuleDict(heads)


@dataclass
class ModelInfo:
    name: str
    base: str  # the registry backbone it was trained from
    vocabularies: dict[str, list[str]]
    dropout: float
    # The label trained with a proxy head (metric learning), and that head's temperature.
    metric_label: str | None = None
    temperature: float = 0.1
    # Recorded for people and tools reading the folder; loading takes it from the base backbone.
    preprocessing: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""

    def heads(self, dim: int) -> nn.ModuleDict:
        """Freshly initialised heads of this model's shape, to load its weights into."""
        return build_heads(
            dim,
            self.vocabularies,
            self.dropout,
            metric_label=self.metric_label,
            temperature=self.temperature,
        )


def save_model(folder: Path, info: ModelInfo, backbone: nn.Module, heads: nn.ModuleDict) -> None:
    """Write a model folder atomically (files first under temporary names)."""
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / f".{MODEL_FILE}.tmp"
    torch.save({"backbone": backbone.state_dict(), "heads": heads.state_dict()}, weights)
    meta = folder / f".{META_FILE}.tmp"
    meta.write_text(json.dumps(info.__dict__, indent=2), encoding="utf-8")
    weights.replace(folder / MODEL_FILE)
    meta.replace(folder / META_FILE)


def read_model_info(folder: Path) -> ModelInfo:
    try:
        return ModelInfo(**json.loads((folder / META_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as error:
        raise BackboneUnavailable(f"model {folder.name}: unreadable {META_FILE}: {error}") from None


def load_weights(folder: Path) -> dict[str, dict[str, torch.Tensor]]:
    try:
        state: dict[str, dict[str, torch.Tensor]] = torch.load(
            folder / MODEL_FILE, map_location="cpu", weights_only=True
        )
    except Exception as error:  # torch raises many kinds for a bad file
        raise BackboneUnavailable(
            f"model {folder.name}: unreadable {MODEL_FILE}: {error}"
        ) from None
    return state
