"""Loading a catalogue dump into the product store: batched upserts by SKU in one transaction."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from operator import attrgetter
from pathlib import Path
from typing import IO, Any, TypeVar, cast

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    func,
    insert,
    select,
    update,
)

from indexer.ingest.bulk import BulkInsert
from indexer.ingest.dump import DEFAULT_MAX_FIELD_CHARS
from indexer.ingest.image_rows import ImageSync
from indexer.ingest.report import IngestReport, check_delete_share, record_rejection
from indexer.ingest.rows import CatalogRow, Rejection, open_catalog, read_catalog
from indexer.ingest.seen import SeenSkus
from search.db import upsert, utcnow, writer
from search.errors import IngestAborted
from search.models import IngestRun, Product
from search.product import PRODUCT_FIELDS

log = logging.getLogger(__name__)

PRODUCTS = cast(Table, Product.__table__)
T = TypeVar("T")

__all__ = ["IngestReport", "ingest_dump"]


def ingest_dump(
    engine: Engine,
    path: Path,
    *,
    full: bool = False,
    strict: bool = False,
    max_delete_pct: float | None = None,
    max_field_chars: int = DEFAULT_MAX_FIELD_CHARS,
    batch_size: int = 2000,
    max_reported_rejections: int = 10,
    rejects_out: IO[str] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Upsert every valid row of a dump into the product store, by SKU.

    The whole dump is applied in one transaction: an interrupted or failed run leaves the
    database as it was. A damaged dump (a CSV syntax error, a truncated file) is read up to
    the damage, and its rows before it are applied.

    Args:
        engine: engine of a migrated product store.
        path: the dump (`.csv`, `.csv.gz`, `.jsonl` or `.jsonl.gz`).
        full: the dump is the whole catalogue; active products absent from it are soft-deleted,
            unless the dump is damaged or has a rejected row without a readable SKU (then
            nothing is deleted and `full_delete_skipped` says why).
        strict: any rejected row aborts the ingest and nothing is written.
        max_delete_pct: with `full`, the largest share (in percent) of the products active
            before the run that it may delete; None allows any.
        max_field_chars: the longest CSV field; a longer one makes the dump damaged.
        batch_size: rows per database round trip.
        max_reported_rejections: how many rejections the report keeps.
        rejects_out: if given, every rejection is written there as one JSON line.
        on_progress: called with the number of dump bytes read so far.

    Returns:
        The report; `committed` is False when `strict` rejected rows and nothing was written.

    Raises:
        DumpError: the dump cannot be read at all.
        IngestAborted: a `full` dump had no valid row.
        DeletionRefused: a `full` dump would delete over `max_delete_pct`; nothing was written.
    """
    report = IngestReport(source=str(path), full=full)
    started = utcnow()
    clock = time.perf_counter()
    catalog = open_catalog(path, max_field_chars=max_field_chars)
    with catalog as reader, writer(engine).connect() as connection:
        seen = SeenSkus(connection)
        try:
            with connection.begin() as transaction:
                active_before = _count_active(connection) if full else 0
                ingest = _Ingest(connection, seen, report, strict=strict, now=started)
                for batch in _batched(read_catalog(reader), batch_size):
                    for rejection in ingest.apply(batch):
                        record_rejection(report, rejection, max_reported_rejections, rejects_out)
                    if on_progress is not None:
                        on_progress(reader.bytes_read)
                if strict and report.rejected:
                    transaction.rollback()
                    return _finish(report, clock)
                if full:
                    if report.inserted + report.updated + report.unchanged == 0:
                        transaction.rollback()
                        damage = f" ({report.damaged})" if report.damaged else ""
                        raise IngestAborted(
                            f"--full: the dump has no valid row{damage}; "
                            "refusing to delete the whole catalogue"
                        )
                    if report.full_delete_skipped is None:
                        report.deleted = ingest.delete_unseen()
                        # Raising rolls the whole run back, upserts included.
                        check_delete_share(report.deleted, active_before, max_delete_pct)
                report.revision = _record_run(connection, report, started)
            report.committed = True
        finally:
            seen.drop()
    return _finish(report, clock)


def _finish(report: IngestReport, clock: float) -> IngestReport:
    report.seconds = time.perf_counter() - clock
    return report


def _batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _count_active(connection: Connection) -> int:
    query = select(func.count()).select_from(PRODUCTS).where(PRODUCTS.c.deleted_at.is_(None))
    return int(connection.execute(query).scalar_one())


def _record_run(connection: Connection, report: IngestReport, started: Any) -> int:
    result = connection.execute(
        insert(IngestRun).returning(IngestRun.id),
        {
            # Absolute: the service serves images from the folders of recorded dumps.
            "source": str(Path(report.source).absolute()),
            "full": report.full,
            "started_at": started,
            "finished_at": utcnow(),
            "inserted": report.inserted,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "deleted": report.deleted,
            "rejected": report.rejected,
        },
    )
    return int(result.scalar_one())


PRODUCT_INSERT_COLUMNS = (*PRODUCT_FIELDS, "content_hash", "created_at", "updated_at")
UPDATED_COLUMNS = (*PRODUCT_FIELDS, "content_hash", "updated_at")
# The row's fields as a tuple, in column order, at C speed (a million rows go through here).
_FIELD_VALUES = attrgetter(*PRODUCT_FIELDS)
_ATTRIBUTES = PRODUCT_FIELDS.index("attributes")


