"""image quality: each catalogue image's photo quality measurements and verdict

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 05:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "image_quality",
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("verdict", sa.String(length=8), nullable=False),
        sa.Column("reasons", sa.String(length=255), nullable=False),
        sa.Column("measurements", sa.JSON(), nullable=False),
        sa.Column("excluded", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("measured_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "verdict IN ('ok', 'warn', 'fail')", name=op.f("ck_image_quality_verdict_known")
        ),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["product_images.id"],
            name=op.f("fk_image_quality_image_id_product_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("image_id", name=op.f("pk_image_quality")),
    )
    with op.batch_alter_table("image_quality", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_image_quality_verdict"), ["verdict"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("image_quality", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_image_quality_verdict"))
    op.drop_table("image_quality")
