"""What the fault suite's parts share: the real CLI, a live uvicorn, generated data, checks."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "scripts" / "sample_catalog"
CATALOG = SAMPLE / "catalog.csv"
QUERIES = SAMPLE / "queries"
API_KEY = "fault-suite-admin-key"
# A real build loads torch and the model first: the bounds are generous, never reached when well.
CLI_TIMEOUT_S = 600.0
READY_TIMEOUT_S = 300.0


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a CLI or server child: this checkout first on the import path."""
    path = os.environ.get("PYTHONPATH", "")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), path) if p)}
    env.update(extra)
    return env


def facet_command(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "indexer", "--home", str(home), "--quiet", *args]


def facet(
    home: Path, *args: str, timeout: float = CLI_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """Run the real `facet` CLI to the end."""
    return subprocess.run(
        facet_command(home, *args),
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=REPO,
        timeout=timeout,
        check=False,
    )


def start_facet(home: Path, *args: str) -> subprocess.Popen[str]:
    """Start the real `facet` CLI (to be killed or waited for)."""
    return subprocess.Popen(
        facet_command(home, *args),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        cwd=REPO,
    )


def kill_at(process: subprocess.Popen[str], delay_s: float) -> bool:
    """SIGKILL the process after `delay_s` unless it ended first; True when it was killed."""
    try:
        process.wait(timeout=delay_s)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
        return True
    return False


def must(result: subprocess.CompletedProcess[str], what: str) -> subprocess.CompletedProcess[str]:
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed ({result.returncode}): {result.stderr or result.stdout}")
    return result


def prepare_home(home: Path) -> None:
    """Ingest the sample catalogue and build its index with the real default backbone."""
    home.mkdir(parents=True, exist_ok=True)
    must(facet(home, "ingest", str(CATALOG)), "facet ingest (sample catalogue)")
    must(facet(home, "build"), "facet build (sample catalogue)")


def sample_images() -> list[Path]:
    return sorted((SAMPLE / "images").glob("*.jpg"))


def query_photos() -> list[bytes]:
    return [path.read_bytes() for path in sorted(QUERIES.glob("*.jpg"))]


def catalogue_skus() -> list[str]:
    with CATALOG.open(encoding="utf-8", newline="") as handle:
        return [row["sku"] for row in csv.DictReader(handle)]


def write_dump(path: Path, skus: Iterable[str], *, tag: str, seed: int = 0) -> list[str]:
    """A CSV dump (written with the csv module) whose images are the sample catalogue's."""
    images = sample_images()
    rng = random.Random(seed)
    written = []
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["sku", "title", "description", "category", "price", "currency", "images"])
        for sku in skus:
            image = rng.choice(images)
            out.writerow([sku, f"{sku} {tag}", f"fault suite, {tag}", "Fault", "1.5", "EUR", image])
            written.append(sku)
    return written


def unique_image(seed: int, size: int = 256) -> bytes:
    """A PNG no other product has (random shapes and colours from `seed`): its own vector."""
    rng = random.Random(seed)
    image = Image.new("RGB", (size, size), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        box = (
            sorted(rng.randrange(size) for _ in range(2)),
            sorted(rng.randrange(size) for _ in range(2)),
        )
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape(
            (box[0][0], box[1][0], box[0][1] + 1, box[1][1] + 1),
            fill=tuple(rng.randrange(256) for _ in range(3)),
        )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# --- the product store, read directly (read-only) -----------------------------------------------


def _connect(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{home / 'facet.db'}?mode=ro", uri=True, timeout=30)


def active_skus(home: Path, prefix: str = "") -> set[str]:
    with _connect(home) as connection:
        rows = connection.execute(
            "SELECT sku FROM products WHERE deleted_at IS NULL AND sku LIKE ?", (prefix + "%",)
        ).fetchall()
    return {row[0] for row in rows}


def titles(home: Path, prefix: str) -> dict[str, str]:
    with _connect(home) as connection:
        rows = connection.execute(
            "SELECT sku, title FROM products WHERE deleted_at IS NULL AND sku LIKE ?",
            (prefix + "%",),
        ).fetchall()
    return {sku: title for sku, title in rows}


def unembedded_skus(home: Path, skus: Iterable[str], model: str) -> set[str]:
    """Of `skus`, those with a ready image that has no stored vector for `model`."""
    wanted = set(skus)
    with _connect(home) as connection:
        rows = connection.execute(
            "SELECT p.sku FROM products p JOIN product_images i ON i.product_id = p.id "
            "LEFT JOIN embeddings e ON e.image_id = i.id AND e.model = ? "
            "WHERE i.status = 'ready' AND e.image_id IS NULL",
            (model,),
        ).fetchall()
    return wanted & {row[0] for row in rows}


def current_manifest(home: Path) -> dict[str, Any] | None:
    root = home / "indexes"
    try:
        build_id = (root / "CURRENT").read_text(encoding="utf-8").strip()
        manifest: dict[str, Any] = json.loads(
            (root / "builds" / build_id / "manifest.json").read_text(encoding="utf-8")
        )
    except (OSError, ValueError):
        return None
    return manifest


def current_load_error(home: Path) -> str | None:
    """None when CURRENT names a whole build that loads; else why not."""
    from search.builds import BuildStore
    from search.errors import FacetError

    try:
        BuildStore(home / "indexes").load_current()
    except (FacetError, OSError, RuntimeError, ValueError) as error:
        return f"{type(error).__name__}: {error}"
    return None


# --- the store after a crash ---------------------------------------------------------------------


@dataclass
class StoreCheck:
    """What `facet status` and `facet verify` said about a home after a fault."""

    status_ok: bool = True
    verify_clean: bool = True
    repaired: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return not (self.status_ok and self.verify_clean)


def check_store(home: Path) -> StoreCheck:
    """The database opens, and `facet verify` is clean, or `--repair` makes it clean."""
    check = StoreCheck()
    status = facet(home, "status", "--json")
    if status.returncode != 0:
        check.status_ok = False
        check.problems.append(f"facet status exited {status.returncode}: {_tail(status)}")
    verify = facet(home, "verify", "--json")
    if verify.returncode == 0:
        return check
    check.problems.append(f"facet verify exited {verify.returncode}: {_tail(verify)}")
    repair = facet(home, "verify", "--repair", "--json")
    check.repaired = repair.returncode == 0
    if repair.returncode != 0:
        check.problems.append(f"facet verify --repair exited {repair.returncode}: {_tail(repair)}")
    else:
        try:
            rebuilt = (json.loads(repair.stdout.splitlines()[-1]).get("repaired") or {}).get(
                "reason"
            )
        except (ValueError, IndexError, AttributeError):
            rebuilt = None
        if rebuilt:
            check.problems.append(f"repair retrained the index: {rebuilt}")
    again = facet(home, "verify", "--json")
    if again.returncode != 0:
        check.verify_clean = False
        check.problems.append(
            f"facet verify after --repair exited {again.returncode}: {_tail(again)}"
        )
    return check


def _tail(result: subprocess.CompletedProcess[str], limit: int = 400) -> str:
    text = (result.stdout.strip() + " " + result.stderr.strip()).strip()
    return text[-limit:]


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
