"""One JSON attribute of a product as text, compiled for each database Facet supports.

SQLAlchemy's own `column[key].as_string()` builds a JSON path on SQLite, and SQLite's paths (and
its `->>` operator) cannot name a key that holds a double quote, so `cut "A"` would never match.
On SQLite the value is therefore looked up by key with `json_each`; PostgreSQL's `->>` operator
takes any key as a plain value.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import literal
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.roles import ExpressionElementRole


class json_text(FunctionElement[str]):  # noqa: N801  (named like SQL functions are)
    """`json_text(column, key)`: the value under `key` as text, NULL when absent.

    Numbers compare as their text ("52" matches both "52" and 52 in a dump).
    """

    type = String()
    inherit_cache = True
    name = "json_text"

    def __init__(self, column: ExpressionElementRole[Any], key: str) -> None:
        super().__init__(column, literal(key, String()))


@compiles(json_text, "sqlite")
def _sqlite(element: json_text, compiler: Any, **kw: Any) -> str:
    column, key = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"(SELECT CAST(value AS TEXT) FROM json_each({column}) WHERE key = {key})"


@compiles(json_text, "postgresql")
def _postgresql(element: json_text, compiler: Any, **kw: Any) -> str:
    # What SQLAlchemy's JSON type renders, `column ->> key`, but with the key parameter of this
    # element: a parameter made here would escape the statement cache's key, and a cached
    # statement would then run with the first key it was compiled for.
    column, key = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"({column} ->> {key})"
