"""The fine-tuned heads' accuracy on the test photos (fine and coarse class)."""

from __future__ import annotations

from pathlib import Path

import torch

from search.backbones import load_backbone
from search.decoding import decode_image


def head_accuracy(
    home: Path, model: str, rows: list[tuple[Path, str]], category: dict[str, str]
) -> dict[str, float]:
    backbone = load_backbone(model, models_dir=home / "models")
    assert backbone.heads is not None
    prep = backbone.preprocessing
    right = {"sku": 0, "category": 0}
    for start in range(0, len(rows), 32):
        chunk = rows[start : start + 32]
        arrays = [
            prep.prepare(decode_image(path, draft_size=prep.decode_size)) for path, _ in chunk
        ]
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            features = backbone.model(prep.to_batch(arrays)).float()
            predictions = {
                label: backbone.heads[label](features).argmax(dim=1).tolist() for label in right
            }
        for label, predicted in predictions.items():
            classes = backbone.vocabularies[label]
            for (_, sku), index in zip(chunk, predicted, strict=True):
                truth = sku if label == "sku" else category[sku]
                right[label] += classes[index] == truth
    return {
        f"{'fine' if k == 'sku' else 'coarse'}_accuracy": round(v / len(rows), 4)
        for k, v in right.items()
    }
