"""Synthetic catalogue vectors that any process can regenerate by id, a chunk at a time.

Like image embeddings (and like bench_index's in-memory set): product clusters of very different
sizes (Zipf-like), variation along 64 directions, a little noise, unit length. Each vector is a
function of its id alone (counter-based hashing, no sequential random stream), so shard workers
generate their own id ranges and re-ranking looks vectors up by id, as they would read the store.
Image ids are 2*i + 1 (ids are not positions).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

LATENT = 64
NOISE_POOL = 4096
BLOCK = 8192  # ids generated at once
U64 = npt.NDArray[np.uint64]


def _mix(keys: U64) -> U64:
    """splitmix64: a good 64-bit hash of each key."""
    with np.errstate(over="ignore"):
        z = keys + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _uniform(keys: U64) -> npt.NDArray[np.float64]:
    """Uniform in (0, 1), one per key."""
    return ((_mix(keys) >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53


class SyntheticSource:
    """n clustered unit vectors of dim floats; a VectorSource (indexer.build.sources)."""

    def __init__(self, n: int, dim: int, seed: int = 1338) -> None:
        self.n, self.dim, self.seed = n, dim, seed
        rng = np.random.default_rng(seed)
        clusters = max(1, n // 500)
        self.centres = rng.standard_normal((clusters, dim), dtype=np.float32)
        self.basis = rng.standard_normal((LATENT, dim), dtype=np.float32) / 8.0
        weights = 1.0 / np.arange(1, clusters + 1) ** 0.8
        self.cdf = np.cumsum(weights) / weights.sum()
        self.noise = rng.standard_normal((NOISE_POOL, dim), dtype=np.float32) * 0.05

    def catalogue(self) -> tuple[npt.NDArray[np.int64], int]:
        return np.arange(self.n, dtype=np.int64) * 2 + 1, 0

    def vectors(self, ids: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """The vectors of these ids, made a block at a time into the result (as the store's
        reader fills its result), so that generating costs no more memory than reading."""
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        for start in range(0, len(ids), BLOCK):
            out[start : start + BLOCK] = self._block(ids[start : start + BLOCK])
        return out

    def _block(self, ids: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        rows = ((np.asarray(ids, dtype=np.int64) - 1) // 2).astype(np.uint64)
        salt = np.uint64(self.seed) << np.uint64(40)
        cluster = np.minimum(
            np.searchsorted(self.cdf, _uniform(rows ^ salt)), len(self.centres) - 1
        )
        # Box-Muller: LATENT normals from LATENT uniform pairs' keys.
        keys = (rows[:, None] * np.uint64(LATENT) + np.arange(LATENT, dtype=np.uint64)) ^ salt
        radius = np.sqrt(-2.0 * np.log(_uniform(keys * np.uint64(2) + np.uint64(1))))
        latent = (radius * np.cos(2 * np.pi * _uniform(keys * np.uint64(2)))).astype(np.float32)
        block = self.centres[cluster] + latent @ self.basis
        block += self.noise[_mix(rows + salt) % np.uint64(NOISE_POOL)]
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        return block

    def chunks(
        self, *, after: int, until: int | None, rows: int
    ) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
        first = max(0, (after + 1) // 2)
        end = self.n if until is None else min(self.n, (until - 1) // 2 + 1)
        for start in range(first, end, rows):
            ids = np.arange(start, min(end, start + rows), dtype=np.int64) * 2 + 1
            yield ids, self.vectors(ids)
