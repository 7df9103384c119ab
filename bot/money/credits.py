"""A worker's credit for one answer: pending for HOLD_HOURS, then available, unless rejected."""

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import DomainError, ErrorCode
from bot.money import ledger
from storage import assignments
from storage.models import Assignment, Batch
from storage.states import UNDER_WAY, CreditState


class CreditRefusal(ErrorCode):
    NO_ANSWER = "credit_no_answer"
    ALREADY_RELEASED = "credit_already_released"


async def release_due(session: AsyncSession, now: datetime, hold: timedelta, limit: int = 2000) -> int:
    """Make credits older than the hold available; returns how many. Run repeatedly until 0.

    One ledger transaction per worker per run, not per answer: at hundreds of answers a second
    a per-answer release would hold the write lock longer than the answers themselves.
    """
    due = (
        await session.execute(
            select(Assignment.id, Assignment.worker_id, Assignment.reward_micros)
            .where(Assignment.credit_state == CreditState.PENDING, Assignment.answered_at <= now - hold)
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
            .values(credit_state=CreditState.AVAILABLE)
            .execution_options(synchronize_session=False)
        )
    return len(due)


async def reject(session: AsyncSession, assignment_id: int) -> bool:
    """Quality control rejects an answer still in its hold; returns False if it was already rejected."""
    assignment = await session.scalar(select(Assignment).where(Assignment.id == assignment_id).with_for_update())
    if assignment is None or assignment.credit_state is None:
        raise DomainError(CreditRefusal.NO_ANSWER)
    if assignment.credit_state == CreditState.REJECTED:
        return False
    if assignment.credit_state != CreditState.PENDING:
        raise DomainError(CreditRefusal.ALREADY_RELEASED)
    requester_id, status = (
        await session.execute(select(Batch.requester_id, Batch.status).where(Batch.id == assignment.batch_id))
    ).one()
    running = status in UNDER_WAY
    amount = assignment.reward_micros
    await ledger.reject_credit(session, assignment.id, assignment.worker_id, requester_id, amount, running)
    assignment.credit_state = CreditState.REJECTED
    if running:
        # The money is back in the batch's reserve (refunded at the end like the rest of it, since
        # `spent` still counts the rejected answer) and buys another answer in its place.
        await session.execute(
            update(Batch)
            .where(Batch.id == assignment.batch_id)
            .values(
                reserved_micros=Batch.reserved_micros + amount,
                gold_slots=Batch.gold_slots + int(assignment.is_gold),
            )
            .execution_options(synchronize_session=False)
        )
    if not assignment.is_gold:
        await assignments.reopen_slot(session, assignment.item_id)
    return True


async def restore(session: AsyncSession, assignment_id: int, worker_id: int, requester_id: int, amount: int) -> bool:
    """Undo a rejection that rested on wrong gold: the worker is paid, straight to available, since
    the requester agreed the answer was right, and the answer counts on its item again. False when
    the requester no longer has the money."""
    batch = (
        await session.scalars(
            select(Batch).join(Assignment, Assignment.batch_id == Batch.id).where(Assignment.id == assignment_id)
        )
    ).one()
    # The batch's reserve pays if what it has left covers it (the rejection put the money there,
    # though an answer in its place may have spent it since); otherwise the requester's funds do.
    unspent = batch.reserved_micros - await assignments.spent(session, batch.id)
    from_reserve = batch.status in UNDER_WAY and unspent >= amount
    try:
        await ledger.restore_credit(session, assignment_id, worker_id, requester_id, amount, from_reserve)
    except ledger.NotEnoughFunds:
        return False
    if from_reserve:
        batch.reserved_micros -= amount
    restored = await session.execute(
        update(Assignment)
        .where(Assignment.id == assignment_id, Assignment.credit_state == CreditState.REJECTED)
        .values(credit_state=CreditState.AVAILABLE)
        .returning(Assignment.item_id, Assignment.is_gold)
        .execution_options(synchronize_session=False)
    )
    item_id, is_gold = restored.one()
    if not is_gold:
        await assignments.count_again(session, item_id)
    return True
