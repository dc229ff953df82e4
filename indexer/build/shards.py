"""Sharded index builds: one trained quantizer, shards added in parallel, lists merged on disk.

The parent trains once on a sample and writes the trained, empty index. Each shard job (an id
range) opens the source itself, adds its chunks to a copy of that index and spills each chunk's
lists to a part file (so a worker holds one chunk, whatever its shard's size), and returns its
parts and its share of the tuning ground truth. The parent then writes the lists of all parts,
list by list, into one file that FAISS memory-maps (search.ondisk).

Jobs run through a `ShardMap`: a function that runs a job function over jobs and returns the
results in order. `local_map` uses worker processes on this machine; another engine (Ray tasks,
say) only needs to provide the same signature, and sources and jobs are picklable for it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from indexer.build.sources import VectorSource
from indexer.build.streaming import TUNE_K
from search.faiss_api import faiss
from search.index import FloatArray, IdArray, VectorIndex
from search.neighbours import TopK
from search.ondisk import PartFile, open_lists, scratch_dir, write_lists, write_part
from search.ondisk_index import OnDiskIndex

TRAINED_FILE = "trained.faiss"
INDEX_FILE = "index.faiss"


@dataclass(frozen=True)
class ShardJob:
    """One shard: add the source's vectors with `after` < id <= `until` to the trained index."""

    number: int
    source: VectorSource
    trained: str  # the trained empty index file (its descriptor transform beside it)
    factory: str
    after: int
    until: int | None
    rows: int  # per chunk
    queries: FloatArray  # tuning queries, in the index's space
    folder: str  # where its part files go
    threads: int  # FAISS threads in this worker


@dataclass(frozen=True)
class ShardResult:
    parts: list[str]
    added: int
    scores: FloatArray  # (nq, k): the shard's share of the ground truth
    ids: IdArray


ShardMap = Callable[[Callable[[ShardJob], ShardResult], Sequence[ShardJob]], list[ShardResult]]


def add_shard(job: ShardJob) -> ShardResult:
    """Run one shard job (in a worker process, usually)."""
    faiss.omp_set_num_threads(job.threads)
    index = VectorIndex.load(job.trained, factory=job.factory, trained_size=0, nprobe=1)
    assert index.ivf is not None
    truth = TopK(job.queries, TUNE_K)
    parts: list[str] = []
    added = 0
    for ids, vectors in job.source.chunks(after=job.after, until=job.until, rows=job.rows):
        space = index.query_space(vectors, photos=False)
        index.add(space, ids, in_index_space=True)
        truth.update(space, ids)
        part = Path(job.folder) / f"part-{job.number:04d}-{len(parts):06d}"
        parts.append(str(write_part(index.ivf.invlists, part)))
        index.index.reset()  # the chunk is on disk: hold nothing of it
        added += len(ids)
    return ShardResult(parts, added, truth.scores, truth.ids)


def serial_map(
    run: Callable[[ShardJob], ShardResult], jobs: Sequence[ShardJob]
) -> list[ShardResult]:
    """Run the jobs one after another in this process."""
    return [run(job) for job in jobs]


def local_map(workers: int) -> ShardMap:
    """Run jobs in up to `workers` processes of this machine (spawned: FAISS and OpenMP do not
    survive a fork well), each with an equal share of the cores for FAISS."""

    def run_all(
        run: Callable[[ShardJob], ShardResult], jobs: Sequence[ShardJob]
    ) -> list[ShardResult]:
        count = min(workers, len(jobs))
        if count <= 1:
            return serial_map(run, jobs)
        context = get_context("spawn")
        with ProcessPoolExecutor(max_workers=count, mp_context=context) as pool:
            return list(pool.map(run, jobs))

    return run_all


def shard_bounds(ids: IdArray, shards: int) -> list[tuple[int, int | None]]:
    """(after, until] id ranges splitting the ids into `shards` even parts, covering every id
    (ones stored after the catalogue was listed included)."""
    shards = max(1, min(shards, len(ids)))
    cuts = [int(ids[len(ids) * i // shards - 1]) for i in range(1, shards)]
    starts = [-1, *cuts]
    ends: list[int | None] = [*cuts, None]
    return list(zip(starts, ends, strict=True))


def build_sharded(
    source: VectorSource,
    ids: IdArray,
    trained: VectorIndex,
    *,
    shards: int,
    rows: int,
    queries: FloatArray,
    folder: Path,
    shard_map: ShardMap,
    workers: int,
) -> tuple[OnDiskIndex, TopK]:
    """Add the catalogue to `trained` in shards and write the lists on disk.

    Args:
        source: where the vectors are (picklable).
        ids: the catalogue's ids, ascending (they only decide the ranges).
        trained: the trained, empty index (not changed).
        shards: how many jobs.
        rows: rows per chunk.
        queries: tuning queries in the index's space, for the ground truth.
        folder: where scratch folders go (the builds folder, so publishing can link the lists).
        shard_map: runs the jobs.
        workers: processes expected to run at once (sets FAISS threads per job).

    Returns:
        (an on-disk index in a scratch folder of its own, the ground truth of the queries).
    """
    work = scratch_dir(folder)
    try:
        trained.save(str(work / TRAINED_FILE))
        threads = max(1, (os.cpu_count() or 1) // max(1, min(workers, shards)))
        jobs = [
            ShardJob(
                number,
                source,
                str(work / TRAINED_FILE),
                trained.factory,
                after,
                until,
                rows,
                queries,
                str(work),
                threads,
            )
            for number, (after, until) in enumerate(shard_bounds(ids, shards))
        ]
        results = shard_map(add_shard, jobs)
        truth = TopK(queries, TUNE_K)
        for result in results:
            truth.merge(result.scores, result.ids)
        return _merge(trained, [part for r in results for part in r.parts], folder), truth
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _merge(trained: VectorIndex, parts: list[str], folder: Path) -> OnDiskIndex:
    assert trained.ivf is not None
    nlist, code_size = int(trained.ivf.nlist), int(trained.ivf.code_size)
    sources = [PartFile(Path(part), nlist=nlist, code_size=code_size) for part in parts]
    out = scratch_dir(folder)
    try:
        index_path = write_lists(
            faiss.clone_index(trained.index), sources, out, index_file=INDEX_FILE
        )
        return OnDiskIndex(
            open_lists(index_path),
            trained.factory,
            trained.trained_size,
            trained.transform,
            path=index_path,
            scratch=out,
        )
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        for source in sources:
            source.close()
