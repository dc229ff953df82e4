"""Crash at any moment: kill -9 `facet ingest`, `facet build` and the server during admin writes.

After every kill: the database opens (`facet status`), `facet verify` is clean or `--repair`
makes it clean, nothing acknowledged is lost (an ingest or build that exited 0, an admin write
that answered 2xx), and CURRENT names a whole build that the restarted service serves.
"""

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
    StoreCheck,
    active_skus,
    check_store,
    current_load_error,
    current_manifest,
    facet,
    kill_at,
    prepare_home,
    query_photos,
    start_facet,
    titles,
    unembedded_skus,
    unique_image,
    write_dump,
)
from scripts.faults.server import (
    Server,
    admin_headers,
    put_product,
    search_skus,
)

log = logging.getLogger("faults.crash")
SEED = 9
DUMP_ROWS = 20_000
# `facet ingest` of DUMP_ROWS rows takes about 1.3 s here (0.5 s of it starting Python): kills
# land before, during and after its one transaction.
INGEST_KILL_WINDOW_S = (0.2, 2.0)
# `facet build` spends ~4 s loading torch and the model, then embeds and publishes.
BUILD_KILL_WINDOW_S = (0.5, 9.0)
SERVER_KILL_WINDOW_S = (0.3, 4.0)


@dataclass
class Tally:
    kills: int = 0
    lost_rows: int = 0
    verify_failures: int = 0
    partial_writes: int = 0
    repairs: int = 0
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def record(self, where: str, check: StoreCheck) -> None:
        self.repairs += check.repaired
        if check.failed:
            self.verify_failures += 1
            self.failures.append(f"{where}: " + "; ".join(check.problems))
        elif check.problems:
            # Repaired in place: allowed, but worth reading.
            self.notes.append(f"{where}: " + "; ".join(check.problems))

    def lose(self, where: str, what: str, skus: set[str]) -> None:
        if skus:
            self.lost_rows += len(skus)
            self.failures.append(f"{where}: {len(skus)} {what}, e.g. {sorted(skus)[:5]}")


def run(*, quick: bool, home: Path, kills: int | None = None) -> dict[str, Any]:
    """Kill each writer `kills` times (quick: 3, else 20) at random moments; count what broke."""
    per_kind = kills or (3 if quick else 20)
    rng = random.Random(SEED)
    tally = Tally()
    base = home / "base"
    if not base.exists():
        prepare_home(base)
    crash_ingest(_copy(base, home / "ingest"), per_kind, rng, tally)
    crash_build(_copy(base, home / "build"), per_kind, rng, tally)
    crash_server(_copy(base, home / "server"), per_kind, rng, tally)
    return {
        "kills": tally.kills,
        "lost_rows": tally.lost_rows,
        "verify_failures": tally.verify_failures,
        "partial_writes": tally.partial_writes,
        "repairs": tally.repairs,
        "crash_failures": tally.failures,
        "crash_notes": tally.notes,
    }


def _copy(base: Path, home: Path) -> Path:
    shutil.copytree(base, home)
    return home


def crash_ingest(home: Path, rounds: int, rng: random.Random, tally: Tally) -> None:
    """Every ingest is one transaction: after a kill the dump's rows are all old or all new."""
    skus = [f"ing-{i:05d}" for i in range(DUMP_ROWS)]
    acknowledged: set[str] = set()
    committed_tag: str | None = None
    killed_here = 0
    for number in range(3 * rounds):  # runs that end before their kill moment do not count
        if killed_here == rounds:
            break
        tag = f"round-{number}"
        dump = write_dump(home / "dump.csv", skus, tag=tag, seed=number)
        process = start_facet(home, "ingest", str(home / "dump.csv"))
        killed = kill_at(process, rng.uniform(*INGEST_KILL_WINDOW_S))
        where = f"ingest kill {number}"
        if killed:
            tally.kills += 1
            killed_here += 1
        elif process.returncode == 0:
            acknowledged.update(dump)
            committed_tag = tag
        else:
            tally.failures.append(f"{where}: facet ingest exited {process.returncode}")
        tally.record(where, check_store(home))
        rows = titles(home, "ing-")
        tally.lose(where, "ingested products lost", acknowledged - rows.keys())
        versions = {title.rsplit(" ", 1)[-1] for title in rows.values()}
        allowed = [{committed_tag} if committed_tag else set(), {tag}]
        if (
            len(rows) not in (0, DUMP_ROWS)
            or versions not in allowed
            or (not killed and process.returncode == 0 and versions != {tag})
        ):
            tally.partial_writes += 1
            tally.failures.append(
                f"{where}: half-written ingest: {len(rows)} rows, versions {sorted(versions)}"
            )
        if killed and versions == {tag}:
            committed_tag = tag  # the kill came after the commit
            acknowledged.update(dump)


