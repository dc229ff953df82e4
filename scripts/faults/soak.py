"""Soak: mixed traffic (search, similar, classify, product reads, admin writes) at concurrency 8
for a fixed time, counting errors and sampling the server's resident memory."""

from __future__ import annotations

import logging
import random
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from scripts.faults.common import (
    catalog_skus,
    prepare_home,
    query_photos,
    unique_image,
)
from scripts.faults.server import (
    Server,
    admin_headers,
    put_product,
)

log = logging.getLogger("faults.soak")
SEED = 8
CONCURRENCY = 8
SAMPLE_INTERVAL_S = 0.5
WARM_UP_SHARE = 0.2
# Operation mix: weights of search, similar, classify, product read, admin write.
MIX = {"search": 35, "similar": 20, "classify": 10, "read": 25, "admin": 10}


@dataclass
class Traffic:
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, operation: str, error: str | None) -> None:
        with self.lock:
            self.requests += 1
            self.counts[operation] = self.counts.get(operation, 0) + 1
            if error:
                self.errors.append(error)


def run(*, quick: bool, home: Path, seconds: float | None = None) -> dict[str, Any]:
    """Soak a live server for `seconds` (quick: 20, else 600)."""
    duration = seconds if seconds is not None else (20.0 if quick else 600.0)
    base = home / "base"
    if not base.exists():
        prepare_home(base)
    work = home / "soak"
    shutil.copytree(base, work)
    traffic = Traffic()
    samples: list[tuple[float, float]] = []
    with Server(work, work / "server.log") as server:
        deadline = time.monotonic() + duration
        workers = [
            threading.Thread(target=_worker, args=(server.url, n, deadline, traffic), daemon=True)
            for n in range(CONCURRENCY)
        ]
        started = time.monotonic()
        for worker in workers:
            worker.start()
        while time.monotonic() < deadline:
            rss = server.rss_mb()
            if rss is not None:
                samples.append((time.monotonic() - started, rss))
            time.sleep(SAMPLE_INTERVAL_S)
        for worker in workers:
            worker.join(timeout=300)
        rss = server.rss_mb()
        if rss is not None:
            samples.append((time.monotonic() - started, rss))
    growth, warm, end = _growth(samples, duration)
    return {
        "soak_requests": traffic.requests,
        "soak_errors": len(traffic.errors),
        "soak_rss_growth": growth,
        "soak_rss_mb_after_warm_up": warm,
        "soak_rss_mb_end": end,
        "soak_seconds": duration,
        "soak_mix": traffic.counts,
        "soak_failures": traffic.errors[:20],
    }


def _growth(
    samples: list[tuple[float, float]], duration: float
) -> tuple[float | None, float | None, float | None]:
    """RSS at the end against RSS once the first 20% of the time had passed."""
    after = [rss for at, rss in samples if at >= WARM_UP_SHARE * duration]
    if not after:
        return None, None, None
    warm, end = after[0], after[-1]
    return round(end / warm - 1, 4), round(warm, 1), round(end, 1)


def _worker(url: str, number: int, deadline: float, traffic: Traffic) -> None:
    """One client: operations drawn from MIX; admin writes only touch this worker's own SKUs, so
    every request has one right answer (no 404 is expected)."""
    rng = random.Random(SEED * 100 + number)
    photos = query_photos()
    skus = catalog_skus()
    own = [f"soak-{number}-{j}" for j in range(3)]
    present: set[str] = set()
    operations, weights = zip(*MIX.items(), strict=True)
    with httpx.Client(base_url=url, timeout=60) as client:
        while time.monotonic() < deadline:
            operation = rng.choices(operations, weights)[0]
            try:
                response, expected = _request(client, operation, rng, photos, skus, own, present)
            except httpx.TransportError as error:
                traffic.count(operation, f"{operation}: transport error {error!r}")
                continue
            bad = response.status_code not in expected
            text = f"{operation}: {response.status_code} {response.text[:200]}" if bad else None
            traffic.count(operation, text)


def _request(
    client: httpx.Client,
    operation: str,
    rng: random.Random,
    photos: list[bytes],
    skus: list[str],
    own: list[str],
    present: set[str],
) -> tuple[httpx.Response, set[int]]:
    if operation in ("search", "classify"):
        photo = rng.choice(photos)
        files = {"image": ("photo.jpg", photo, "image/jpeg")}
        return client.post(f"/v1/{operation}", files=files, data={"k": "10"}), {200}
    if operation == "similar":
        return client.get(f"/v1/products/{rng.choice(skus)}/similar", params={"k": 10}), {200}
    if operation == "read":
        return client.get(f"/v1/products/{rng.choice(skus)}"), {200}
    sku = rng.choice(own)
    if sku in present:
        present.discard(sku)
        return client.delete(f"/v1/products/{sku}", headers=admin_headers()), {204}
    present.add(sku)
    image = unique_image(rng.randrange(1_000_000))
    return put_product(client, sku, image, f"{sku} soak"), {200, 201}
