"""`facet-serve` / `python -m api`: the API's own entry point, with settings from its options."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.slow  # a second Python process, torch imported: 4 s
def test_python_m_api_serves_the_given_home(tmp_path: Path) -> None:
    port = free_port()
    home = tmp_path / "served-home"
    server = subprocess.Popen(
        [sys.executable, "-m", "api", "--home", str(home), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/v1/ready", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, "the server exited"
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        assert response.status_code == 503  # nothing built in this home yet
        assert (home / "facet.db").is_file()  # --home was honoured, not FACET_HOME
    finally:
        server.terminate()
        server.wait(10)
