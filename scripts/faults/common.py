"""What the fault suite's parts share: the real CLI, a live uvicorn, generated data, checks."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def catalog_skus() -> list[str]:
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
