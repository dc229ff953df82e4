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

from search.errors import BackboneUnavailable

MODEL_FILE = "model.pt"
META_FILE = "model.json"


def build_heads(dim: int, vocabularies: dict[str, list[str]], dropout: float) -> nn.ModuleDict:
    """One dropout + linear classifier per label, over the pooled backbone features."""
    return nn.ModuleDict(
        {
            label: nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, len(classes)))
            for label, classes in vocabularies.items()
        }
    )


@dataclass
class ModelInfo:
    name: str
    base: str  # the registry backbone it was trained from
    vocabularies: dict[str, list[str]]
    dropout: float
    # Recorded for people and tools reading the folder; loading takes it from the base backbone.
    preprocessing: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""


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
