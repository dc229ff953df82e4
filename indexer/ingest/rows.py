"""Validating dump records into catalogue rows: known fields, image references, other attributes."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from indexer.ingest.dump import DEFAULT_MAX_FIELD_CHARS, DumpFormat, DumpReader, RawRecord
from search.product import PRODUCT_FIELDS, TEXT_FIELDS, ProductFields, product_fingerprint

# Columns with a meaning of their own; any other column goes into `attributes`.
KNOWN_FIELDS = frozenset(("images", *PRODUCT_FIELDS)) - {"attributes"}
MAX_SKU_LENGTH = 255
CSV_IMAGE_SEPARATOR = "|"

_PRICE = re.compile(r"\d+(?:\.\d+)?|\.\d+")
_CURRENCY = re.compile(r"[A-Za-z]{3}")
_TRUE = frozenset(("true", "t", "yes", "y", "1"))
_FALSE = frozenset(("false", "f", "no", "n", "0"))
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")


class RowError(ValueError):
    """Why one row cannot be loaded."""


@dataclass(frozen=True, kw_only=True)
class CatalogRow(ProductFields):
    """One valid product row of a dump, normalised, with its line and images."""

    line: int
    # Absolute file:// URIs or http(s) URLs, in the dump's order, without repeats.
    images: tuple[str, ...] = ()

    def fingerprint(self) -> str:
        """A hash of everything the row says: equal fingerprints mean the product is unchanged."""
        return product_fingerprint(self, self.images)


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row that was not loaded, with its line number and the reason.

    `sku` is None when the row has no readable SKU; `damaged` marks the place where the dump
    stopped being readable (nothing after it was read).
    """

    line: int
    reason: str
    sku: str | None = None
    damaged: bool = False

    def __str__(self) -> str:
        where = f"line {self.line}" + (f" (sku {self.sku!r})" if self.sku else "")
        return f"{where}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        """The rejection as JSON: line, reason and sku, plus `damaged: true` where it applies."""
        data: dict[str, Any] = {"line": self.line, "reason": self.reason, "sku": self.sku}
        if self.damaged:
            data["damaged"] = True
        return data


def open_catalog(path: Path, *, max_field_chars: int = DEFAULT_MAX_FIELD_CHARS) -> DumpReader:
    """Open a dump for `read_catalog`: CSV headers of Facet's fields match in any case.

    Args:
        path: the dump file.
        max_field_chars: the longest CSV field; a longer one ends the read as damaged.
    """
    return DumpReader(path, known_columns=KNOWN_FIELDS, max_field_chars=max_field_chars)


def read_catalog(reader: DumpReader) -> Iterator[CatalogRow | Rejection]:
    """Validate every record of an open dump, in file order.

    Args:
        reader: the dump, from `open_catalog`; image paths resolve relative to its folder.

    Yields:
        A `CatalogRow` for each valid record and a `Rejection` for each bad one.
    """
    base = str(reader.path.parent.absolute())
    is_csv = reader.format is DumpFormat.CSV
    for record in reader:
        yield _validate(record, base, is_csv)


def _validate(record: RawRecord, base: str, is_csv: bool) -> CatalogRow | Rejection:
    fields = record.fields or {}
    if record.error is not None:
        return Rejection(record.line, record.error, _sku_of(fields), record.damaged)
    try:
        return _parse(record.line, fields, base, is_csv)
    except RowError as error:
        return Rejection(record.line, str(error), _sku_of(fields))


def _sku_of(fields: dict[str, Any]) -> str | None:
    """The SKU of a rejected row, when it has a usable one, so the report can name it."""
    try:
        return _parse_sku(fields.get("sku"))
    except RowError:
        return None


def _parse(line: int, fields: dict[str, Any], base: str, is_csv: bool) -> CatalogRow:
    known: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for name, value in fields.items():
        if name in KNOWN_FIELDS:
            known[name] = value
        elif name == "attributes" and not is_csv and isinstance(value, dict):
            attributes.update({k: v for k, v in value.items() if v is not None})
        elif value is not None and value != "":
            attributes[name] = value.strip() if isinstance(value, str) else value
    sku = _parse_sku(known.get("sku"))
    texts = {name: _parse_text(name, known.get(name)) for name in TEXT_FIELDS}
    return CatalogRow(
        line=line,
        sku=sku,
        price=_parse_price(known.get("price")),
        currency=_parse_currency(known.get("currency")),
        in_stock=_parse_bool(known.get("in_stock")),
        images=_parse_images(known.get("images"), base, is_csv),
        attributes=attributes,
        **texts,
    )


def _parse_sku(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise RowError("missing sku")
    sku = value.strip()
    if len(sku) > MAX_SKU_LENGTH:
        raise RowError(f"sku longer than {MAX_SKU_LENGTH} characters")
    return sku


def _parse_text(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise RowError(f"{name} must be a string, not {type(value).__name__}")
    return value.strip() or None


def _parse_price(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RowError(f"unparseable price {value!r}")
    if not isinstance(value, int | float) and not (
        isinstance(value, str) and _PRICE.fullmatch(value.strip())
    ):
        raise RowError(f"unparseable price {value!r}")
    try:
        price = float(value)
    except OverflowError:  # an integer beyond float's range
        price = math.inf
    if not math.isfinite(price) or price < 0:
        raise RowError(f"unparseable price {_shorten(value)}")
    return price


def _shorten(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}..."


def _parse_currency(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value.strip()):
        raise RowError(f"currency must be a 3-letter ISO 4217 code, not {value!r}")
    return value.strip().upper()


def _parse_bool(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise RowError(f"unparseable in_stock {value!r} (expected true/false, yes/no or 1/0)")


def _parse_images(value: Any, base: str, is_csv: bool) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if is_csv or isinstance(value, str):
        if not isinstance(value, str):
            raise RowError("images must be text")
        references = value.split(CSV_IMAGE_SEPARATOR) if is_csv else [value]
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        references = value
    else:
        raise RowError("images must be a list of strings")
    uris = (resolve_image_reference(ref.strip(), base) for ref in references if ref.strip())
    return tuple(dict.fromkeys(uris))


def resolve_image_reference(reference: str, base: str) -> str:
    """Turn an image reference from a dump into an absolute `file://` URI or an http(s) URL.

    Args:
        reference: a path (relative to `base` or absolute), a `file://` URI or an http(s) URL.
        base: the folder of the dump file.

    Raises:
        RowError: for other URI schemes and malformed URLs.
    """
    scheme_match = _SCHEME.match(reference)
    scheme = scheme_match.group(1).lower() if scheme_match else None
    if scheme in ("http", "https"):
        if not urlsplit(reference).netloc:
            raise RowError(f"image URL without a host: {reference!r}")
        # Stored with a lower-case scheme: later code tells URLs from files by this prefix.
        return scheme + reference[len(scheme) :]
    if scheme == "file":
        parts = urlsplit(reference)
        if parts.netloc not in ("", "localhost"):
            raise RowError(f"file URI on another host: {reference!r}")
        path = unquote(parts.path)
        if not path.startswith("/"):
            raise RowError(f"file URI must be absolute: {reference!r}")
        return _file_uri(path)
    if scheme is not None:
        raise RowError(
            f"unsupported image reference {reference!r} (use a path, file:// or http(s)://)"
        )
    return _file_uri(os.path.join(base, reference))


def _file_uri(path: str) -> str:
    # What Path(path).as_uri() returns, without pathlib's per-call parsing: this runs for every
    # image of every row, and pathlib was a third of the ingest time.
    return "file://" + quote(os.path.normpath(path))
