"""A worker's credit for one answer: pending for HOLD_HOURS, then available, unless rejected."""

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import ledger
from bot.errors import DomainError
from storage.models import Assignment, Batch

PENDING = "pending"
AVAILABLE = "available"
REJECTED = "rejected"


async def release_due(session: AsyncSession, now: datetime, hold: timedelta, limit: int = 500) -> int:
    """Make credits older than the hold available; returns how many. Run repeatedly until 0."""
    due = await session.scalars(
        select(Assignment)
        .where(Assignment.credit_state == PENDING, Assignment.answered_at <= now - hold)
        .order_by(Assignment.credit_state, Assignment.answered_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    released = 0
    for assignment in due:
        await ledger.release_credit(session, assignment.id, assignment.worker_id, assignment.reward_micros)
        assignment.credit_state = AVAILABLE
        released += 1
    return released


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
