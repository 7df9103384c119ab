"""ORM models: the database is the only state of the bot (no balances or tasks in memory)."""

from datetime import UTC, datetime
from typing import ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from storage.clock import utcnow
from storage.states import AssignmentStatus, BatchStatus, DisputeState, OutboxState, PayoutStatus, WorkerState

# Stable constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
LANGUAGE_LENGTH = 35  # a BCP 47 language tag as Telegram gives it, with room to spare
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both databases (SQLite would otherwise hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    # Every model here is mapped to a Table (SQLAlchemy types it as any FromClause), so Model.__table__.insert() types.
    __table__: ClassVar[Table]


class User(Base):
    """A Telegram user; roles beyond worker come from settings or an admin's grant."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    first_name: Mapped[str] = mapped_column(String(256), default="")
    username: Mapped[str | None] = mapped_column(String(64))
    # Their Telegram language tag ("de", "pt-br") as they last wrote: messages sent later are in it.
    language: Mapped[str | None] = mapped_column(String(LANGUAGE_LENGTH))
    is_requester: Mapped[bool] = mapped_column(Boolean, default=False)
    # False once Telegram told us the user blocked the bot; set back on their next update.
    is_reachable: Mapped[bool] = mapped_column(Boolean, default=True)
    # Set by an admin; a suspended user gets no tasks and no payouts.
    # Reasons are codes with parameters, as JSON text (bot.reasons): the text layer words them.
    suspended_reason: Mapped[str | None] = mapped_column(String(512))
    # What the user's next typed message answers ("payout_method:paypal", "reject_reason:12");
    # kept here rather than in memory so it survives restarts and works across bot processes.
    awaiting: Mapped[str | None] = mapped_column(String(64))
    # When we last reminded them to set a payout method, so the reminder is sent once.
    reminded_method_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The worker's own daily earnings goal (/target), and whether we suggest breaks (/breaks).
    daily_target_micros: Mapped[int | None] = mapped_column(BigInteger)
    # Lifetime gold answers (one per graded question), how many of them right, and the level they
    # earned (0 Newcomer, 1 Qualified, 2 Expert), kept here so the claim query can gate batches by
    # level without counting history.
    gold_answers: Mapped[int] = mapped_column(Integer, default=0)
    gold_correct: Mapped[int] = mapped_column(Integer, default=0)
    level: Mapped[int] = mapped_column(Integer, default=0)
    breaks_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    break_suggested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The current stretch of work without a 5-minute pause, for break suggestions.
    stretch_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_answer_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Taxonomy(Base):
    __tablename__ = "taxonomies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    source: Mapped[str] = mapped_column(String(512), default="")
    node_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TaxonomyNode(Base):
    __tablename__ = "taxonomy_nodes"

    taxonomy_id: Mapped[int] = mapped_column(ForeignKey("taxonomies.id"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    parent_id: Mapped[int | None] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(512))
    # Order in the source file, so buttons keep the author's order.
    position: Mapped[int] = mapped_column(Integer)


class Batch(Base):
    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    task_type: Mapped[str] = mapped_column(String(32))
    taxonomy_id: Mapped[int] = mapped_column(ForeignKey("taxonomies.id"))
    root_node_id: Mapped[int | None] = mapped_column(BigInteger)
    reward_micros: Mapped[int] = mapped_column(BigInteger)
    overlap: Mapped[int] = mapped_column(Integer)
    leaf_only: Mapped[bool] = mapped_column(Boolean, default=True)
    # The task type's own settings (attributes, questions, correct=…), as its `configure` made them.
    task_config: Mapped[dict] = mapped_column(JSON, default=dict)
    instructions: Mapped[str] = mapped_column(Text, default="")
    # Share of tasks served from gold items (used by quality control).
    gold_rate: Mapped[float] = mapped_column(Float, default=0.0)
    # Dynamic overlap: an item stops at `confidence` after `min_overlap` answers (None: always `overlap`).
    confidence: Mapped[float | None] = mapped_column(Float)
    min_overlap: Mapped[int] = mapped_column(Integer, default=1)
    # Quality control: removal when the gold accuracy's Wilson bound falls under min_accuracy after
    # min_gold gold answers; a hold when answers come faster than min_seconds (None: a third of the
    # crowd's median); at most max_answers answers per worker (None: no cap).
    min_gold: Mapped[int] = mapped_column(Integer, default=5)
    min_accuracy: Mapped[float] = mapped_column(Float, default=0.7)
    min_seconds: Mapped[float | None] = mapped_column(Float)
    max_answers: Mapped[int | None] = mapped_column(Integer)
    # Only workers of at least this level see the batch (0 Newcomer, 1 Qualified, 2 Expert).
    min_level: Mapped[int] = mapped_column(Integer, default=0)
    # Extra pay per answer for Qualified and Expert workers; the reserve covers the larger one.
    bonus_qualified_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    bonus_expert_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    # A quiz of this many gold items before a worker's first paid task (0: none); passed with a
    # share of `pass_score` right, retried after `retry_hours`, at most QUIZ_ATTEMPTS times.
    qualification: Mapped[int] = mapped_column(Integer, default=0)
    pass_score: Mapped[float] = mapped_column(Float, default=0.8)
    retry_hours: Mapped[float] = mapped_column(Float, default=24.0)
    # Gold answers the reserve still pays for, kept apart so quizzes cannot use up the checks:
    # checks stop at zero; a quiz attempt takes all its questions when it starts, so it never stalls.
    gold_slots: Mapped[int] = mapped_column(Integer, default=0)
    quiz_slots: Mapped[int] = mapped_column(Integer, default=0)
    # When the requester was told the quiz budget ran out; cleared when they fund more quizzes.
    quiz_budget_alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # draft → active ⇄ paused → completed | cancelled
    status: Mapped[str] = mapped_column(String(16), default=BatchStatus.DRAFT)
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    # What launching set aside; the unspent rest is refunded on completion or cancellation.
    reserved_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    source_name: Mapped[str] = mapped_column(String(256), default="")
    # SHA-256 of the product file as loaded, so loading the same file twice is noticed ("": not known).
    source_hash: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    launched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Item(Base):
    """One product of a batch; `slots_taken` counts reserved plus answered assignments."""

    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("batch_id", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"))
    external_id: Mapped[str] = mapped_column(String(256))
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    brand: Mapped[str] = mapped_column(String(256), default="")
    price: Mapped[str] = mapped_column(String(64), default="")
    image_url: Mapped[str] = mapped_column(Text, default="")
    # What the task type keeps of the row beyond the card ({"proposed": "5181"}), and the right
    # label per question of a gold item ({"category": "5181"}); `is_gold` indexes the gold items.
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    gold: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    is_gold: Mapped[bool] = mapped_column(Boolean, default=False)
    slots_taken: Mapped[int] = mapped_column(Integer, default=0)
    answers: Mapped[int] = mapped_column(Integer, default=0)
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    # The stop rule found the crowd confident enough: no more answers, even if slots free up.
    settled: Mapped[bool] = mapped_column(Boolean, default=False)


# The claim query walks this index in order: open items, already-started ones first.
Index("ix_items_claim", Item.is_open, Item.slots_taken.desc(), Item.id)
# "Is anything of this batch still open?" without reading the whole batch.
Index("ix_items_batch_open", Item.batch_id, Item.is_open)
# The gold items of a batch, for quizzes and checks.
Index("ix_items_batch_gold", Item.batch_id, Item.is_gold)


class Assignment(Base):
    """An item shown to one worker: reserved until answered, skipped or expired."""

    __tablename__ = "assignments"
    __table_args__ = (
        # A worker never gets the same item twice, and a replay cannot create a second row.
        UniqueConstraint("item_id", "worker_id"),
        Index("ix_assignments_worker_status", "worker_id", "status"),
        Index("ix_assignments_status_expires", "status", "expires_at"),
        Index("ix_assignments_credit", "credit_state", "answered_at"),
        Index("ix_assignments_batch_status", "batch_id", "status"),
        Index("ix_assignments_worker_answered", "worker_id", "answered_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"))
    worker_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default=AssignmentStatus.RESERVED)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The label per question ({"category": "5181"}); filled one question at a time while reserved.
    answer: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    # Graded against the item's gold, each of its questions with gold one gold answer: how many were
    # graded (0: not a graded answer), how many of them right, and (in a tree) how far off.
    gold_graded: Mapped[int] = mapped_column(Integer, default=0)
    gold_right: Mapped[int] = mapped_column(Integer, default=0)
    gold_distance: Mapped[int | None] = mapped_column(Integer)
    reward_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    # Served as a gold check (outside the item's overlap); quiz answers also carry their attempt.
    is_gold: Mapped[bool] = mapped_column(Boolean, default=False)
    quiz_attempt: Mapped[int | None] = mapped_column(Integer)
    credit_state: Mapped[str | None] = mapped_column(String(16))  # a CreditState once answered


class Account(Base):
    """A ledger account; `balance` is a cache of the sum of its entries, kept in the same transaction."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("kind", "owner_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    # The user the account belongs to; 0 for the platform's own accounts.
    owner_id: Mapped[int] = mapped_column(BigInteger)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)


