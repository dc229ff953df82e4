"""The service's filter table, kept current: rebuilt on reloads and re-ingests, patched by
admin writes (`search.filter_table`)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection

from sqlalchemy import Engine, select

from search.filter_params import Filters
from search.filter_table import Allowed, FilterTable
from search.models import Product
from search.reads import catalog_revision
from search.revisions import product_revision

log = logging.getLogger(__name__)


class LiveFilters:
    """One filter table for a long-running process, shared by its snapshots.

    `facet ingest` changes products behind the service's back, and so do admin writes through
    other replicas of the service; each ingest is a new catalogue revision and each admin write
    a new product revision. Both are looked up at most every `check_every_s` seconds (one tiny
    query each); when either moved, the table is read again in a background thread while the
    old one goes on answering. (This process's own admin writes are patched in at once, and
    then read again in the background too: the counter cannot say whose write it was.)
    """

    def __init__(self, engine: Engine, *, check_every_s: float = 1.0) -> None:
        self.engine = engine
        self.check_every_s = check_every_s
        self._product_revision = self._read_product_revision()
        self._table = FilterTable.load(engine)
        self._checked = time.monotonic()
        self._lock = threading.Lock()
        self._reading = False
        self._changed_while_reading: set[str] = set()

    @property
    def table(self) -> FilterTable:
        return self._table

    def allowed(self, filters: Filters) -> Allowed:
        """What `filters` allows, from the current table."""
        self._maybe_refresh()
        return self._table.allowed(self.engine, filters)

    def reload(self) -> None:
        """Read the whole table again, now (a new build was loaded)."""
        self._product_revision = self._read_product_revision()
        self._table = FilterTable.load(self.engine)

    def _read_product_revision(self) -> int:
        with self.engine.connect() as connection:
            return product_revision(connection)

    def products_changed(self, skus: Collection[str]) -> None:
        """Read these products again (an admin write changed their fields or images)."""
        if not skus:
            return
        with self._lock:
            if self._reading:  # the table being read may predate this change: redo it after
                self._changed_while_reading.update(skus)
            self._table = self._table.with_products(self.engine, self._product_ids(skus))

    def _product_ids(self, skus: Collection[str]) -> list[int]:
        with self.engine.connect() as connection:
            query = select(Product.id).where(Product.sku.in_(list(skus)))
            return list(connection.execute(query).scalars())

    def _maybe_refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < self.check_every_s or self._reading:
            return
        self._checked = now
        with self.engine.connect() as connection:
            revision = catalog_revision(connection)
            products = product_revision(connection)
        if revision == self._table.catalog_revision and products == self._product_revision:
            return
        with self._lock:
            if self._reading:
                return
            self._reading = True
        threading.Thread(target=self._refresh, name="filter-table", daemon=True).start()

    def _refresh(self) -> None:
        try:
            # Read first: a change committed while the table is read is seen by the next check.
            products = self._read_product_revision()
            table = FilterTable.load(self.engine)
            with self._lock:
                changed, self._changed_while_reading = self._changed_while_reading, set()
                if changed:
                    table = table.with_products(self.engine, self._product_ids(changed))
                self._table, self._product_revision = table, products
            log.info("filter table read again: %d images", len(table))
        except Exception:  # the old table keeps answering; the next check tries again
            log.exception("could not read the filter table again")
        finally:
            self._reading = False
