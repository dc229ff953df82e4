"""What an ingest did, and the rules that keep `--full` from deleting what it cannot prove gone."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import IO, Any

from indexer.ingest.rows import Rejection
from search.errors import DeletionRefused


@dataclass
class IngestReport:
    """What one ingest did. `committed` is False when nothing was written.

    `damaged` says where and why the dump stopped being readable (the rows before it count);
    `full_delete_skipped` says why a `full` run deleted nothing.
    """

    source: str
    full: bool
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    rejected: int = 0
    images_added: int = 0
    images_removed: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    committed: bool = False
    revision: int | None = None
    seconds: float = 0.0
    damaged: str | None = None
    full_delete_skipped: str | None = None

    @property
    def rows(self) -> int:
        return self.inserted + self.updated + self.unchanged + self.rejected

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rejections"] = [r.to_dict() for r in self.rejections]
        data["rows"] = self.rows
        return data


def record_rejection(
    report: IngestReport, rejection: Rejection, keep: int, out: IO[str] | None
) -> None:
    """Count a rejection, keep the first `keep` in the report and write it to `out`.

    A rejection without a SKU, or the point where the dump became unreadable, means the dump
    may mention products nobody can name: a `full` run must then delete nothing.
    """
    report.rejected += 1
    if len(report.rejections) < keep:
        report.rejections.append(rejection)
    if out is not None:
        out.write(json.dumps(rejection.to_dict(), ensure_ascii=False) + "\n")
    if rejection.damaged and report.damaged is None:
        report.damaged = str(rejection)
    if report.full and rejection.sku is None and report.full_delete_skipped is None:
        why = "the dump is damaged" if rejection.damaged else "a rejected row has no readable SKU"
        report.full_delete_skipped = (
            f"{why} ({rejection}), so the products it leaves out are unknown"
        )


def check_delete_share(count: int, active: int, max_pct: float | None) -> None:
    """Refuse a `full` deletion of more than `max_pct` percent of the active catalogue.

    Args:
        count: products the run would soft-delete.
        active: active products before the run.
        max_pct: the largest share allowed, in percent; None allows any.

    Raises:
        DeletionRefused: the share is over the limit.
    """
    if max_pct is None or count == 0 or count * 100 <= max_pct * active:
        return
    share = count * 100 / active
    needed = math.ceil(share * 10) / 10  # the smallest --max-delete (to 0.1) that allows it
    raise DeletionRefused(
        f"--full would delete {count:,} of {active:,} active products ({share:.1f}%), over the "
        f"{max_pct:g}% limit (FACET_INGEST__MAX_DELETE_PCT); nothing was written. If the dump "
        f"is right, rerun with --max-delete {needed:g}"
    )
