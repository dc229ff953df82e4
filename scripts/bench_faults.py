"""The fault suite's long run: crashes, bad uploads, concurrency and a soak, against the real CLI
and a live uvicorn on 127.0.0.1.

    python scripts/bench_faults.py [--quick] [--json] [--soak-seconds N] [--only PART ...]

Each part works in its own copy of one sample-catalogue home (under a temporary folder), uses
fixed seeds and bounded loops, and stops by itself. The full run kills each writer 20 times and
soaks for 10 minutes; `--quick` kills 3 times each and soaks for 20 s. With `--json` the last
line is one JSON object with kills, lost_rows, verify_failures, fuzz_cases, fuzz_5xx,
peak_rss_mb_fuzz, concurrent_changes, lost_changes, soak_requests, soak_errors and
soak_rss_growth (plus details). The exit status is 1 when anything was lost or failed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from scripts.faults import concurrency, crash, soak  # noqa: E402
from scripts.faults.common import prepare_home  # noqa: E402

PARTS = ("crash", "fuzz", "concurrency", "soak")
# Counts that must be zero (soak_rss_growth is judged against MAX_RSS_GROWTH).
MUST_BE_ZERO = (
    "lost_rows",
    "verify_failures",
    "partial_writes",
    "fuzz_5xx",
    "lost_changes",
    "concurrency_errors",
    "soak_errors",
)
MAX_RSS_GROWTH = 0.10
log = logging.getLogger("bench_faults")


def run_fuzz(*, quick: bool, home: Path) -> dict[str, Any]:
    try:  # written separately; optional until it lands
        fuzz = importlib.import_module("scripts.faults.fuzz")
    except ImportError as error:
        return {
            "fuzz_cases": None,
            "fuzz_5xx": None,
            "peak_rss_mb_fuzz": None,
            "fuzz_note": f"scripts/faults/fuzz.py is not available: {error}",
        }
    result: dict[str, Any] = fuzz.run(quick=quick, home=home)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="A small version of every part.")
    parser.add_argument("--json", action="store_true", help="End with one JSON object.")
    parser.add_argument("--soak-seconds", type=float, default=None, help="Soak duration.")
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--keep", type=Path, default=None, help="Work here and keep the files.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    results: dict[str, Any] = {
        "kills": None,
        "lost_rows": None,
        "verify_failures": None,
        "fuzz_cases": None,
        "fuzz_5xx": None,
        "peak_rss_mb_fuzz": None,
        "concurrent_changes": None,
        "lost_changes": None,
        "soak_requests": None,
        "soak_errors": None,
        "soak_rss_growth": None,
    }
    with tempfile.TemporaryDirectory(prefix="facet-faults-") as temporary:
        work = args.keep or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        log.info("preparing the sample catalogue in %s", work / "base")
        if not (work / "base").exists():
            prepare_home(work / "base")
        for part in args.only:
            log.info("running %s", part)
            part_started = time.monotonic()
            if part == "crash":
                results.update(crash.run(quick=args.quick, home=work))
            elif part == "fuzz":
                # The fuzz serves a copy of the built sample catalogue.
                home = work / "fuzz"
                if not home.exists():
                    shutil.copytree(work / "base", home)
                results.update(run_fuzz(quick=args.quick, home=home))
            elif part == "concurrency":
                results.update(concurrency.run(quick=args.quick, home=work))
            else:
                results.update(soak.run(quick=args.quick, home=work, seconds=args.soak_seconds))
            results[f"{part}_seconds"] = round(time.monotonic() - part_started, 1)
        results["seconds"] = round(time.monotonic() - started, 1)
    failed = [key for key in MUST_BE_ZERO if results.get(key)]
    growth = results.get("soak_rss_growth")
    if growth is not None and growth > MAX_RSS_GROWTH:
        failed.append("soak_rss_growth")
    results["failed"] = failed
    _print_human(results)
    if args.json:
        print(json.dumps(results))
    return 1 if failed else 0


def _print_human(results: dict[str, Any]) -> None:
    """One line per figure, then every failure the parts described."""
    out = sys.stdout if "--json" not in sys.argv else sys.stderr
    for key, value in results.items():
        if isinstance(value, list | dict) and key != "failed":
            continue
        print(f"{key:<28} {value}", file=out)
    for key, value in results.items():
        if key.endswith("_failures") and isinstance(value, list):
            for failure in value:
                print(f"  {key}: {failure}", file=out)
    print("FAILED: " + ", ".join(results["failed"]) if results["failed"] else "OK", file=out)


if __name__ == "__main__":
    sys.exit(main())
