"""The fault suite's live server: uvicorn in its own process, and the admin calls it takes."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from scripts.faults.common import API_KEY, READY_TIMEOUT_S, REPO, child_env

# --- a live server -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    """uvicorn serving `home` on 127.0.0.1, in its own process (killed or stopped by the suite)."""

    def __init__(self, home: Path, log: Path, **env: str) -> None:
        self.home = home
        self.log = log
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        env = child_env(FACET_HOME=str(self.home), FACET_API__API_KEY=API_KEY, **self.env)
        command = [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    *command,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--log-level",
                    "warning",
                ],
                env=env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.wait_ready()
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def wait_ready(self) -> dict[str, Any]:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"the server exited ({self.process.returncode}): see {self.log}")
            try:
                response = httpx.get(f"{self.url}/v1/ready", timeout=5)
                if response.status_code == 200:
                    ready: dict[str, Any] = response.json()
                    return ready
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(
            f"the server was not ready within {READY_TIMEOUT_S:.0f} s: see {self.log}"
        )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def rss_mb(self) -> float | None:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except (OSError, ValueError):
            return None
        return None

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def admin_headers() -> dict[str, str]:
    return {"X-API-Key": API_KEY}


def put_product(client: httpx.Client, sku: str, image: bytes, title: str) -> httpx.Response:
    return client.put(
        f"/v1/products/{sku}",
        files=[("images", (f"{sku}.png", image, "image/png"))],
        data={"title": title, "category": "Fault"},
        headers=admin_headers(),
    )


def search_skus(client: httpx.Client, image: bytes, k: int = 10) -> list[str] | None:
    """The SKUs a search with `image` finds, or None when the search failed."""
    response = client.post(
        "/v1/search", files={"image": ("query.png", image, "image/png")}, data={"k": str(k)}
    )
    if response.status_code != 200:
        return None
    return [hit["sku"] for hit in response.json()["results"]]