class LedgerTransaction(Base):
    __tablename__ = "ledger_transactions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Derived from the cause (answer:<assignment_id>, ...): a replay cannot post twice.
    key: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    memo: Mapped[str] = mapped_column(String(512), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)


class PayoutMethod(Base):
    """Where a worker's money goes: one method per worker, replaced on change."""

    __tablename__ = "payout_methods"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(256))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Payout(Base):
    """A payout request; its money sits in the worker's in-flight account until an admin decides."""

    __tablename__ = "payouts"
    __table_args__ = (Index("ix_payouts_status", "status", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    amount_micros: Mapped[int] = mapped_column(BigInteger)
    method_kind: Mapped[str] = mapped_column(String(16))
    method_address: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16), default=PayoutStatus.REQUESTED)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[int | None] = mapped_column(BigInteger)
    reference: Mapped[str | None] = mapped_column(String(256))
    reason: Mapped[str | None] = mapped_column(String(512))  # a rejection's, as JSON text (bot.reasons)


class PayoutNotice(Base):
    """The copy of a payout request sent to one admin, so a decision can update every copy."""

    __tablename__ = "payout_notices"

    payout_id: Mapped[int] = mapped_column(ForeignKey("payouts.id"), primary_key=True)
    admin_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    message_id: Mapped[int] = mapped_column(BigInteger)


