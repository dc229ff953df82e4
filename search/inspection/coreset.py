"""Greedy coreset subsampling (PatchCore's memory bank reduction).

Greedy k-centre selection keeps the patches that cover the feature space best: each pick is the
patch farthest from everything picked so far, so rare but good structure survives, which a
random subsample would drop and later call a defect. Distances are measured on a seeded random
projection to at most 128 dimensions (Johnson-Lindenstrauss), as in the paper, to keep it cheap.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch

PROJECTED_DIM = 128
SEED = 1338


def greedy_coreset(features: npt.NDArray[np.float32], size: int) -> npt.NDArray[np.int64]:
    """Indices of `size` rows of `features` (N, D) chosen by greedy k-centre selection.

    Deterministic: the projection is seeded and the first pick is row 0's farthest-first start.
    """
    count = features.shape[0]
    if size >= count:
        return np.arange(count, dtype=np.int64)
    points = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    if points.shape[1] > PROJECTED_DIM:
        generator = torch.Generator().manual_seed(SEED)
        projection = torch.randn(points.shape[1], PROJECTED_DIM, generator=generator)
        points = points @ (projection / PROJECTED_DIM**0.5)
    chosen = np.empty(size, dtype=np.int64)
    nearest = torch.full((count,), float("inf"))
    pick = 0
    with torch.inference_mode():
        for step in range(size):
            chosen[step] = pick
            distances = (points - points[pick]).pow_(2).sum(dim=1)
            torch.minimum(nearest, distances, out=nearest)
            pick = int(torch.argmax(nearest))
    return chosen
