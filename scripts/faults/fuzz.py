"""Bad uploads against a live server: every answer a 200 or a 4xx problem+json, memory bounded.

Starts `uvicorn --factory api.app:create_app` on 127.0.0.1 (a free port) over a built home, sends
the generated bad-upload cases (tests/reliability/upload_cases.py: 2,000, or 200 with --quick)
to /v1/search and /v1/classify with 8 requests in flight, and samples the server's resident
memory throughout (VmRSS every 20 ms, and the kernel's high-water mark VmHWM at the end).

    python scripts/faults/fuzz.py [--quick] [--home DIR]   # without --home: a sample catalogue
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.reliability.upload_cases import UploadCase, generate_cases  # noqa: E402

log = logging.getLogger("faults.fuzz")
FULL_CASES = 2000
QUICK_CASES = 200
CONCURRENCY = 8
STARTUP_DEADLINE_S = 180.0
SAMPLE_EVERY_S = 0.02


def run(*, quick: bool, home: Path) -> dict[str, int | float]:
    """Fuzz a live server over `home` (ingested and built); the figures for bench_faults."""
    cases = list(generate_cases(QUICK_CASES if quick else FULL_CASES))
    with live_server(home) as (base_url, pid):
        sampler = RssSampler(pid)
        sampler.start()
        try:
            statuses, bad = asyncio.run(send_all(base_url, cases))
        finally:
            sampler.stop()
    for line in bad[:20]:
        log.warning("bad answer: %s", line)
    log.info("answers by status: %s", dict(sorted(statuses.items())))
    return {
        "fuzz_cases": len(cases),
        "fuzz_5xx": sum(count for status, count in statuses.items() if status >= 500),
        "peak_rss_mb_fuzz": round(sampler.peak_kb / 1024, 1),
        # Anything else than a 200 or a 4xx problem+json (5xx and lost connections included).
        "fuzz_bad_answers": len(bad),
    }


async def send_all(base_url: str, cases: list[UploadCase]) -> tuple[Counter[int], list[str]]:
    statuses: Counter[int] = Counter()
    bad: list[str] = []
    slots = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:

        async def send(number: int, case: UploadCase) -> None:
            path = "/v1/classify" if number % 4 == 3 else "/v1/search"
            files = {"image": (case.filename, case.data, case.content_type)}
            async with slots:
                try:
                    response = await client.post(path, files=files, data={"k": "3"})
                except httpx.HTTPError as error:
                    statuses[599] += 1  # no answer at all counts as a server failure
                    bad.append(f"{case.name}: {type(error).__name__} {error}")
                    return
            statuses[response.status_code] += 1
            problem = response.headers.get("content-type", "").startswith(
                "application/problem+json"
            )
            if not (response.status_code == 200 or (400 <= response.status_code < 500 and problem)):
                bad.append(f"{case.name}: {response.status_code} {response.text[:200]}")

        await asyncio.gather(*(send(number, case) for number, case in enumerate(cases)))
    return statuses, bad


class RssSampler:
    """The highest resident memory of a process while it runs (kB)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        # The kernel's high-water mark also catches spikes between two samples.
        self.peak_kb = max(self.peak_kb, self._read("VmHWM"))

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            self.peak_kb = max(self.peak_kb, self._read("VmRSS"))

    def _read(self, field: str) -> int:
        try:
            text = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return 0
        for line in text.splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
        return 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def live_server(home: Path) -> Iterator[tuple[str, int]]:
    """uvicorn serving `home` on loopback until the block ends: (base URL, server pid)."""
    port = free_port()
    env = {
        **os.environ,
        "FACET_HOME": str(home.resolve()),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    with tempfile.TemporaryFile() as output:
        # The home as working directory: no stray .env of the caller's changes the settings.
        server = subprocess.Popen(command, cwd=home, env=env, stdout=output, stderr=output)
        try:
            base_url = f"http://127.0.0.1:{port}"
            wait_until_ready(base_url, server, output)
            yield base_url, server.pid
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def wait_until_ready(base_url: str, server: subprocess.Popen[bytes], output: object) -> None:
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            output.seek(0)  # type: ignore[attr-defined]
            tail = output.read()[-3000:].decode(errors="replace")  # type: ignore[attr-defined]
            raise RuntimeError(f"the server exited with {server.returncode}:\n{tail}")
        try:
            if httpx.get(f"{base_url}/v1/ready", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server was not ready within {STARTUP_DEADLINE_S:.0f} s")


def build_sample_home(home: Path) -> None:
    """Ingest and build the sample catalogue under `home` with the real CLI."""
    catalog = REPO / "scripts" / "sample_catalog" / "catalog.csv"
    for step in (["ingest", str(catalog)], ["build"]):
        subprocess.run(
            [sys.executable, "-m", "indexer", "--home", str(home), *step],
            check=True,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.DEVNULL,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_CASES} cases, not all")
    parser.add_argument("--home", type=Path, help="a built FACET_HOME (default: sample, temp)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.home is not None:
        print(json.dumps(run(quick=args.quick, home=args.home), indent=2))
        return
    with tempfile.TemporaryDirectory(prefix="facet-fuzz-") as folder:
        home = Path(folder) / "home"
        build_sample_home(home)
        print(json.dumps(run(quick=args.quick, home=home), indent=2))


if __name__ == "__main__":
    main()
