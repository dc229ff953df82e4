"""Nearest good patch distances with FAISS: a photo's patch scores and its image score."""

from __future__ import annotations

import faiss
import numpy as np
import numpy.typing as npt


class PatchSearch:
    """An exact L2 index over a memory bank's patches (banks are small: exact is cheap)."""

    def __init__(self, bank: npt.NDArray[np.float32]) -> None:
        self.index = faiss.IndexFlatL2(bank.shape[1])
        self.index.add(np.ascontiguousarray(bank, dtype=np.float32))

    def distances(self, patches: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Each patch's Euclidean distance to its nearest bank patch: (photos, patches)."""
        photos, count, dim = patches.shape
        flat = np.ascontiguousarray(patches.reshape(photos * count, dim), dtype=np.float32)
        squared, _ = self.index.search(flat, 1)
        return np.sqrt(np.maximum(squared[:, 0], 0.0)).reshape(photos, count).astype(np.float32)


def image_scores(patch_distances: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """A photo's score: its most anomalous patch's distance (PatchCore's image score)."""
    return patch_distances.max(axis=1) if patch_distances.size else np.zeros(0, np.float32)
