"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 21:17:27.779268
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("kind", "owner_id", name=op.f("uq_accounts_kind")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=False),
        sa.Column("details", sa.String(length=1024), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_actor_id"), ["actor_id"], unique=False)

    op.create_table(
        "ledger_transactions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("memo", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transactions")),
        sa.UniqueConstraint("key", name=op.f("uq_ledger_transactions_key")),
    )
    op.create_table(
        "taxonomies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=512), nullable=False),
        sa.Column("node_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taxonomies")),
        sa.UniqueConstraint("name", name=op.f("uq_taxonomies_name")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("first_name", sa.String(length=256), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("is_requester", sa.Boolean(), nullable=False),
        sa.Column("is_reachable", sa.Boolean(), nullable=False),
        sa.Column("suspended_reason", sa.String(length=512), nullable=True),
        sa.Column("awaiting", sa.String(length=64), nullable=True),
        sa.Column("reminded_method_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("daily_target_micros", sa.BigInteger(), nullable=True),
        sa.Column("gold_answers", sa.Integer(), nullable=False),
        sa.Column("gold_correct", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("breaks_enabled", sa.Boolean(), nullable=False),
        sa.Column("break_suggested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stretch_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_answer_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_table(
        "batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("requester_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("task_type", sa.String(length=32), nullable=False),
        sa.Column("taxonomy_id", sa.Integer(), nullable=False),
        sa.Column("root_node_id", sa.BigInteger(), nullable=True),
        sa.Column("reward_micros", sa.BigInteger(), nullable=False),
        sa.Column("overlap", sa.Integer(), nullable=False),
        sa.Column("leaf_only", sa.Boolean(), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("gold_rate", sa.Float(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("min_overlap", sa.Integer(), nullable=False),
        sa.Column("min_gold", sa.Integer(), nullable=False),
        sa.Column("min_accuracy", sa.Float(), nullable=False),
        sa.Column("min_seconds", sa.Float(), nullable=True),
        sa.Column("max_answers", sa.Integer(), nullable=True),
        sa.Column("min_level", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("reserved_micros", sa.BigInteger(), nullable=False),
        sa.Column("source_name", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("launched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["requester_id"], ["users.id"], name=op.f("fk_batches_requester_id_users")),
        sa.ForeignKeyConstraint(["taxonomy_id"], ["taxonomies.id"], name=op.f("fk_batches_taxonomy_id_taxonomies")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batches")),
    )
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_batches_requester_id"), ["requester_id"], unique=False)

    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_ledger_entries_account_id_accounts")),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_ledger_entries_transaction_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_entries_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_entries_transaction_id"), ["transaction_id"], unique=False)

    op.create_table(
        "payout_methods",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=256), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_payout_methods_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_payout_methods")),
    )
    op.create_table(
        "payouts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.BigInteger(), nullable=False),
        sa.Column("amount_micros", sa.BigInteger(), nullable=False),
        sa.Column("method_kind", sa.String(length=16), nullable=False),
        sa.Column("method_address", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.BigInteger(), nullable=True),
        sa.Column("reference", sa.String(length=256), nullable=True),
        sa.Column("reason", sa.String(length=512), nullable=True),
        sa.ForeignKeyConstraint(["worker_id"], ["users.id"], name=op.f("fk_payouts_worker_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payouts")),
    )
    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.create_index("ix_payouts_status", ["status", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payouts_worker_id"), ["worker_id"], unique=False)

    op.create_table(
        "taxonomy_nodes",
        sa.Column("taxonomy_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["taxonomy_id"], ["taxonomies.id"], name=op.f("fk_taxonomy_nodes_taxonomy_id_taxonomies")
        ),
        sa.PrimaryKeyConstraint("taxonomy_id", "id", name=op.f("pk_taxonomy_nodes")),
    )
    op.create_table(
        "batch_workers",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=512), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], name=op.f("fk_batch_workers_batch_id_batches")),
        sa.ForeignKeyConstraint(["worker_id"], ["users.id"], name=op.f("fk_batch_workers_worker_id_users")),
        sa.PrimaryKeyConstraint("batch_id", "worker_id", name=op.f("pk_batch_workers")),
    )
    op.create_table(
        "items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=256), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("brand", sa.String(length=256), nullable=False),
        sa.Column("price", sa.String(length=64), nullable=False),
        sa.Column("image_url", sa.Text(), nullable=False),
        sa.Column("gold_node_id", sa.BigInteger(), nullable=True),
        sa.Column("proposed_node_id", sa.BigInteger(), nullable=True),
        sa.Column("gold_answer", sa.Text(), nullable=True),
        sa.Column("slots_taken", sa.Integer(), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("settled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], name=op.f("fk_items_batch_id_batches")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_items")),
        sa.UniqueConstraint("batch_id", "external_id", name=op.f("uq_items_batch_id")),
    )
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.create_index("ix_items_batch_open", ["batch_id", "is_open"], unique=False)
        batch_op.create_index("ix_items_claim", ["is_open", sa.literal_column("slots_taken DESC"), "id"], unique=False)

    op.create_table(
        "payout_notices",
        sa.Column("payout_id", sa.Integer(), nullable=False),
        sa.Column("admin_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["payout_id"], ["payouts.id"], name=op.f("fk_payout_notices_payout_id_payouts")),
        sa.PrimaryKeyConstraint("payout_id", "admin_id", name=op.f("pk_payout_notices")),
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer_node_id", sa.BigInteger(), nullable=True),
        sa.Column("gold_correct", sa.Boolean(), nullable=True),
        sa.Column("gold_distance", sa.Integer(), nullable=True),
        sa.Column("reward_micros", sa.BigInteger(), nullable=False),
        sa.Column("credit_state", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], name=op.f("fk_assignments_batch_id_batches")),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name=op.f("fk_assignments_item_id_items")),
        sa.ForeignKeyConstraint(["worker_id"], ["users.id"], name=op.f("fk_assignments_worker_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
        sa.UniqueConstraint("item_id", "worker_id", name=op.f("uq_assignments_item_id")),
    )
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.create_index("ix_assignments_batch_status", ["batch_id", "status"], unique=False)
        batch_op.create_index("ix_assignments_credit", ["credit_state", "answered_at"], unique=False)
        batch_op.create_index("ix_assignments_status_expires", ["status", "expires_at"], unique=False)
        batch_op.create_index("ix_assignments_worker_answered", ["worker_id", "answered_at"], unique=False)
        batch_op.create_index("ix_assignments_worker_status", ["worker_id", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_assignments_worker_status")
        batch_op.drop_index("ix_assignments_worker_answered")
        batch_op.drop_index("ix_assignments_status_expires")
        batch_op.drop_index("ix_assignments_credit")
        batch_op.drop_index("ix_assignments_batch_status")

    op.drop_table("assignments")
    op.drop_table("payout_notices")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index("ix_items_claim")
        batch_op.drop_index("ix_items_batch_open")

    op.drop_table("items")
    op.drop_table("batch_workers")
    op.drop_table("taxonomy_nodes")
    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payouts_worker_id"))
        batch_op.drop_index("ix_payouts_status")

    op.drop_table("payouts")
    op.drop_table("payout_methods")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_entries_transaction_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_entries_account_id"))

    op.drop_table("ledger_entries")
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_batches_requester_id"))

    op.drop_table("batches")
    op.drop_table("users")
    op.drop_table("taxonomies")
    op.drop_table("ledger_transactions")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_actor_id"))

    op.drop_table("audit_log")
    op.drop_table("accounts")
