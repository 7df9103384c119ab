"""A worker's credit for one answer: pending for HOLD_HOURS, then available, unless rejected."""

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import ledger
from bot.errors import DomainError
from storage.models import Assignment, Batch

PENDING = "pending"
AVAILABLE = "available"
REJECTED = "rejected"


async def release_due(session: AsyncSession, now: datetime, hold: timedelta, limit: int = 2000) -> int:
    """Make credits older than the hold available; returns how many. Run repeatedly until 0.

    One ledger transaction per worker per run, not per answer: at hundreds of answers a second
    a per-answer release would hold the write lock longer than the answers themselves.
    """
    due = (
        await session.execute(
            select(Assignment.id, Assignment.worker_id, Assignment.reward_micros)
            .where(Assignment.credit_state == PENDING, Assignment.answered_at <= now - hold)
            .order_by(Assignment.credit_state, Assignment.answered_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    by_worker: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for assignment_id, worker_id, reward in due:
        by_worker[worker_id].append((assignment_id, reward))
    for worker_id, credits in by_worker.items():
        ids = [assignment_id for assignment_id, _ in credits]
        # Sets released in different runs are disjoint, so (first, last, count) never repeats.
        answers = f"{min(ids)}-{max(ids)}x{len(ids)}"
        await ledger.release_credit(session, answers, worker_id, sum(reward for _, reward in credits))
    if due:
        await session.execute(
            update(Assignment)
            .where(Assignment.id.in_([row[0] for row in due]))
            .values(credit_state=AVAILABLE)
            .execution_options(synchronize_session=False)
        )
    return len(due)


async def reject(session: AsyncSession, assignment_id: int) -> bool:
    """Quality control rejects an answer still in its hold; returns False if it was already rejected."""
    assignment = await session.scalar(select(Assignment).where(Assignment.id == assignment_id).with_for_update())
    if assignment is None or assignment.credit_state is None:
        raise DomainError("There is no answer to reject.")
    if assignment.credit_state == REJECTED:
        return False
    if assignment.credit_state != PENDING:
        raise DomainError("This answer's credit was already released to the worker.")
    requester_id = await session.scalar(select(Batch.requester_id).where(Batch.id == assignment.batch_id))
    await ledger.reject_credit(session, assignment.id, assignment.worker_id, requester_id, assignment.reward_micros)
    assignment.credit_state = REJECTED
    return True


async def restore(session: AsyncSession, assignment_id: int, worker_id: int, requester_id: int, amount: int) -> bool:
    """Undo a rejection that rested on wrong gold: the worker is paid, straight to available, since
    the requester agreed the answer was right. False when the requester no longer has the money."""
    try:
        await ledger.restore_credit(session, assignment_id, worker_id, requester_id, amount)
    except ledger.NotEnoughFunds:
        return False
    await session.execute(
        update(Assignment)
        .where(Assignment.id == assignment_id, Assignment.credit_state == REJECTED)
        .values(credit_state=AVAILABLE)
        .execution_options(synchronize_session=False)
    )
    return True
