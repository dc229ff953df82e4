"""Reading catalogue dump files: CSV or JSONL, plain or gzip, streamed record by record."""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, cast

from search.errors import DumpError


class DumpFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


# The longest CSV field read. Far above any real description, so a longer one means damage (a
# stray quote swallowing the rest of the file), and the reader stops there instead of crashing.
DEFAULT_MAX_FIELD_CHARS = 16 * 2**20
# Deeper JSON values are rejected: they serve no catalogue, and recursive code down the line
# (serialisers, the API's encoder) would hit Python's recursion limit on them.
MAX_JSON_DEPTH = 32

SUFFIXES = {
    ".csv": (DumpFormat.CSV, False),
    ".csv.gz": (DumpFormat.CSV, True),
    ".jsonl": (DumpFormat.JSONL, False),
    ".jsonl.gz": (DumpFormat.JSONL, True),
}


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One record of the dump before validation: its fields, or why it could not even be parsed.

    A `damaged` record is the last one: the dump could not be read past its line (a CSV syntax
    error, a truncated file), so which products the rest of the dump lists is unknown.
    """

    line: int
    fields: dict[str, Any] | None
    error: str | None = None
    damaged: bool = False


def detect_format(path: Path) -> tuple[DumpFormat, bool]:
    """The dump's format and whether it is gzip-compressed, from its file name."""
    name = path.name.lower()
    for suffix, kind in SUFFIXES.items():
        if name.endswith(suffix):
            return kind
    known = ", ".join(SUFFIXES)
    raise DumpError(f"{path}: unknown dump format (expected one of {known})")


class DumpReader:
    """Iterates a dump's records and tells how far into the file it has read.

    Use as a context manager; iterate it once.
    """

    def __init__(
        self,
        path: Path,
        *,
        known_columns: frozenset[str] = frozenset({"sku"}),
        max_field_chars: int = DEFAULT_MAX_FIELD_CHARS,
    ) -> None:
        """Open a dump.

        Args:
            path: the dump file; its name gives the format.
            known_columns: lower-case names of the columns the caller understands. CSV headers
                match them whatever their case, and are handed back in lower case.
            max_field_chars: the longest CSV field; a longer one ends the read as damaged.
        """
        self.path = path
        self.known_columns = known_columns | {"sku"}
        self.max_field_chars = max_field_chars
        self.format, self.compressed = detect_format(path)
        try:
            self._raw: IO[bytes] = open(path, "rb")  # noqa: SIM115 (closed in close())
        except IsADirectoryError:
            raise DumpError(f"{path}: is a directory, not a dump file") from None
        except OSError as error:
            raise DumpError(f"{path}: cannot read dump: {error.strerror or error}") from None
        self.total_bytes = os.fstat(self._raw.fileno()).st_size

    def __enter__(self) -> DumpReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._raw.close()

    @property
    def bytes_read(self) -> int:
        """Bytes consumed from the file on disk (compressed bytes for gzip), for progress bars."""
        return self._raw.tell() if not self._raw.closed else self.total_bytes

    def __iter__(self) -> Iterator[RawRecord]:
        stream: IO[bytes] = self._raw
        if self.compressed:
            stream = cast(IO[bytes], gzip.GzipFile(fileobj=self._raw))
        if self.format is DumpFormat.CSV:
            records = _read_csv(stream, self.known_columns, self.max_field_chars)
        else:
            records = _read_jsonl(stream)
        last_line = 0
        try:
            for record in records:
                last_line = record.line
                yield record
        except (OSError, EOFError, zlib.error) as error:
            # A truncated or corrupt gzip stream, or a failing disk: the rest of the file is lost.
            if last_line == 0:
                raise DumpError(f"{self.path}: cannot read dump: {error}") from None
            reason = f"the dump ends early or is corrupt after line {last_line}: {error}"
            yield RawRecord(last_line + 1, None, reason, damaged=True)


