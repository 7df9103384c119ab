"""Claiming items for workers and giving reservations back: the queries where races live.

Claiming is one indexed query plus one write, inside a write transaction: on PostgreSQL the
chosen item row is locked with FOR UPDATE SKIP LOCKED so concurrent claimers pick different
rows; on SQLite the whole write transaction is serialised by BEGIN IMMEDIATE.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, case, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Assignment, Batch, BatchWorker, Item, User

RESERVED = "reserved"
_batch_running = exists().where(Batch.id == Item.batch_id, Batch.status == "active")
ANSWERED = "answered"


@dataclass(frozen=True)
class Claimed:
    assignment: Assignment
    item: Item


async def claim_next(session: AsyncSession, worker_id: int, now: datetime, ttl: timedelta) -> Claimed | None:
    """Reserve the next item for this worker, or None when nothing is left for them (or they are suspended)."""
    already_seen = exists().where(Assignment.item_id == Item.id, Assignment.worker_id == worker_id)
    suspended = exists().where(User.id == worker_id, User.suspended_reason.is_not(None))
    below_level = exists().where(User.id == worker_id, User.level < Batch.min_level)
    # Removed or held by quality control in that batch, or already at the batch's cap per worker.
    stopped = exists().where(
        BatchWorker.batch_id == Item.batch_id,
        BatchWorker.worker_id == worker_id,
        (BatchWorker.state != "active")
        | (BatchWorker.answers >= func.coalesce(Batch.max_answers, BatchWorker.answers + 1)),
    )
    pick = (
        select(Item, Batch.overlap, Batch.reward_micros)
        .join(Batch, Batch.id == Item.batch_id)
        .where(Item.is_open == True, Batch.status == "active", ~already_seen, ~suspended, ~stopped, ~below_level)  # noqa: E712
        .order_by(Item.is_open, Item.slots_taken.desc(), Item.id)
        .limit(1)
    )
    row = (await session.execute(pick.with_for_update(of=Item, skip_locked=True))).first()
    if row is None and session.bind.dialect.name == "postgresql":
        # Every candidate may be locked by other claimers of the last open slots; wait for them
        # instead of telling this worker there is nothing (PostgreSQL re-checks the row after the wait).
        row = (await session.execute(pick.with_for_update(of=Item))).first()
    if row is None:
        return None
    item, overlap, reward = row
    await session.execute(
        update(Item)
        .where(Item.id == item.id)
        .values(
            slots_taken=Item.slots_taken + 1,
            is_open=case((Item.slots_taken + 1 >= overlap, False), else_=True),
        )
        .execution_options(synchronize_session=False)
    )
    assignment = Assignment(
        item_id=item.id,
        batch_id=item.batch_id,
        worker_id=worker_id,
        status=RESERVED,
        created_at=now,
        expires_at=now + ttl,
        reward_micros=reward,
    )
    session.add(assignment)
    await session.flush()
    return Claimed(assignment, item)


async def lock(session: AsyncSession, assignment_id: int) -> Assignment | None:
    """Load an assignment with its row locked for the rest of the transaction (PostgreSQL)."""
    return await session.scalar(
        select(Assignment)
        .where(Assignment.id == assignment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def give_back(session: AsyncSession, assignment: Assignment, status: str) -> None:
    """End a reservation without an answer and return its slot to the pool."""
    assignment.status = status
    await session.execute(
        update(Item)
        .where(Item.id == assignment.item_id)
        .values(slots_taken=Item.slots_taken - 1, is_open=~Item.settled & _batch_running)
        .execution_options(synchronize_session=False)
    )


async def open_for_worker(session: AsyncSession, worker_id: int, lock_rows: bool = False) -> list[Assignment]:
    """The worker's current reservations, newest first."""
    query = (
        select(Assignment)
        .where(Assignment.worker_id == worker_id, Assignment.status == RESERVED)
        .order_by(Assignment.id.desc())
    )
    if lock_rows:
        query = query.with_for_update()
    return list(await session.scalars(query))


async def reclaim_expired(session: AsyncSession, now: datetime, limit: int = 1000) -> int:
    """Return reservations past their deadline to the pool; returns how many."""
    expired = await session.scalars(
        select(Assignment)
        .where(Assignment.status == RESERVED, Assignment.expires_at < now)
        .order_by(Assignment.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    count = 0
    for assignment in expired:
        await give_back(session, assignment, "expired")
        count += 1
    return count


@dataclass(frozen=True)
class AnswerCounts:
    answers: int
    gold: int
    gold_correct: int


async def answer_counts(session: AsyncSession, *where: ColumnElement[bool]) -> AnswerCounts:
    """How many answered assignments match `where`, how many were on gold, how many of those right."""
    answers, gold, correct = (
        await session.execute(
            select(
                func.count(Assignment.id),
                func.count(Assignment.gold_correct),
                func.coalesce(func.sum(case((Assignment.gold_correct == True, 1), else_=0)), 0),  # noqa: E712
            ).where(Assignment.status == ANSWERED, *where)
        )
    ).one()
    return AnswerCounts(int(answers), int(gold), int(correct))
