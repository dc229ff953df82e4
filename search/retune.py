"""Keeping a served index's nprobe tuned as admin writes change it.

`facet build` tunes nprobe on every build. Admin writes add and remove vectors in the service
without a build; once they have changed more than a share of the index, the service measures the
recall@10 of its nprobe again, in the background, and re-tunes it (`LiveIndex`). The reference
is the index itself searched through every list and re-ranked with the stored vectors (exact
search would read every stored vector), with catalogue images' own vectors as the queries.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from search.index import VectorIndex, VectorLookup

log = logging.getLogger(__name__)
K = 10


@dataclass(frozen=True)
class Tuning:
    """The served nprobe and its last measured recall@10."""

    nprobe: int
    recall_at_10: float
    measured_at: float  # time.time()
    queries: int  # 0: as the build measured it


def retune(
    index: VectorIndex, lookup: VectorLookup, *, target: float, queries: int, seed: int = 1338
) -> Tuning:
    """Measure and re-tune `index.nprobe` (set in place: searches in flight keep the nprobe they
    read) to the smallest that reaches `target` recall@10 on `queries` sampled images."""
    ids = index.ids()
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(ids, min(queries, len(ids)), replace=False))
    vectors = index.query_space(lookup(sample), photos=False)
    truth = index.search(vectors, K, nprobe=index.nlist, lookup=lookup).ids
    # Tuning passes each nprobe it tries explicitly and sets the answer once, at the end.
    nprobe, recall = index.tune_nprobe(vectors, truth, target=target, lookup=lookup)
    return Tuning(nprobe, round(recall, 4), time.time(), len(sample))


@dataclass(frozen=True)
class RetunePolicy:
    """When and how the service re-tunes: after changes of more than `share` of the index."""

    share: float = 0.1
    target: float = 0.95
    queries: int = 200


class Retuner:
    """Counts what admin writes changed in the served index and re-tunes it in the background
    once that passes the policy's share; `tuning` is what `/v1/health` shows."""

    def __init__(self, policy: RetunePolicy) -> None:
        self.policy = policy
        self.tuning: Tuning | None = None
        self.changed = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def loaded(self, nprobe: int, recall_at_10: float) -> None:
        """A build was loaded: its own tuning is current."""
        with self._lock:
            self.changed = 0
            self.tuning = Tuning(nprobe, recall_at_10, time.time(), 0)

    def note(
        self,
        changed: int,
        index: VectorIndex,
        lookup: VectorLookup,
        apply: Callable[[Tuning], None],
    ) -> None:
        """`changed` vectors were added or removed; re-tune `index` if that is enough, then
        `apply` the result (to whatever index is live by then)."""
        with self._lock:
            self.changed += changed
            if self.changed <= self.policy.share * max(index.ntotal, 1):
                return
            if self._thread is not None and self._thread.is_alive():
                return  # one at a time; the changes it misses count towards the next
            self.changed = 0
            self._thread = threading.Thread(
                target=self._run, args=(index, lookup, apply), name="retune", daemon=True
            )
            self._thread.start()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a re-tune in progress (tests, shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(
        self, index: VectorIndex, lookup: VectorLookup, apply: Callable[[Tuning], None]
    ) -> None:
        try:
            tuning = retune(index, lookup, target=self.policy.target, queries=self.policy.queries)
        except Exception:  # the old nprobe keeps serving; the next writes try again
            log.exception("re-tuning nprobe failed")
            return
        log.info("nprobe re-tuned to %d: recall@10 %.3f", tuning.nprobe, tuning.recall_at_10)
        self.tuning = tuning
        apply(tuning)
