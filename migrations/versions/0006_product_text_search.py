"""product text search: an FTS5 index (SQLite) or a tsvector column (PostgreSQL) over products

Title, description, category, material, style and the attribute values, with English stemming
("rings" finds "ring"), kept in step with `products` by the database itself (triggers on SQLite,
a generated column on PostgreSQL), so ingest and admin writes need no code of their own.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 05:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = "title, description, category, material, style, attributes"
SQLITE = [
    f"CREATE VIRTUAL TABLE products_fts USING fts5({COLUMNS}, content='products', "
    "content_rowid='id', tokenize='porter unicode61')",
    f"CREATE TRIGGER products_fts_insert AFTER INSERT ON products BEGIN "
    f"INSERT INTO products_fts(rowid, {COLUMNS}) VALUES (new.id, new.title, new.description, "
    "new.category, new.material, new.style, new.attributes); END",
    f"CREATE TRIGGER products_fts_delete AFTER DELETE ON products BEGIN "
    f"INSERT INTO products_fts(products_fts, rowid, {COLUMNS}) VALUES ('delete', old.id, "
    "old.title, old.description, old.category, old.material, old.style, old.attributes); END",
    f"CREATE TRIGGER products_fts_update AFTER UPDATE ON products BEGIN "
    f"INSERT INTO products_fts(products_fts, rowid, {COLUMNS}) VALUES ('delete', old.id, "
    "old.title, old.description, old.category, old.material, old.style, old.attributes); "
    f"INSERT INTO products_fts(rowid, {COLUMNS}) VALUES (new.id, new.title, new.description, "
    "new.category, new.material, new.style, new.attributes); END",
    "INSERT INTO products_fts(products_fts) VALUES ('rebuild')",
]
POSTGRESQL = [
    "ALTER TABLE products ADD COLUMN search_document tsvector GENERATED ALWAYS AS ("
    "to_tsvector('english', coalesce(title, '') || ' ' || coalesce(description, '') || ' ' || "
    "coalesce(category, '') || ' ' || coalesce(material, '') || ' ' || coalesce(style, '') || "
    "' ' || coalesce(attributes::text, ''))) STORED",
    "CREATE INDEX ix_products_search_document ON products USING gin (search_document)",
]


def upgrade() -> None:
    statements = SQLITE if op.get_context().dialect.name == "sqlite" else POSTGRESQL
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER products_fts_{trigger}")
        op.execute("DROP TABLE products_fts")
    else:
        op.execute("DROP INDEX ix_products_search_document")
        op.execute("ALTER TABLE products DROP COLUMN search_document")
