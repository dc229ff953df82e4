"""The service in its own process, as in production, for the HTTP benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(
    home: Path, settings: dict[str, str], *, name: str, ready_s: float = 120
) -> tuple[subprocess.Popen[bytes], str]:
    """uvicorn serving `home` with these FACET_ settings on a free loopback port, once
    `/v1/ready` answers 200; exits with a one-line reason (`name: ...`) when it does not."""
    port = free_port()
    env = {**os.environ, "FACET_HOME": str(home), **settings}
    command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"]
    server = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env,
        cwd=REPO,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v1/ready", timeout=2).status_code == 200:
                return server, url
        except httpx.TransportError:
            pass
        if server.poll() is not None:
            sys.exit(f"{name}: the server exited")
        time.sleep(0.2)
    server.kill()
    sys.exit(f"{name}: the server did not become ready")