class _Ingest:
    """The upsert of one dump, batch by batch, on one connection inside one transaction."""

    def __init__(
        self,
        connection: Connection,
        seen: SeenSkus,
        report: IngestReport,
        *,
        strict: bool,
        now: Any,
    ) -> None:
        self.connection = connection
        self.seen = seen
        self.report = report
        self.strict = strict
        self.now = now
        self.images = ImageSync(connection, now=now)
        self.product_insert = BulkInsert(connection, PRODUCTS, PRODUCT_INSERT_COLUMNS)
        self.now_db = self.product_insert.to_db("created_at", now)
        # The JSON serialiser SQLAlchemy uses for `attributes`, looked up once.
        self.attributes_to_db = self.product_insert.processor("attributes")

    def apply(self, batch: list[CatalogRow | Rejection]) -> list[Rejection]:
        """Apply one batch; returns its rejections (bad rows and repeated SKUs)."""
        rows, rejections = self._dedupe(batch)
        if self.strict and (rejections or self.report.rejected):
            return rejections  # the ingest will be rolled back: only keep validating
        existing = self._existing(rows)
        inserts: list[tuple[CatalogRow, str]] = []
        updates: list[tuple[int, CatalogRow, str]] = []
        for row in rows:
            fingerprint = row.fingerprint()
            current = existing.get(row.sku)
            if current is None:
                inserts.append((row, fingerprint))
            elif current[1] == fingerprint and current[2] is None:
                self.report.unchanged += 1
            else:
                updates.append((current[0], row, fingerprint))
        self._insert(inserts)
        self._update(updates)
        return rejections

    def _dedupe(
        self, batch: list[CatalogRow | Rejection]
    ) -> tuple[list[CatalogRow], list[Rejection]]:
        first_lines = self.seen.first_lines({item.sku for item in batch if item.sku})
        new_seen: list[tuple[str, int]] = []
        rows: list[CatalogRow] = []
        rejections: list[Rejection] = []
        for item in batch:
            if item.sku and item.sku in first_lines:
                reason = f"sku repeated (first on line {first_lines[item.sku]})"
                rejections.append(Rejection(item.line, reason, item.sku))
                continue
            if item.sku:
                # Rejected rows count as seen too: --full must not delete a product for a bad row.
                first_lines[item.sku] = item.line
                new_seen.append((item.sku, item.line))
            if isinstance(item, Rejection):
                rejections.append(item)
            else:
                rows.append(item)
        if new_seen:
            self.seen.add(new_seen)
        return rows, rejections

    def _existing(self, rows: list[CatalogRow]) -> dict[str, tuple[int, str, Any]]:
        """(id, content hash, deleted_at) of the batch's SKUs that are already stored."""
        if not rows:
            return {}
        query = select(
            PRODUCTS.c.sku, PRODUCTS.c.id, PRODUCTS.c.content_hash, PRODUCTS.c.deleted_at
        ).where(PRODUCTS.c.sku.in_(self._batch_skus(rows)))
        return {
            sku: (id_, hash_, deleted)
            for sku, id_, hash_, deleted in self.connection.execute(query)
        }

    @staticmethod
    def _batch_skus(rows: list[CatalogRow]) -> Any:
        # Every row of a batch was just added to the seen table, on its increasing line numbers.
        return SeenSkus.lines(rows[0].line, rows[-1].line)

    def _insert(self, inserts: list[tuple[CatalogRow, str]]) -> None:
        if not inserts:
            return
        to_json = self.attributes_to_db
        rows = []
        for row, fingerprint in inserts:
            values = list(_FIELD_VALUES(row))
            if to_json is not None:
                values[_ATTRIBUTES] = to_json(values[_ATTRIBUTES])
            rows.append((*values, fingerprint, self.now_db, self.now_db))
        self.product_insert.execute(rows)
        rows_in = [row for row, _ in inserts]
        query = select(PRODUCTS.c.sku, PRODUCTS.c.id).where(
            PRODUCTS.c.sku.in_(self._batch_skus(rows_in))
        )
        ids = {sku: product_id for sku, product_id in self.connection.execute(query)}
        self.report.inserted += len(inserts)
        self.report.images_added += self.images.add_new(
            [(ids[row.sku], row.images) for row, _ in inserts]
        )

    def _update(self, updates: list[tuple[int, CatalogRow, str]]) -> None:
        if not updates:
            return
        # The dialect's own INSERT ... ON CONFLICT DO UPDATE, sent as multi-row statements:
        # several times faster than an UPDATE per row on PostgreSQL, and as fast on SQLite.
        statement = upsert(PRODUCTS, self.connection.engine)
        changed = {name: statement.excluded[name] for name in UPDATED_COLUMNS}
        self.connection.execute(
            statement.on_conflict_do_update(
                index_elements=[PRODUCTS.c.sku], set_={**changed, "deleted_at": None}
            ),
            [
                {**row.values(), "content_hash": fingerprint, "updated_at": self.now}
                for _, row, fingerprint in updates
            ],
        )
        self.report.updated += len(updates)
        added, removed = self.images.sync(
            [(product_id, row.images) for product_id, row, _ in updates]
        )
        self.report.images_added += added
        self.report.images_removed += removed

    def delete_unseen(self) -> int:
        """Soft-delete the active products this dump did not mention; returns how many."""
        statement = (
            update(PRODUCTS)
            .where(PRODUCTS.c.deleted_at.is_(None))
            .where(PRODUCTS.c.sku.not_in(SeenSkus.skus()))
            .values(deleted_at=self.now, updated_at=self.now)
        )
        return self.connection.execute(statement).rowcount
