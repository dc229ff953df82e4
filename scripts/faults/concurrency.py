"""Concurrency: admin PUT/DELETE in a loop while `facet ingest` and `facet build` run and publish
and the server reloads. Every acknowledged admin change must be present afterwards (in the
database and searchable), and CURRENT must load at every moment."""

from __future__ import annotations

import logging
import random
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from scripts.faults.common import (
    check_store,
    current_load_error,
    facet,
    prepare_home,
    unique_image,
    write_dump,
)
from scripts.faults.server import (
    Server,
    admin_headers,
    put_product,
    search_skus,
)

log = logging.getLogger("faults.concurrency")
SEED = 7
ADMIN_SKUS = 12
GENERATED_ROWS = 100
WATCH_INTERVAL_S = 0.3


@dataclass
class AdminLog:
    """Per SKU: the state its last admin request left, or None when that request's outcome is
    unknown (a transport error or a 5xx)."""

    state: dict[str, str | None] = field(default_factory=dict)
    acknowledged: int = 0
    server_errors: list[str] = field(default_factory=list)


def run(*, quick: bool, home: Path, rounds: int | None = None) -> dict[str, Any]:
    """Ingest and build `rounds` times (quick: 2, else 6) while admin writes run."""
    rounds = rounds or (2 if quick else 6)
    base = home / "base"
    if not base.exists():
        prepare_home(base)
    work = home / "concurrency"
    shutil.copytree(base, work)
    failures: list[str] = []
    admin = AdminLog()
    load_errors: list[str] = []
    stop = threading.Event()
    with Server(work, work / "server.log") as server:
        threads = [
            threading.Thread(target=_admin_loop, args=(server.url, admin, stop), daemon=True),
            threading.Thread(target=_watch_current, args=(work, load_errors, stop), daemon=True),
        ]
        for thread in threads:
            thread.start()
        with httpx.Client(base_url=server.url, timeout=120) as client:
            for number in range(rounds):
                failures += _publish_round(work, client, number)
            stop.set()
            for thread in threads:
                thread.join(timeout=120)
            reload = client.post("/v1/admin/reload", headers=admin_headers())
            if reload.status_code != 200:
                failures.append(f"final reload answered {reload.status_code}: {reload.text[:300]}")
            lost = _check_changes(client, admin, failures)
    check = check_store(work)
    if check.problems:
        failures.append("after the run: " + "; ".join(check.problems))
    failures += [f"CURRENT did not load: {error}" for error in load_errors[:5]]
    failures += admin.server_errors[:10]
    return {
        "concurrent_changes": admin.acknowledged,
        "lost_changes": lost,
        # After every writer finished and the server reloaded, verify must be clean unrepaired.
        "concurrency_errors": len(admin.server_errors) + len(load_errors) + bool(check.problems),
        "concurrency_failures": failures,
    }


def _publish_round(home: Path, client: httpx.Client, number: int) -> list[str]:
    """One ingest (changing every generated row) and one build, then a reload."""
    failures = []
    skus = [f"cgen-{i:03d}" for i in range(GENERATED_ROWS)]
    write_dump(home / "dump.csv", skus, tag=f"round-{number}", seed=number)
    for args in (
        ["ingest", str(home / "dump.csv")],
        ["build"] if number % 2 == 0 else ["build", "--rebuild"],
    ):
        result = facet(home, *args)
        if result.returncode != 0:
            failures.append(
                f"round {number}: facet {args[0]} exited {result.returncode}: "
                f"{(result.stderr or result.stdout)[-400:]}"
            )
    reload = client.post("/v1/admin/reload", headers=admin_headers())
    if reload.status_code != 200:
        failures.append(
            f"round {number}: reload answered {reload.status_code}: {reload.text[:300]}"
        )
    return failures


def _admin_loop(url: str, admin: AdminLog, stop: threading.Event) -> None:
    """PUT and DELETE a small set of SKUs, each always with its own image (so PUT, DELETE, PUT of
    the same image happens often)."""
    rng = random.Random(SEED)
    images = {f"conc-{j:02d}": unique_image(5000 + j) for j in range(ADMIN_SKUS)}
    with httpx.Client(base_url=url, timeout=120) as client:
        while not stop.is_set():
            sku = rng.choice(sorted(images))
            delete = admin.state.get(sku) == "present" and rng.random() < 0.5
            try:
                if delete:
                    response = client.delete(f"/v1/products/{sku}", headers=admin_headers())
                else:
                    response = put_product(client, sku, images[sku], f"{sku} concurrent")
            except httpx.TransportError as error:
                admin.state[sku] = None
                admin.server_errors.append(f"{sku}: transport error {error!r}")
                continue
            code = response.status_code
            if delete and code in (204, 404):
                admin.state[sku] = "absent"
            elif not delete and code in (200, 201):
                admin.state[sku] = "present"
            else:
                admin.state[sku] = None
                if code >= 500:
                    what = "DELETE" if delete else "PUT"
                    admin.server_errors.append(f"{what} {sku}: {code} {response.text[:300]}")
                continue
            admin.acknowledged += 1


def _watch_current(home: Path, errors: list[str], stop: threading.Event) -> None:
    while not stop.wait(WATCH_INTERVAL_S):
        error = current_load_error(home)
        if error:
            errors.append(error)


def _check_changes(client: httpx.Client, admin: AdminLog, failures: list[str]) -> int:
    """Every SKU whose last change was acknowledged is in the database and searchable (PUT) or
    gone from both (DELETE)."""
    lost = 0
    for sku, state in sorted(admin.state.items()):
        if state is None:
            continue
        image = unique_image(5000 + int(sku.split("-")[1]))
        read = client.get(f"/v1/products/{sku}")
        found = search_skus(client, image)
        if found is None:
            failures.append(f"{sku}: search with its image failed")
            lost += 1
            continue
        if state == "present" and (read.status_code != 200 or sku not in found):
            lost += 1
            failures.append(
                f"{sku}: acknowledged PUT lost (GET {read.status_code}, in search: {sku in found})"
            )
        if state == "absent" and (read.status_code != 404 or sku in found):
            lost += 1
            failures.append(
                f"{sku}: acknowledged DELETE undone (GET {read.status_code}, "
                f"in search: {sku in found})"
            )
    return lost
