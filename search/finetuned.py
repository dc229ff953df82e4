"""Fine-tuned models: a backbone retrained on a catalogue, with one head per label: a classifier
for a label with classes, a regression head for a numeric field (a price, a weight in carats).

A model lives in its own folder (under FACET_HOME/models/<name>/): `model.pt` holds the backbone's
and the heads' weights, `model.json` the base backbone, the label vocabularies, each numeric
field's mean and standard deviation and the training metrics. The backbone registry loads it by
name like any other backbone.
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


@dataclass(frozen=True)
class Standardisation:
    """A numeric field's mean and standard deviation over the training examples.

    Regression heads learn standardised targets (mean 0, deviation 1), so a price in the
    thousands and a weight of 0.3 carats train at the same learning rate and weigh alike in the
    summed loss; predictions go back to the field's units.
    """

    mean: float
    std: float

    def standardise(self, values: torch.Tensor) -> torch.Tensor:
        return (values - self.mean) / self.std

    def to_units(self, standardised: torch.Tensor) -> torch.Tensor:
        return standardised * self.std + self.mean


class RegressionHead(nn.Module):
    """Dropout + a linear layer to one number: the standardised value of a numeric field."""

    def __init__(self, dim: int, dropout: float, scale: Standardisation) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(dim, 1)
        # Not a buffer: model.json holds it (people read it there), the weights file does not.
        self.scale = scale

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(N, dim) features -> (N,) standardised predictions."""
        return self.linear(self.dropout(features)).squeeze(1)  # type: ignore[no-any-return]

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """(N, dim) features -> (N,) predictions in the field's units."""
        return self.scale.to_units(self(features))


def build_heads(
    dim: int,
    vocabularies: dict[str, list[str]],
    dropout: float,
    *,
    metric_label: str | None = None,
    temperature: float = 0.1,
    regression: dict[str, Standardisation] | None = None,
) -> nn.ModuleDict:
    """One head per label over the pooled backbone features: dropout + a linear classifier, or a
    proxy head for `metric_label` (the label whose classes retrieval should tell apart), then one
    regression head per numeric field of `regression`."""
    heads: dict[str, nn.Module] = {}
    for label, classes in vocabularies.items():
        if label == metric_label:
            heads[label] = ProxyHead(dim, len(classes), temperature)
        else:
            heads[label] = nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, len(classes)))
    for label, scale in (regression or {}).items():
        heads[label] = RegressionHead(dim, dropout, scale)
    return nn.ModuleDict(heads)


def read_heads(
    heads: nn.ModuleDict, features: torch.Tensor
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(class probabilities: label -> (N, classes), values in units: field -> (N,)) of every
    head, from the same (N, dim) features."""
    probabilities, values = {}, {}
    for label, head in heads.items():
        if isinstance(head, RegressionHead):
            values[label] = head.predict(features)
        else:
            probabilities[label] = torch.softmax(head(features), dim=1)
    return probabilities, values


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
    # Numeric fields with a regression head: field -> {"mean": ..., "std": ...} of the training
    # values, which turn the head's standardised output back into the field's units; and the
    # loss they trained with (l1 or l2). Absent from models older than regression heads.
    regression: dict[str, dict[str, float]] = field(default_factory=dict)
    regression_loss: str = "l1"

    def scales(self) -> dict[str, Standardisation]:
        """Each numeric field's standardisation (TypeError: a malformed entry)."""
        return {label: Standardisation(**scale) for label, scale in self.regression.items()}

    def heads(self, dim: int) -> nn.ModuleDict:
        """Freshly initialised heads of this model's shape, to load its weights into."""
        return build_heads(
            dim,
            self.vocabularies,
            self.dropout,
            metric_label=self.metric_label,
            temperature=self.temperature,
            regression=self.scales(),
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
        info = ModelInfo(**json.loads((folder / META_FILE).read_text(encoding="utf-8")))
        info.scales()  # checked here, so a bad entry is an unreadable model, not a traceback
        return info
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
