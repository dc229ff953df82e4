"""product revisions: a counter every admin write of a product takes

Replicas of the service keep product fields in memory (the filter table); this counter tells
them that another replica changed a product.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTERS = sa.table("counters", sa.column("name", sa.String), sa.column("value", sa.Integer))


def upgrade() -> None:
    op.bulk_insert(COUNTERS, [{"name": "products", "value": 0}])


def downgrade() -> None:
    op.execute(COUNTERS.delete().where(COUNTERS.c.name == "products"))