class AuditEntry(Base):
    """Every admin action, and every refused attempt at one."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor_id: Mapped[int] = mapped_column(BigInteger, index=True)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(128), default="")
    details: Mapped[str] = mapped_column(String(1024), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BatchWorker(Base):
    """One worker in one batch: how many answers they gave, and whether quality control stopped them."""

    __tablename__ = "batch_workers"

    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default=WorkerState.ACTIVE)
    # Answers on the batch's own items (gold checks not counted): the per-worker cap applies to these.
    answers: Mapped[int] = mapped_column(Integer, default=0)
    # Quiz attempts started; the current attempt's answers are the assignments carrying its number.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(String(512))  # a hold's or removal's, as JSON text (bot.reasons)
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class GoldDispute(Base):
    """A worker's "this gold is wrong" on one of their graded answers, until the requester or an admin decides."""

    __tablename__ = "gold_disputes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # One dispute per graded answer: a second tap finds the first.
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), unique=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"))
    worker_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # The worker's answer and the gold it was graded against, as they were when contested.
    answer: Mapped[dict] = mapped_column(JSON)
    gold: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=DisputeState.OPEN)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by: Mapped[int | None] = mapped_column(BigInteger)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxMessage(Base):
    """A message the bot owes someone because of a change, written in the change's own transaction.

    It holds a kind and its parameters, never text: the text is rendered in the recipient's language
    when it is delivered. Delivery retries until Telegram takes it or the message is given up.
    """

    __tablename__ = "outbox"
    # The delivery job's look-up: pending messages by due time.
    __table_args__ = (Index("ix_outbox_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Derived from the cause ("payout:12:requested:101"), so a repeated change cannot owe twice.
    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default=OutboxState.PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A delivery run's lease: no other run takes the message before it ends.
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why the last attempt failed, or why the message was given up.
    last_error: Mapped[str | None] = mapped_column(String(256))


class SeenUpdate(Base):
    """A Telegram update an instance took in webhook mode: claimed while it is processed (until
    `claimed_until`, so that a dead instance's claim runs out), then done; forgotten after `expires_at`,
    once Telegram would no longer send it again."""

    __tablename__ = "seen_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    claimed_until: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class JobLease(Base):
    """Which run of a scheduled job is under way: several bot processes each run the job queue, and a run
    starts only when it takes its job's lease, so the job runs once at a time across them all."""

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The run holding the lease (a random token), and until when; both NULL while no run holds it.
    holder: Mapped[str | None] = mapped_column(String(32))
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
