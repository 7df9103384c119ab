"""A worker's own figures: tasks, accuracy, earnings, hourly rate, level, daily target and breaks."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.money import earnings
from bot.quality.levels import Level, level_of
from bot.reasons import Reason, loads_optional
from bot.wiring.services import Services
from storage import assignments
from storage.assignments import WorkerClock
from storage.models import Assignment, Batch, BatchWorker, User
from storage.states import UNDER_WAY, AssignmentStatus, CreditState, WorkerState

TASK_TIME_CAP = timedelta(minutes=2)  # a task left open over lunch is not two hours of work
BREAK_AFTER = timedelta(minutes=25)
PAUSE_ENDS_SESSION = timedelta(minutes=5)


MAX_STANDINGS = 5  # running batches shown in /stats, newest first


@dataclass(frozen=True)
class Standing:
    """Where the worker stands in one running batch, so no stop in it is a mystery to them."""

    batch_id: int
    batch_name: str
    # working, capped, qualifying, retry_later, retry_now (the quiz's cool-down is over), closed (the
    # quiz), held or removed
    status: str
    reason: Reason | None  # why quality control stopped them (held, removed)
    retry_at: datetime | None  # retry_later: when the quiz opens again
    checks: int  # gold answers on hidden checks since the quiz (one per question with gold)
    checks_right: int
    answers: int
    max_answers: int | None


@dataclass(frozen=True)
class WorkerStats:
    tasks_today: int
    tasks_week: int
    gold_answers: int  # one per question with gold of each graded answer
    gold_correct: int
    answers: int
    rejected: int
    earned_micros: int
    hourly_micros: int | None
    level: Level
    target_micros: int | None
    earned_today_micros: int
    standings: tuple[Standing, ...] = ()

    @property
    def rejection_rate(self) -> float:
        return self.rejected / self.answers if self.answers else 0.0


@dataclass(frozen=True)
class Nudges:
    """What to tell the worker after an answer, besides the next product."""

    target_reached_micros: int | None = None
    take_a_break: bool = False
    level_reached: str | None = None  # the answer was the check that earned this level


async def stats(session: AsyncSession, worker_id: int, now: datetime) -> WorkerStats:
    today = earnings.day_start(now)
    mine = Assignment.worker_id == worker_id
    counts = await assignments.answer_counts(session, mine)
    answered = (mine, Assignment.status == AssignmentStatus.ANSWERED)
    tasks_today = await _count(session, *answered, Assignment.answered_at >= today)
    tasks_week = await _count(session, *answered, Assignment.answered_at >= today - timedelta(days=today.weekday()))
    rejected = await _count(session, *answered, Assignment.credit_state == CreditState.REJECTED)
    paid = earnings.earned(worker_id)
    earned = await earnings.sum_rewards(session, *paid)
    earned_today = await earnings.sum_rewards(session, *paid, Assignment.answered_at >= today)
    spans = await session.execute(select(Assignment.created_at, Assignment.answered_at).where(*paid))
    # (every answered assignment has its answered_at)
    active = sum((min(done - shown, TASK_TIME_CAP) for shown, done in spans if done is not None), timedelta())
    hourly = int(earned / (active.total_seconds() / 3600)) if active.total_seconds() >= 60 else None
    target = await session.scalar(select(User.daily_target_micros).where(User.id == worker_id))
    return WorkerStats(
        tasks_today=tasks_today,
        tasks_week=tasks_week,
        gold_answers=counts.gold,
        gold_correct=counts.gold_correct,
        answers=counts.answers,
        rejected=rejected,
        earned_micros=earned,
        hourly_micros=hourly,
        level=level_of(counts.gold, counts.gold_correct),
        target_micros=target,
        earned_today_micros=earned_today,
        standings=await standings(session, worker_id, now),
    )


async def standings(session: AsyncSession, worker_id: int, now: datetime) -> tuple[Standing, ...]:
    mine = (
        Assignment.batch_id == BatchWorker.batch_id,
        Assignment.worker_id == BatchWorker.worker_id,
        Assignment.quiz_attempt.is_(None),
    )
    checks = select(func.coalesce(func.sum(Assignment.gold_graded), 0)).where(*mine).scalar_subquery()
    right = select(func.coalesce(func.sum(Assignment.gold_right), 0)).where(*mine).scalar_subquery()
    rows = await session.execute(
        select(BatchWorker, Batch.name, Batch.max_answers, checks, right)
        .join(Batch, Batch.id == BatchWorker.batch_id)
        .where(BatchWorker.worker_id == worker_id, Batch.status.in_(UNDER_WAY))
        .order_by(Batch.id.desc())
        .limit(MAX_STANDINGS)
    )
    return tuple(
        Standing(
            bw.batch_id,
            name,
            _status(bw, max_answers, now),
            loads_optional(bw.reason),
            bw.retry_at,
            n,
            ok,
            bw.answers,
            max_answers,
        )
        for bw, name, max_answers, n, ok in rows.all()
    )


def _status(worker: BatchWorker, max_answers: int | None, now: datetime) -> str:
    match worker.state:
        case WorkerState.FAILED if worker.retry_at is not None:
            return "retry_now" if worker.retry_at <= now else "retry_later"
        case WorkerState.FAILED:
            return "closed"
        case WorkerState.ACTIVE if max_answers is not None and worker.answers >= max_answers:
            return "capped"
        case WorkerState.ACTIVE:
            return "working"
    return worker.state  # qualifying, held, removed


async def _count(session: AsyncSession, *where: ColumnElement[bool]) -> int:
    return (await session.execute(select(func.count(Assignment.id)).where(*where))).scalar_one()


async def worker_stats(services: Services, worker_id: int) -> WorkerStats:
    """/stats: the worker's figures."""
    async with services.db.read() as session:
        return await stats(session, worker_id, services.clock.now())


async def set_daily_target(services: Services, worker_id: int, micros: int | None) -> WorkerStats:
    """/target: the daily target set (None: off), and the figures it is measured against."""
    async with services.db.write() as session:
        await set_target(session, worker_id, micros)
        return await stats(session, worker_id, services.clock.now())


async def take_breaks(services: Services, worker_id: int, enabled: bool) -> None:
    """/breaks: whether the worker is reminded to take a break."""
    async with services.db.write() as session:
        await set_breaks(session, worker_id, enabled)


async def set_target(session: AsyncSession, worker_id: int, micros: int | None) -> None:
    await session.execute(update(User).where(User.id == worker_id).values(daily_target_micros=micros or None))


async def set_breaks(session: AsyncSession, worker_id: int, enabled: bool) -> None:
    await session.execute(update(User).where(User.id == worker_id).values(breaks_enabled=enabled))


async def after_answer(
    session: AsyncSession, worker_id: int, credited: int, now: datetime, user: WorkerClock | None
) -> Nudges:
    """Whether this answer reached the daily target, and whether it is time to suggest a break; `user` is
    the worker's row as recording the answer left it (storage.assignments.record_answer)."""
    if user is None or user.stretch_started_at is None:
        return Nudges()
    reached = None
    if user.daily_target_micros:
        today = await earnings.sum_rewards(
            session, *earnings.earned(worker_id), Assignment.answered_at >= earnings.day_start(now)
        )
        target = user.daily_target_micros
        reached = target if today >= target > today - credited else None
    suggested = user.break_suggested_at
    take_break = (
        user.breaks_enabled
        and now - user.stretch_started_at >= BREAK_AFTER
        and (suggested is None or suggested < user.stretch_started_at)
    )
    if take_break:
        await session.execute(update(User).where(User.id == worker_id).values(break_suggested_at=now))
    return Nudges(reached, take_break)
