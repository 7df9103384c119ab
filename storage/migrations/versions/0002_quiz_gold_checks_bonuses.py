"""quality: qualification quiz, gold checks outside the overlap, level bonuses, gold disputes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 21:57:44
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _zero() -> sa.TextClause:
    return sa.text("0")


def upgrade() -> None:
    op.create_table(
        "gold_disputes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.BigInteger(), nullable=False),
        sa.Column("answer_node_id", sa.BigInteger(), nullable=False),
        sa.Column("gold_node_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.BigInteger(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["assignment_id"], ["assignments.id"], name=op.f("fk_gold_disputes_assignment_id_assignments")
        ),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], name=op.f("fk_gold_disputes_batch_id_batches")),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name=op.f("fk_gold_disputes_item_id_items")),
        sa.ForeignKeyConstraint(["worker_id"], ["users.id"], name=op.f("fk_gold_disputes_worker_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gold_disputes")),
        sa.UniqueConstraint("assignment_id", name=op.f("uq_gold_disputes_assignment_id")),
    )
    with op.batch_alter_table("gold_disputes") as batch_op:
        batch_op.create_index(batch_op.f("ix_gold_disputes_item_id"), ["item_id"], unique=False)

    with op.batch_alter_table("assignments") as batch_op:
        batch_op.add_column(sa.Column("is_gold", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("quiz_attempt", sa.Integer(), nullable=True))

    with op.batch_alter_table("batch_workers") as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default=_zero()))
        batch_op.add_column(sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("batches") as batch_op:
        for column in ("bonus_qualified_micros", "bonus_expert_micros"):
            batch_op.add_column(sa.Column(column, sa.BigInteger(), nullable=False, server_default=_zero()))
        for column in ("qualification", "gold_slots", "quiz_slots"):
            batch_op.add_column(sa.Column(column, sa.Integer(), nullable=False, server_default=_zero()))
        batch_op.add_column(sa.Column("pass_score", sa.Float(), nullable=False, server_default=sa.text("0.8")))
        batch_op.add_column(sa.Column("retry_hours", sa.Float(), nullable=False, server_default=sa.text("24")))

    with op.batch_alter_table("items") as batch_op:
        batch_op.create_index("ix_items_batch_gold", ["batch_id", "gold_node_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("items") as batch_op:
        batch_op.drop_index("ix_items_batch_gold")
    with op.batch_alter_table("batches") as batch_op:
        for column in (
            "gold_slots",
            "quiz_slots",
            "retry_hours",
            "pass_score",
            "qualification",
            "bonus_expert_micros",
            "bonus_qualified_micros",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("batch_workers") as batch_op:
        batch_op.drop_column("retry_at")
        batch_op.drop_column("attempts")
    with op.batch_alter_table("assignments") as batch_op:
        batch_op.drop_column("quiz_attempt")
        batch_op.drop_column("is_gold")
    op.drop_table("gold_disputes")
