"""How the Ray engine splits a cluster between reading actors and embedding actors.

On CPUs only, reading takes a quarter of the CPUs: decoding a catalogue photo (~1000x1000 JPEG,
draft mode) took 3.6 ms here and Lite0's forward pass 16.1 ms an image (one thread, bf16), so
reading is about a fifth of the work, and a little more leaves room for larger photos and
downloads. Readers ask for half a CPU each, so that a small machine need not give a whole core
to reading. With GPUs, one embedder per GPU, and every other CPU reads: decoding is then the
bottleneck.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from search.errors import FacetError

READ_SHARE = 0.25  # of a CPU-only cluster's CPUs
CPUS_PER_READER_ON_CPU = 0.5
MAX_CPUS_PER_EMBEDDER = 8  # beyond this, intra-op threads scale poorly: start another actor


class EngineUnavailable(FacetError):
    """The asked-for build engine cannot run here (not installed, no GPU on the cluster)."""


@dataclass(frozen=True)
class ActorPlan:
    """The actors' resource requests (Ray's logical CPUs and GPUs) and sizes."""

    embedders: int
    cpus_per_embedder: float
    gpus_per_embedder: int
    readers: int  # the most reading actors (Ray Data starts more as work queues up)
    cpus_per_reader: float

    @property
    def threads(self) -> int:
        """Torch threads per embedder: its CPUs, rounded up (what readers leave idle of a
        shared core, the model uses)."""
        return max(1, math.ceil(self.cpus_per_embedder))


def plan_actors(
    node_cpus: list[float], gpus: int, *, device: str, embedders: int | None = None
) -> ActorPlan:
    """Split a cluster between readers and embedders.

    Args:
        node_cpus: each node's CPUs (nodes without CPUs are left out).
        gpus: the cluster's GPUs.
        device: "cpu" never asks for GPUs; "cuda" (or "cuda:N") requires them; "auto" uses
            them where there are any.
        embedders: how many embedding actors; None: one per GPU, or enough for the CPUs.

    Raises:
        EngineUnavailable: `device` asks for CUDA and the cluster has no GPU.
    """
    cpus = sum(c for c in node_cpus if c > 0) or 1.0
    if device != "cpu" and gpus > 0:
        count = embedders or gpus
        return ActorPlan(count, 1.0, 1, readers=max(1, int(cpus - count)), cpus_per_reader=1.0)
    if device.startswith("cuda"):
        raise EngineUnavailable(f"device {device}: the Ray cluster has no GPU")
    embedding = cpus * (1 - READ_SHARE)
    # An actor must fit on one node: no bigger than the smallest node's share.
    smallest = min((c for c in node_cpus if c > 0), default=cpus)
    size = min(MAX_CPUS_PER_EMBEDDER, smallest * (1 - READ_SHARE))
    count = embedders or max(1, round(embedding / size))
    each = _floor2(min(size, embedding / count))
    spare = cpus - count * each
    readers = max(1, int(spare / CPUS_PER_READER_ON_CPU))
    return ActorPlan(count, each, 0, readers=readers, cpus_per_reader=CPUS_PER_READER_ON_CPU)


def _floor2(value: float) -> float:
    # Ray takes fractional resources to a few decimals; rounding down never over-asks.
    return max(0.01, math.floor(value * 100) / 100)
