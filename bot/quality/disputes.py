"""Contested gold: a worker says a check was wrong; the requester or an admin decides, and if the
gold changes, every grade, quiz, removal and rejection that rested on it is worked out again.
"""

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import admin, outbox, users
from bot.batches.task import BatchTask, task_of
from bot.errors import DomainError, ErrorCode, NotAllowed, TaskUnavailable
from bot.money import credits
from bot.outbox import Notice
from bot.quality import gold
from bot.quality import rules as quality
from bot.tasks.base import Described
from bot.wiring.services import Services
from storage.models import Assignment, Batch, BatchWorker, GoldDispute, Item
from storage.states import AssignmentStatus, CreditState, DisputeState, WorkerState

DECISIONS = (DisputeState.CORRECTED, DisputeState.DROPPED, DisputeState.UPHELD)


class DisputeRefusal(ErrorCode):
    CHECK_ALREADY_FIXED = "dispute_check_already_fixed"
    NOT_A_JUDGE = "dispute_not_a_judge"
    ALREADY_DECIDED = "dispute_already_decided"  # {status}


@dataclass(frozen=True)
class Contest:
    """What the requester and the admins are asked to decide."""

    dispute_id: int
    requester_id: int
    batch_name: str
    title: str
    gold: Described
    answered: Described
    already_sent: bool


@dataclass(frozen=True)
class Reinstated:
    worker_id: int
    batch_name: str
    why: str  # "quiz" (passed after all) or "removal" (lifted)
    restored_micros: int


@dataclass(frozen=True)
class Decision:
    status: str
    title: str
    contesters: tuple[int, ...]  # every worker who contested this gold item
    regraded: int  # answers whose grade changed
    reinstated: tuple[Reinstated, ...]


async def contest(services: Services, worker_id: int, assignment_id: int) -> Contest:
    """Record the worker's "this gold is wrong" on one of their missed checks (once per answer)."""
    async with services.db.write() as session:
        assignment = await session.get(Assignment, assignment_id)
        if assignment is None or assignment.worker_id != worker_id or assignment.gold_right >= assignment.gold_graded:
            raise TaskUnavailable()
        task = await _task(services, session, assignment.batch_id)
        found = await _contest(session, task, assignment)
        for judge_id in sorted({found.requester_id, *services.settings.admin_ids}):
            key = f"dispute:{found.dispute_id}:contest:{judge_id}"
            await outbox.owe(session, key, judge_id, Notice.CONTEST, **asdict(found))
        return found


async def decide(services: Services, dispute_id: int, decider_id: int, status: str) -> Decision:
    """Apply the requester's or an admin's decision to the gold item and to everyone it graded."""
    if status not in DECISIONS:
        raise TaskUnavailable()
    async with services.db.write() as session:
        dispute = await session.scalar(select(GoldDispute).where(GoldDispute.id == dispute_id).with_for_update())
        if dispute is None:
            raise TaskUnavailable()
        task = await _task(services, session, dispute.batch_id)
        by_admin = decider_id in services.settings.admin_ids
        decision = await _decide(session, task, dispute, decider_id, by_admin, status, services.clock.now())
        if by_admin:
            await admin.audit(session, decider_id, "gold_dispute", str(dispute_id), status)
        for worker_id in decision.contesters:
            key = f"dispute:{dispute_id}:outcome:{worker_id}"
            await outbox.owe(
                session, key, worker_id, Notice.DISPUTE_OUTCOME, status=decision.status, title=decision.title
            )
        for outcome in decision.reinstated:
            key = f"dispute:{dispute_id}:reinstated:{outcome.worker_id}"
            await outbox.owe(session, key, outcome.worker_id, Notice.DISPUTE_REINSTATED, **asdict(outcome))
        return decision


async def _task(services: Services, session: AsyncSession, batch_id: int) -> BatchTask:
    return await task_of(await services.batches.get(batch_id, session), services.taxonomies, session)


async def _contest(session: AsyncSession, task: BatchTask, assignment: Assignment) -> Contest:
    item = await session.get_one(Item, assignment.item_id)
    batch = await session.get_one(Batch, assignment.batch_id)
    grade = task.grade(assignment.answer or {}, item.gold) if item.gold else None
    if grade is None or grade.correct:
        raise DomainError(DisputeRefusal.CHECK_ALREADY_FIXED)
    dispute = await session.scalar(select(GoldDispute).where(GoldDispute.assignment_id == assignment.id))
    already = dispute is not None
    if dispute is None:
        dispute = GoldDispute(
            assignment_id=assignment.id,
            item_id=item.id,
            batch_id=batch.id,
            worker_id=assignment.worker_id,
            answer=assignment.answer,
            gold=item.gold,
            status=DisputeState.OPEN,
        )
        session.add(dispute)
        await session.flush()
    return Contest(
        dispute.id,
        batch.requester_id,
        batch.name,
        item.title,
        task.describe(dispute.gold),
        task.describe(_graded_part(dispute.answer, dispute.gold)),
        already,
    )


