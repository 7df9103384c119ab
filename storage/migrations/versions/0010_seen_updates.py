"""seen updates: each Telegram update taken once across instances in webhook mode, remembered for a day

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "seen_updates",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("update_id", name=op.f("pk_seen_updates")),
    )
    op.create_index(op.f("ix_seen_updates_expires_at"), "seen_updates", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_seen_updates_expires_at"), table_name="seen_updates")
    op.drop_table("seen_updates")