def _read_csv(
    stream: IO[bytes], known_columns: frozenset[str], max_field_chars: int
) -> Iterator[RawRecord]:
    # surrogateescape keeps going past invalid UTF-8, so one bad row is rejected, not the file.
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    # The limit is process-wide in the csv module; set it for every dump rather than inherit it.
    csv.field_size_limit(max_field_chars)
    # strict: a quoted field still open at the end of the file, or text after a closing quote,
    # is an error instead of being silently glued into one field.
    reader = csv.reader(text, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as error:
        raise DumpError(f"line 1: unreadable CSV header: {error}") from None
    columns = [_column_name(name, known_columns) for name in header]
    _check_header(columns)
    width = len(columns)
    last_line = reader.line_num
    while True:
        line = last_line + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            # The parser may now be anywhere, even inside a quoted field: what follows could be
            # half a row read as a whole one. Nothing after this point can be trusted.
            yield RawRecord(line, None, _csv_damage(error, max_field_chars), damaged=True)
            return
        last_line = reader.line_num
        if not values or (len(values) == 1 and not values[0].strip()):
            continue  # blank line
        if len(values) != width:
            yield RawRecord(line, None, f"expected {width} fields, found {len(values)}")
            continue
        try:
            "".join(values).encode("utf-8")
        except UnicodeEncodeError:
            yield RawRecord(line, _partial_sku(columns, values), "invalid UTF-8")
            continue
        yield RawRecord(line, dict(zip(columns, values, strict=True)))


def _csv_damage(error: csv.Error, max_field_chars: int) -> str:
    message = str(error)
    if "unexpected end of data" in message:
        what = "a quoted field runs to the end of the file (a stray quote?)"
    elif "field larger than field limit" in message:
        what = f"a field is longer than {max_field_chars:,} characters (a stray quote?)"
    else:
        what = f"malformed CSV ({message})"
    return f"{what}; the dump was not read past this line"


def _column_name(header: str, known_columns: frozenset[str]) -> str:
    name = header.strip()
    return name.lower() if name.lower() in known_columns else name


def _check_header(columns: list[str]) -> None:
    seen: set[str] = set()
    for name in columns:
        key = name.lower()
        if key in seen:
            raise DumpError(f"line 1: column {name!r} appears twice in the header")
        seen.add(key)
    if "sku" not in seen:
        raise DumpError("line 1: the header has no 'sku' column")


def _partial_sku(columns: list[str], values: list[str]) -> dict[str, Any] | None:
    """The SKU of a row that cannot be loaded, when readable, so the report can name it."""
    for name, value in zip(columns, values, strict=True):
        if name == "sku":
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return None
            return {"sku": value}
    return None


def _read_jsonl(stream: IO[bytes]) -> Iterator[RawRecord]:
    for line_number, raw in enumerate(stream, start=1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8-sig" if line_number == 1 else "utf-8")
        except UnicodeDecodeError:
            yield RawRecord(line_number, None, "invalid UTF-8")
            continue
        try:
            value = _DECODER.decode(text)
        except json.JSONDecodeError as error:
            yield RawRecord(line_number, None, f"invalid JSON: {error.msg} at column {error.colno}")
            continue
        except RecursionError:
            yield RawRecord(line_number, None, "invalid JSON: nested too deeply")
            continue
        except ValueError as error:  # from the hooks below, or an integer too long to convert
            yield RawRecord(line_number, _lenient_sku(text), f"invalid JSON: {error}")
            continue
        if not isinstance(value, dict):
            yield RawRecord(line_number, None, "not a JSON object")
            continue
        # Counting brackets is cheap and rules out deep nesting for nearly every line.
        brackets = text.count("[") + text.count("{")
        if brackets > MAX_JSON_DEPTH and _nesting_exceeds(value, MAX_JSON_DEPTH):
            sku = {"sku": value["sku"]} if "sku" in value else None
            yield RawRecord(line_number, sku, f"nested deeper than {MAX_JSON_DEPTH} levels")
            continue
        yield RawRecord(line_number, value)


def _lenient_sku(text: str) -> dict[str, Any] | None:
    """The SKU of a line refused for NaN or an out-of-range number, so it still counts as seen."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return {"sku": value["sku"]} if isinstance(value, dict) and "sku" in value else None


def _refuse_constant(name: str) -> float:
    # json.loads accepts NaN and Infinity, which are not JSON and poison prices and attributes.
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number {text} is out of range")
    return number


# One decoder for every line: json.loads with options builds a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


def _nesting_exceeds(value: Any, limit: int) -> bool:
    """Whether lists and objects nest deeper than `limit` (iterative: no recursion of its own)."""
    stack: list[tuple[Any, int]] = [(value, 1)]  # only lists and dicts go on the stack
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