def crash_build(home: Path, rounds: int, rng: random.Random, tally: Tally) -> None:
    """A killed build leaves the previous build current; a finished one keeps every vector."""
    acknowledged: set[str] = set()
    built: set[str] = set()
    killed_here = 0
    for number in range(3 * rounds):  # runs that end before their kill moment do not count
        if killed_here == rounds:
            break
        skus = [f"bld-{number:02d}-{i}" for i in range(4)]
        dump = home / "dump.csv"
        write_dump(dump, skus, tag=f"round-{number}", seed=100 + number)
        if facet(home, "ingest", str(dump)).returncode == 0:
            acknowledged.update(skus)
        before = current_manifest(home)
        args = ["build", "--rebuild"] if number % 2 else ["build"]
        process = start_facet(home, *args)
        killed = kill_at(process, rng.uniform(*BUILD_KILL_WINDOW_S))
        where = f"build kill {number}"
        if killed:
            tally.kills += 1
            killed_here += 1
        elif process.returncode == 0:
            built = set(acknowledged)
        else:
            stderr = process.stderr.read() if process.stderr else ""
            tally.failures.append(f"{where}: facet build exited {process.returncode}: {stderr}")
        if process.stderr:
            process.stderr.close()
        error = current_load_error(home)
        if error:
            tally.verify_failures += 1
            tally.failures.append(f"{where}: CURRENT does not load: {error}")
        after = current_manifest(home)
        if killed and before and after and after["build_id"] != before["build_id"]:
            log.info("%s: the build published %s before the kill", where, after["build_id"])
        tally.record(where, check_store(home))
        tally.lose(where, "ingested products lost", acknowledged - active_skus(home, "bld-"))
        model = (current_manifest(home) or {}).get("backbone", "")
        tally.lose(
            where, "embedded products lost their vectors", unembedded_skus(home, built, model)
        )
    # One build to the end: everything acknowledged is embedded and verify is clean.
    final = facet(home, "build")
    if final.returncode != 0:
        tally.failures.append(f"final build exited {final.returncode}: {final.stderr[-400:]}")
    model = (current_manifest(home) or {}).get("backbone", "")
    tally.lose(
        "after the final build",
        "products without vectors",
        unembedded_skus(home, acknowledged, model),
    )
    tally.record("after the final build", check_store(home))


def crash_server(home: Path, rounds: int, rng: random.Random, tally: Tally) -> None:
    """kill -9 the server while admin PUTs and DELETEs run; acknowledged writes survive."""
    present: set[str] = set()  # acknowledged PUT last
    absent: set[str] = set()  # acknowledged DELETE last
    photo = query_photos()[0]
    for number in range(rounds):
        where = f"server kill {number}"
        server = Server(home, home / "server.log").start()
        stop = threading.Event()
        outcome: dict[str, str] = {}  # sku -> "put" | "delete" | "unknown", this round
        writer = threading.Thread(
            target=_admin_writes, args=(server.url, number, present, stop, outcome), daemon=True
        )
        writer.start()
        kill_at_s = rng.uniform(*SERVER_KILL_WINDOW_S)
        stop.wait(kill_at_s)
        server.kill()
        tally.kills += 1
        stop.set()
        writer.join(timeout=60)
        for sku, what in outcome.items():
            present.discard(sku)
            absent.discard(sku)
            if what == "put":
                present.add(sku)
            elif what == "delete":
                absent.add(sku)
        error = current_load_error(home)
        if error:
            tally.verify_failures += 1
            tally.failures.append(f"{where}: CURRENT does not load: {error}")
        tally.record(where, check_store(home))
        active = active_skus(home, "srv-")
        tally.lose(where, "acknowledged PUTs lost", present - active)
        tally.lose(where, "acknowledged DELETEs undone", absent & active)
        model = (current_manifest(home) or {}).get("backbone", "")
        tally.lose(
            where, "acknowledged PUTs without vectors", unembedded_skus(home, present, model)
        )
        _check_restart(home, where, photo, tally)


def _admin_writes(
    url: str, number: int, present: set[str], stop: threading.Event, outcome: dict[str, str]
) -> None:
    """PUT new products and DELETE earlier ones until the server dies."""
    rng = random.Random(number)
    earlier = sorted(present)
    with httpx.Client(base_url=url, timeout=30) as client:
        for step in range(1000):
            if stop.is_set():
                return
            if earlier and step % 3 == 2:
                sku = earlier.pop(rng.randrange(len(earlier)))
                outcome[sku] = "unknown"
                try:
                    response = client.delete(f"/v1/products/{sku}", headers=admin_headers())
                except httpx.TransportError:
                    return
                outcome[sku] = "delete" if response.status_code == 204 else "unknown"
            else:
                sku = f"srv-{number:02d}-{step:03d}"
                outcome[sku] = "unknown"
                image = unique_image(number * 1000 + step)
                try:
                    response = put_product(client, sku, image, f"server round {number}")
                except httpx.TransportError:
                    return
                outcome[sku] = "put" if response.status_code in (200, 201) else "unknown"


def _check_restart(home: Path, where: str, photo: bytes, tally: Tally) -> None:
    """The restarted service serves a whole published build and answers a search."""
    published = {path.name for path in (home / "indexes" / "builds").iterdir()}
    server = Server(home, home / "server.log")
    try:
        ready = server.start().wait_ready()
        if ready.get("build_id") not in published:
            tally.failures.append(f"{where}: serves {ready.get('build_id')}, not a published build")
            tally.verify_failures += 1
        with httpx.Client(base_url=server.url, timeout=60) as client:
            if search_skus(client, photo) is None:
                tally.failures.append(f"{where}: search failed after the restart")
                tally.verify_failures += 1
    except RuntimeError as error:
        tally.failures.append(f"{where}: restart failed: {error}")
        tally.verify_failures += 1
    finally:
        server.stop()
