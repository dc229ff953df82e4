"""Where a build's backbone comes from, as plain values: what any process can load it again from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from search.backbones import Backbone, load_backbone


@dataclass(frozen=True)
class BackboneSource:
    """A backbone's name and weights; picklable, so Ray workers load what the driver loaded."""

    name: str
    weights: Path | None = None
    pretrained: bool = True
    models_dir: Path | None = None

    def load(self) -> Backbone:
        """The backbone, in eval mode (see `load_backbone`).

        Raises:
            BackboneUnavailable: unknown name, or its weights can be neither found nor downloaded.
        """
        return load_backbone(
            self.name, weights=self.weights, pretrained=self.pretrained, models_dir=self.models_dir
        )
