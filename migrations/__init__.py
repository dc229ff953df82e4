"""Alembic migrations: the only way Facet's schema is created or changed."""
