"""Filters answered from memory: per-image product fields as NumPy columns, for one service.

Asking the database for every allowed image id per query costs time in proportion to what the
filter allows (a filter such as `in_stock=true` reads half of a million-product catalogue each
time). Instead the service keeps, per searchable image, its product's filterable fields as
columns (label codes, price, stock flag), turns a filter into a boolean mask over them and that
mask into a FAISS bitmap selector, without touching the database. Attribute filters are answered
by the same SQL as before (`search.filters`), once per KEY=VALUE, and kept as masks.

The table is immutable: changes make a new one (`with_products`, after admin writes, re-reading
just those products; `load`, when the catalogue was re-ingested), which requests take whole.
Memory: about 30 bytes an image plus 1 byte an image per cached attribute mask (30 MB per
million images).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Engine

from search.faiss_api import faiss
from search.filter_params import Filters
from search.filters import apply_filters, searchable_images
from search.index import IdArray
from search.models import Product, ProductImage
from search.product import LABEL_FIELDS
from search.reads import catalog_revision

BoolArray = npt.NDArray[np.bool_]
FILTER_FIELDS = (*LABEL_FIELDS, "min_price", "max_price", "in_stock")
# KEY=VALUE masks kept per table; each is one byte an image.
ATTRIBUTE_MASKS = 64
# Filters allowing at most this many images keep their ids too, for an exact search over them;
# larger ones go to FAISS as a bitmap, with nprobe raised in proportion (search.searcher).
EXACT_IDS = 2_000
# Answers kept per table, by filter: shoppers repeat a few filters (in stock, a category), and a
# bitmap is one bit an image id (125 KB at a million).
ANSWERS = 64
# SQLite allows 32,766 bound parameters; stay well below.
ID_CHUNK = 10_000
NO_STOCK_VALUE = -1  # in_stock NULL: matches neither in_stock=true nor in_stock=false


@dataclass(frozen=True)
class Allowed:
    """What a filter allows: how many images, and either their ascending ids (the database
    path) or a FAISS bitmap of them (bit i = id i; the table's)."""

    count: int
    ids: IdArray | None = None
    bitmap: npt.NDArray[np.uint8] | None = None
    # A backend filtering by expression (search.milvus_search) gets this instead of ids.
    expression: str = ""

    def selector(self) -> Any:
        """A FAISS selector of the ids: a bitmap lookup per candidate where there is one, else
        a hash set built from the ids (what the database path has)."""
        if self.bitmap is None:
            assert self.ids is not None
            return faiss.IDSelectorBatch(self.ids)
        selector = faiss.IDSelectorBitmap(len(self.bitmap), faiss.swig_ptr(self.bitmap))
        selector.referenced = self.bitmap  # FAISS keeps a pointer: the bytes must outlive it
        return selector


@dataclass
class FilterTable:
    """Searchable images (ready, of active products) and their products' filterable fields."""

    image_ids: IdArray  # ascending
    product_ids: IdArray
    labels: dict[str, npt.NDArray[np.int32]]  # field -> code per image; -1 for none
    vocabularies: dict[str, dict[str, int]]  # field -> value -> code
    price: npt.NDArray[np.float64]  # NaN for none
    in_stock: npt.NDArray[np.int8]  # 1, 0, or NO_STOCK_VALUE
    catalog_revision: int | None
    _attributes: OrderedDict[tuple[str, str], BoolArray] = field(default_factory=OrderedDict)
    _answers: OrderedDict[tuple[Any, ...], Allowed] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def load(cls, engine: Engine) -> FilterTable:
        """Read the whole table from the product store (about a second per million images)."""
        with engine.connect() as connection, connection.begin():
            revision = catalog_revision(connection)
            rows = connection.execute(_rows(searchable_images())).all()
        return cls._from_rows(rows, revision, {name: {} for name in LABEL_FIELDS})

    def __len__(self) -> int:
        return len(self.image_ids)

    def with_products(self, engine: Engine, product_ids: Iterable[int]) -> FilterTable:
        """A new table in which these products' images and fields are read again (an admin
        write changed them); cached attribute masks are carried over, updated for them."""
        wanted = np.unique(np.fromiter(product_ids, dtype=np.int64))
        rows: list[Any] = []
        with engine.connect() as connection, connection.begin():
            for start in range(0, len(wanted), ID_CHUNK):
                chunk = [int(i) for i in wanted[start : start + ID_CHUNK]]
                query = searchable_images().where(ProductImage.product_id.in_(chunk))
                rows.extend(connection.execute(_rows(query)).all())
        keep = ~np.isin(self.product_ids, wanted)
        vocabularies = {name: dict(codes) for name, codes in self.vocabularies.items()}
        fresh = FilterTable._from_rows(rows, self.catalog_revision, vocabularies)
        merged = FilterTable(
            image_ids=np.concatenate([self.image_ids[keep], fresh.image_ids]),
            product_ids=np.concatenate([self.product_ids[keep], fresh.product_ids]),
            labels={
                name: np.concatenate([codes[keep], fresh.labels[name]])
                for name, codes in self.labels.items()
            },
            vocabularies=fresh.vocabularies,
            price=np.concatenate([self.price[keep], fresh.price]),
            in_stock=np.concatenate([self.in_stock[keep], fresh.in_stock]),
            catalog_revision=self.catalog_revision,
        )
        order = np.argsort(merged.image_ids, kind="stable")
        merged = merged._reordered(order)
        with self._lock:
            cached = list(self._attributes.items())
        if cached:
            with engine.connect() as connection:
                for (key, value), mask in cached:
                    old = mask[keep]
                    new = _attribute_mask(connection, fresh.image_ids, key, value, among=True)
                    merged._attributes[(key, value)] = np.concatenate([old, new])[order]
        return merged

    def allowed(self, engine: Engine, filters: Filters) -> Allowed:
        """The images of the products matching `filters`, as a bitmap (kept for the next
        search with the same filters)."""
        key = (
            *(getattr(filters, name) for name in FILTER_FIELDS),
            *sorted(filters.attributes.items()),
        )
        with self._lock:
            answer = self._answers.get(key)
            if answer is not None:
                self._answers.move_to_end(key)
                return answer
        ids = self.allowed_ids(engine, filters)
        answer = Allowed(
            len(ids), ids=ids if len(ids) <= EXACT_IDS else None, bitmap=bitmap_of(ids)
        )
        with self._lock:
            self._answers[key] = answer
            while len(self._answers) > ANSWERS:
                self._answers.popitem(last=False)
        return answer

    def allowed_ids(self, engine: Engine, filters: Filters) -> IdArray:
        """The ascending image ids of the products matching `filters`."""
        mask = np.ones(len(self.image_ids), dtype=bool)
        for name in LABEL_FIELDS:
            value = getattr(filters, name)
            if value is not None:
                code = self.vocabularies[name].get(value)
                if code is None:
                    mask[:] = False
                else:
                    mask &= self.labels[name] == code
        if filters.min_price is not None:
            mask &= self.price >= filters.min_price  # NaN (no price) never matches
        if filters.max_price is not None:
            mask &= self.price <= filters.max_price
        if filters.in_stock is not None:
            mask &= self.in_stock == int(filters.in_stock)
        for key, value in filters.attributes.items():
            mask &= self._attribute(engine, key, value)
        ids: IdArray = self.image_ids[mask]
        return ids

    def _attribute(self, engine: Engine, key: str, value: str) -> BoolArray:
        with self._lock:
            mask = self._attributes.get((key, value))
            if mask is not None:
                self._attributes.move_to_end((key, value))
                return mask
        with engine.connect() as connection:
            mask = _attribute_mask(connection, self.image_ids, key, value)
        with self._lock:
            self._attributes[(key, value)] = mask
            while len(self._attributes) > ATTRIBUTE_MASKS:
                self._attributes.popitem(last=False)
        return mask

    def _reordered(self, order: npt.NDArray[np.intp]) -> FilterTable:
        return FilterTable(
            image_ids=self.image_ids[order],
            product_ids=self.product_ids[order],
            labels={name: codes[order] for name, codes in self.labels.items()},
            vocabularies=self.vocabularies,
            price=self.price[order],
            in_stock=self.in_stock[order],
            catalog_revision=self.catalog_revision,
        )

    @classmethod
    def _from_rows(
        cls, rows: Sequence[Any], revision: int | None, vocabularies: dict[str, dict[str, int]]
    ) -> FilterTable:
        count = len(rows)
        # `_rows`'s columns: image id, product id, the labels, price, in stock.
        price_at, stock_at = 2 + len(LABEL_FIELDS), 3 + len(LABEL_FIELDS)
        columns = list(zip(*rows, strict=True)) if rows else [()] * (stock_at + 1)
        labels = {}
        for offset, name in enumerate(LABEL_FIELDS):
            codes = vocabularies[name]
            labels[name] = np.fromiter(
                (-1 if v is None else codes.setdefault(v, len(codes)) for v in columns[2 + offset]),
                dtype=np.int32,
                count=count,
            )
        return cls(
            image_ids=np.fromiter(columns[0], dtype=np.int64, count=count),
            product_ids=np.fromiter(columns[1], dtype=np.int64, count=count),
            labels=labels,
            vocabularies=vocabularies,
            price=np.fromiter(
                (np.nan if v is None else v for v in columns[price_at]),
                dtype=np.float64,
                count=count,
            ),
            in_stock=np.fromiter(
                (NO_STOCK_VALUE if v is None else int(v) for v in columns[stock_at]),
                dtype=np.int8,
                count=count,
            ),
            catalog_revision=revision,
        )


def bitmap_of(ids: IdArray) -> npt.NDArray[np.uint8]:
    """FAISS's IDSelectorBitmap layout: bit (id & 7) of byte (id >> 3), little-endian bits."""
    if not len(ids):
        return np.zeros(1, dtype=np.uint8)
    bits = np.zeros(int(ids[-1]) + 1, dtype=bool)
    bits[ids] = True
    packed: npt.NDArray[np.uint8] = np.packbits(bits, bitorder="little")
    return packed


def _rows(images: Any) -> Any:
    """The table's columns for the images a `searchable_images()` query selects, by image id."""
    fields = [getattr(Product, name) for name in LABEL_FIELDS]
    return images.add_columns(
        ProductImage.product_id, *fields, Product.price, Product.in_stock
    ).order_by(ProductImage.id)


def _attribute_mask(
    connection: Connection, image_ids: IdArray, key: str, value: str, *, among: bool = False
) -> BoolArray:
    """Which of `image_ids` belong to products whose attribute `key` is `value`, by the SQL
    filters use (JSON values compare as text). `among`: ask about those ids only (a few)."""
    query = apply_filters(searchable_images(), Filters(attributes={key: value}))
    matching: list[int] = []
    if not among:
        matching.extend(connection.execute(query).scalars())
    else:
        for start in range(0, len(image_ids), ID_CHUNK):
            chunk = [int(i) for i in image_ids[start : start + ID_CHUNK]]
            matching.extend(connection.execute(query.where(ProductImage.id.in_(chunk))).scalars())
    return np.isin(image_ids, np.asarray(matching, dtype=np.int64))
