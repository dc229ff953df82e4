"""The fault suite with the real model: kill -9 `facet build` mid-publish, and the whole
`scripts/bench_faults.py --quick` run (minutes: both are slow tests)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scripts.faults.common import (
    REPO,
    check_store,
    child_env,
    current_load_error,
    kill_at,
    start_facet,
)

REQUIRED = (
    "kills",
    "lost_rows",
    "verify_failures",
    "fuzz_cases",
    "fuzz_5xx",
    "peak_rss_mb_fuzz",
    "concurrent_changes",
    "lost_changes",
    "soak_requests",
    "soak_errors",
    "soak_rss_growth",
)


@pytest.mark.slow
def test_a_build_killed_while_publishing_leaves_a_loadable_current(
    built_home: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(built_home, home)
    builds = home / "indexes" / "builds"
    process = start_facet(home, "build", "--rebuild")
    # Kill the moment the new build's staging folder appears, i.e. inside publish.
    while process.poll() is None and not any(builds.glob(".staging-*")):
        time.sleep(0.001)
    kill_at(process, 0.0)
    if process.stderr:
        process.stderr.close()

    assert current_load_error(home) is None
    check = check_store(home)
    assert not check.failed, check.problems


@pytest.mark.slow
def test_bench_faults_quick_loses_nothing(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "scripts/bench_faults.py", "--quick", "--json", "--keep", str(tmp_path)],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=REPO,
        timeout=1800,
        check=False,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(REQUIRED) <= report.keys()
    assert report["kills"] >= 9
    assert result.returncode == 0, result.stderr[-5000:]
