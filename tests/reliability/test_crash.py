"""Crash at any moment, on a small scale: kill -9 the real `facet ingest` and index publishers.

The long version (20+ kills of ingest, build and the server) is `scripts/bench_faults.py`.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

from scripts.faults.common import REPO, child_env, facet, kill_at, start_facet, titles, write_dump
from search.builds import BuildStore

ROWS = 20_000
SKUS = [f"crash-{i:05d}" for i in range(ROWS)]


def test_a_killed_ingest_leaves_the_dump_all_old_or_all_new(tmp_path: Path) -> None:
    home = tmp_path / "home"
    dump = tmp_path / "dump.csv"
    write_dump(dump, SKUS, tag="old")
    assert facet(home, "ingest", str(dump)).returncode == 0
    write_dump(dump, SKUS, tag="new", seed=1)

    process = start_facet(home, "ingest", str(dump))
    # Starting Python takes ~0.5 s, the one transaction ~0.8 s: the kill lands before, inside
    # or after it; every outcome must hold the invariant.
    killed = kill_at(process, random.Random(3).uniform(0.4, 1.3))
    if process.stderr:
        process.stderr.close()

    assert facet(home, "status", "--json").returncode == 0, "the database must still open"
    rows = titles(home, "crash-")
    versions = {title.rsplit(" ", 1)[-1] for title in rows.values()}
    assert len(rows) == ROWS
    assert versions in ({"old"}, {"new"}), f"half-written ingest (killed={killed}): {versions}"
    if not killed:
        assert process.returncode == 0 and versions == {"new"}


def _publisher(root: Path, count: int, seed: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.publisher", str(root), str(count), str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # One thread: two publishers' OpenMP thread pools spinning on a small machine would
        # turn a one-second test into ten.
        env=child_env(OMP_NUM_THREADS="1"),
        cwd=REPO,
    )


def _assert_every_build_loads(root: Path) -> None:
    store = BuildStore(root)
    current = store.load_current()
    assert current.manifest.build_id in store.build_ids()
    assert current.index.ntotal == current.manifest.ntotal
    for build_id in store.build_ids():
        assert store.manifest(build_id).ntotal == 100


def test_a_publisher_killed_mid_publish_leaves_a_whole_current_build(tmp_path: Path) -> None:
    root = tmp_path / "indexes"
    rng = random.Random(5)
    for kill in range(1):
        process = _publisher(root, 1000, seed=kill)
        assert process.stdout is not None
        for _ in range(2 + kill):  # let it publish a few builds, then kill it during the next
            assert process.stdout.readline().startswith("published")
        kill_at(process, rng.uniform(0.0, 0.02))
        process.stdout.close()
        if process.stderr:
            process.stderr.close()
        _assert_every_build_loads(root)


def test_two_publishing_processes_both_succeed_and_current_loads(tmp_path: Path) -> None:
    root = tmp_path / "indexes"
    publishers = [_publisher(root, 12, seed=seed) for seed in (1, 2)]
    outputs = [process.communicate(timeout=120) for process in publishers]
    for process, (_, stderr) in zip(publishers, outputs, strict=True):
        assert process.returncode == 0, stderr[-2000:]
    _assert_every_build_loads(root)