async def _decide(
    session: AsyncSession,
    task: BatchTask,
    dispute: GoldDispute,
    decider_id: int,
    is_admin: bool,
    status: str,
    now: datetime,
) -> Decision:
    batch = (await session.scalars(select(Batch).where(Batch.id == dispute.batch_id))).one()
    if decider_id != batch.requester_id and not is_admin:
        raise NotAllowed(DisputeRefusal.NOT_A_JUDGE)
    if dispute.status != DisputeState.OPEN:
        raise DomainError(DisputeRefusal.ALREADY_DECIDED, status=dispute.status)
    item = (await session.scalars(select(Item).where(Item.id == dispute.item_id).with_for_update())).one()
    contesters = await _close_disputes(session, item.id, status, decider_id, now)
    if status == DisputeState.UPHELD or item.gold != dispute.gold:
        return Decision(status, item.title, contesters, 0, ())
    corrected = status == DisputeState.CORRECTED
    # The answer alone: a question it did not reach (validate's category after a Yes) is no part of what it says.
    item.gold = _graded_part(dispute.answer, dispute.gold) if corrected else None
    item.is_gold = corrected
    workers, regraded = await _regrade(session, task, item)
    await session.flush()
    reinstated = []
    for worker_id in sorted(workers):
        await users.recount_gold(session, worker_id)
        outcome = await _reconsider(session, batch, worker_id, now)
        if outcome is not None:
            reinstated.append(outcome)
    return Decision(status, item.title, contesters, regraded, tuple(reinstated))


async def _close_disputes(
    session: AsyncSession, item_id: int, status: str, decider_id: int, now: datetime
) -> tuple[int, ...]:
    """One decision answers every open dispute on the item."""
    closed = await session.execute(
        update(GoldDispute)
        .where(GoldDispute.item_id == item_id, GoldDispute.status == DisputeState.OPEN)
        .values(status=status, decided_by=decider_id, decided_at=now)
        .returning(GoldDispute.worker_id)
        .execution_options(synchronize_session=False)
    )
    return tuple(sorted({worker for (worker,) in closed}))


def _graded_part(answer: dict[str, str], gold: dict[str, str]) -> dict[str, str]:
    """The answer's labels for the questions the gold has: what a correction makes the new gold."""
    return {key: label for key, label in answer.items() if key in gold}


async def _regrade(session: AsyncSession, task: BatchTask, item: Item) -> tuple[set[int], int]:
    """Grade every answer on the item against its new gold, question by question (none: no longer graded)."""
    answered = list(
        await session.scalars(
            select(Assignment)
            .where(Assignment.item_id == item.id, Assignment.status == AssignmentStatus.ANSWERED)
            .with_for_update()
        )
    )
    changed = 0
    for assignment in answered:
        before = (assignment.gold_graded, assignment.gold_right)
        gold.grade(task, assignment, item.gold)
        changed += (assignment.gold_graded, assignment.gold_right) != before
    return {assignment.worker_id for assignment in answered}, changed


async def _reconsider(session: AsyncSession, batch: Batch, worker_id: int, now: datetime) -> Reinstated | None:
    """Work out the worker's quiz and removal again from the regraded answers."""
    state = await session.get(BatchWorker, (batch.id, worker_id))
    if state is None or state.state not in (WorkerState.FAILED, WorkerState.QUALIFYING, WorkerState.REMOVED):
        return None
    if state.state != WorkerState.REMOVED:
        return await _requiz(session, batch, state, now)
    mine = quality.judged(batch.id, worker_id)
    if await quality.gold_failure(session, batch, worker_id):
        return None
    state.state, state.reason, state.changed_at = WorkerState.ACTIVE, None, now
    rejected = await session.execute(
        select(Assignment.id, Assignment.reward_micros).where(*mine, Assignment.credit_state == CreditState.REJECTED)
    )
    restored = 0
    for assignment_id, reward in rejected.all():
        if await credits.restore(session, assignment_id, worker_id, batch.requester_id, reward):
            restored += reward
    return Reinstated(worker_id, batch.name, "removal", restored)


async def _requiz(session: AsyncSession, batch: Batch, state: BatchWorker, now: datetime) -> Reinstated | None:
    """Score the current attempt again, with the earlier ones; a dropped question makes room for one more."""
    outcome = await gold.quiz_outcome(session, batch, state.worker_id, state.attempts)
    if outcome.passed is None:
        state.state, state.retry_at = WorkerState.QUALIFYING, None
        return None
    if outcome.passed and state.state == WorkerState.FAILED:
        state.state, state.retry_at, state.changed_at = WorkerState.ACTIVE, None, now
        return Reinstated(state.worker_id, batch.name, "quiz", 0)
    failed_at = state.changed_at  # set with every failure
    if not outcome.passed and state.state == WorkerState.FAILED and state.retry_at is None and failed_at is not None:
        # A corrected question may bring a retry back within reach: the cool-down runs from the failure.
        state.retry_at = outcome.retry_at(failed_at, batch.retry_hours)
    return None
