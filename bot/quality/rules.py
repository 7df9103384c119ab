"""Quality control: the rules that stop a worker in a batch, checked after every answer (the quiz
that lets them in is graded in bot.quality.gold)."""

import math
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from weakref import WeakKeyDictionary

from sqlalchemy import ColumnElement, SQLColumnExpression, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import users
from bot.batches.lifecycle import BatchFacts
from bot.batches.task import BatchTask
from bot.money import credits
from bot.quality import gold
from bot.quality.levels import wilson_upper_bound
from bot.reasons import Reason, ReasonCode, dumps, loads
from bot.tasks.base import Described
from storage.assignments import ALL_RIGHT, SOME_WRONG, AnswerCounts, AnsweredTask, answer_counts
from storage.models import Assignment, Batch, BatchWorker, Item, User
from storage.sql import run_core
from storage.states import AssignmentStatus, CreditState, WorkerState

SPEED_WINDOW, SPEED_STRIKES = 10, 3  # 3 of the last 10 answers too fast
SAME_ANSWER_RUN = 10  # where the crowd disagrees on at least half of them
# The crowd's median from the batch's last 1,001 answers, of 3 workers at least: from 101 answers, a
# third of it wandered by ±0.4 s, enough to put careful workers' quickest answers under the line now
# and then (a hold in the crowd simulation).
CROWD_SAMPLE, MIN_CROWD_SAMPLE, MIN_CROWD_WORKERS = 1001, 100, 3
FLOOR_SECONDS, UNKNOWN_FLOOR_SECONDS = 60, 2
FLOOR_CAP = 10.0  # seconds: a crowd of slow, careful workers must not make 12-second answers suspect
_FLOORS: WeakKeyDictionary[object, dict[int, tuple[float | None, float]]] = WeakKeyDictionary()
REASON_LIMIT = 512  # BatchWorker.reason's length


class StopReason(ReasonCode):
    """Why quality control stopped a worker in a batch (BatchWorker.reason)."""

    # The checks prove accuracy at best `percent` (whole, rounded down: 69.94 % must not read as the 70 % it
    # falls short of).
    GOLD_BELOW = "gold_below"  # {right, total, percent}
    NO_CHECK_SINCE_QUIZ = "no_check_since_quiz"  # {total, percent}
    TOO_FAST = "too_fast"  # {strikes, window, seconds}: `strikes` of the last `window` answers under `seconds`
    TOO_FAST_PER_QUESTION = "too_fast_per_question"  # the same, timed per question on a card of several
    SAME_ANSWER = "same_answer"  # {run}: one answer for `run` products in a row, where the crowd disagrees
    CONFIRMED = "confirmed_by_admin"  # {reason}: an admin looked at the hold and removed the worker


# Built once: these run after every answer (Core on the tables: no ORM objects needed).
_assignments = Assignment.__table__
_recent_answers = (
    select(_assignments.c.item_id, _assignments.c.answer, _assignments.c.created_at, _assignments.c.answered_at)
    .where(
        _assignments.c.batch_id == bindparam("batch"),
        _assignments.c.worker_id == bindparam("worker"),
        _assignments.c.status == AssignmentStatus.ANSWERED,
    )
    .order_by(_assignments.c.id.desc())
    .limit(max(SPEED_WINDOW, SAME_ANSWER_RUN))
)
# Once a worker's last answers are all alike, after every answer too: built each time, it cost as much
# as running it.
_others_answers = select(_assignments.c.item_id, _assignments.c.answer).where(
    _assignments.c.item_id.in_(bindparam("items", expanding=True)),
    _assignments.c.worker_id != bindparam("worker"),
    _assignments.c.status == AssignmentStatus.ANSWERED,
)


@dataclass(frozen=True)
class Miss:
    assignment_id: int
    title: str
    answered: Described
    right: Described


@dataclass(frozen=True)
class Removal:
    """The worker failed this batch's checks: out of it, and recent answers rejected."""

    batch_name: str
    bound: float
    min_accuracy: float
    missed: tuple[Miss, ...]
    rejected: int


@dataclass(frozen=True)
class Hold:
    """Answers too fast, or one answer for everything: the worker waits for an admin's look at this batch."""

    batch_id: int
    batch_name: str
    worker_id: int
    reason: Reason


async def after_answer(
    session: AsyncSession, task: BatchTask, batch: BatchFacts, assignment: AnsweredTask, now: datetime
) -> Removal | Hold | gold.QuizStep | None:
    """Grade a quiz answer, or apply the gold rule (after a check) or the speed and pattern rules (after
    work). Recording the answer counted it in the worker's share of the batch (storage.assignments.record_answer):
    a check counts nothing there, but its row exists for a removal to be recorded."""
    if assignment.quiz_attempt is not None:
        return await gold.after_quiz_answer(session, task, batch, assignment, assignment.quiz_attempt, now)
    if assignment.is_gold:
        return await _gold_rule(session, task, batch, assignment.worker_id, now)
    return await _behaviour_rules(session, task, batch, assignment, now)


def judged(batch_id: int, worker_id: int) -> tuple[ColumnElement[bool], ...]:
    """The worker's answers the removal rule weighs: the quiz attempt that let them in, then all after it.

    The passed quiz is gold like any check, and five more answers of evidence: judged on its first
    five checks alone, an honest worker at 0.75 accuracy would be removed 1.6 % of the time; counting
    the quiz, 0.06 %. Failed attempts stay out, as they already cost the worker a cool-down.
    """
    passed_attempt = (
        select(BatchWorker.attempts)
        .where(BatchWorker.batch_id == batch_id, BatchWorker.worker_id == worker_id)
        .scalar_subquery()
    )
    return (
        Assignment.batch_id == batch_id,
        Assignment.worker_id == worker_id,
        Assignment.quiz_attempt.is_(None) | (Assignment.quiz_attempt == passed_attempt),
    )


def _after_quiz(
    batch_id: int | SQLColumnExpression[int], worker_id: int | SQLColumnExpression[int]
) -> tuple[ColumnElement[bool], ...]:
    """The worker's answers in the batch that are not quiz answers: the checks and the work."""
    return (Assignment.batch_id == batch_id, Assignment.worker_id == worker_id, Assignment.quiz_attempt.is_(None))


def _rejectable(
    batch_id: int | SQLColumnExpression[int], worker_id: int | SQLColumnExpression[int]
) -> tuple[ColumnElement[bool], ...]:
    """What a removal may reject: answers after the quiz (quiz answers are paid training whatever their
    outcome) whose pay is still in its hold."""
    return (*_after_quiz(batch_id, worker_id), Assignment.credit_state == CreditState.PENDING)


async def gold_failure(session: AsyncSession, batch: BatchFacts | Batch, worker_id: int) -> tuple[Reason, float] | None:
    """Why the worker's gold answers take them out of the batch, and the accuracy bound; None if they do not.

    Two ways to fail: the passed quiz and the checks after it prove accuracy under `min_accuracy`
    (`judged`), or not one of at least `min_gold` checks since the quiz was right. The second is a
    worker careful until qualified and careless after it, whom five right quiz answers would shield
    for two more checks; an honest worker at 0.7 misses five checks in a row 0.24 % of the time.
    """
    counts = await answer_counts(session, *judged(batch.id, worker_id))
    if proven_below(counts, batch.min_gold, batch.min_accuracy):
        bound = wilson_upper_bound(counts.gold_correct, counts.gold)
        reason = Reason.of(StopReason.GOLD_BELOW, right=counts.gold_correct, total=counts.gold, percent=_percent(bound))
        return reason, bound
    if batch.qualification == 0:
        return None  # no quiz: "since the quiz" is every answer just judged, and they passed
    since_quiz = await answer_counts(session, *_after_quiz(batch.id, worker_id))
    # Held to the same bar: a requester who asks for little (min_accuracy under 0.43) is not
    # overruled by five misses.
    if since_quiz.gold_correct == 0 and proven_below(since_quiz, batch.min_gold, batch.min_accuracy):
        bound = wilson_upper_bound(0, since_quiz.gold)
        return Reason.of(StopReason.NO_CHECK_SINCE_QUIZ, total=since_quiz.gold, percent=_percent(bound)), bound
    return None


def _percent(bound: float) -> int:
    return math.floor(bound * 100)


async def _gold_rule(
    session: AsyncSession, task: BatchTask, batch: BatchFacts, worker_id: int, now: datetime
) -> Removal | None:
    failure = await gold_failure(session, batch, worker_id)
    if failure is None:
        return None
    reason, bound = failure
    mine = judged(batch.id, worker_id)
    await _set_state(session, batch.id, worker_id, WorkerState.REMOVED, reason, now)
    last_good = await session.scalar(select(func.max(Assignment.id)).where(*mine, ALL_RIGHT))
    rejected = await _reject_pending(session, batch.id, worker_id, since_id=last_good or 0)
    return Removal(batch.name, bound, batch.min_accuracy, await _misses(session, task, *mine), rejected)


async def _reject_pending(session: AsyncSession, batch_id: int, worker_id: int, since_id: int = 0) -> int:
    """Reject the worker's rejectable answers in the batch after `since_id`."""
    since = await session.scalars(
        select(Assignment.id).where(*_rejectable(batch_id, worker_id), Assignment.id > since_id)
    )
    rejected = 0
    for assignment_id in list(since):
        rejected += await credits.reject(session, assignment_id)
    return rejected


def proven_below(counts: AnswerCounts, min_gold: int, min_accuracy: float) -> bool:
    """Whether `min_gold` checks prove the worker's accuracy is under `min_accuracy`.

    Proof means the upper bound: with the lower bound, 5 of 5 right (0.57) would fail a 0.7
    requirement, and every careful newcomer would be thrown out after five checks.
    """
    return counts.gold >= min_gold and wilson_upper_bound(counts.gold_correct, counts.gold) < min_accuracy


async def _misses(session: AsyncSession, task: BatchTask, *mine: ColumnElement[bool]) -> tuple[Miss, ...]:
    rows = await session.execute(
        select(Assignment.id, Item.title, Assignment.answer, Item.gold)
        .join(Item, Item.id == Assignment.item_id)
        .where(*mine, SOME_WRONG)
        .order_by(Assignment.id)
    )
    return tuple(
        Miss(assignment_id, title, task.describe(answered or {}), task.describe(right or {}))
        for assignment_id, title, answered, right in rows
    )


async def _behaviour_rules(
    session: AsyncSession, task: BatchTask, batch: BatchFacts, assignment: AnsweredTask, now: datetime
) -> Hold | None:
    """Too fast on 3 of the last 10 answers, or one answer for everything where the crowd disagrees.

    Speed is time per question answered: where the questions a product asks vary (validate asks for the
    category only after a No), a quick careful Yes measured against a median the slower corrections
    raise held every third honest worker in the crowd simulation."""
    recent = (await session.execute(_recent_answers, {"batch": batch.id, "worker": assignment.worker_id})).all()
    durations = [_seconds_a_question(shown, done, labels) for _, labels, shown, done in recent[:SPEED_WINDOW]]
    limit = batch.min_seconds
    # The crowd's floor never exceeds FLOOR_CAP, so a worker without 3 answers under it needs no query.
    if limit is None and sum(1 for seconds in durations if seconds < FLOOR_CAP) >= SPEED_STRIKES:
        limit = await _crowd_floor(session, batch.id)
    if limit and sum(1 for seconds in durations if seconds < limit) >= SPEED_STRIKES:
        code = StopReason.TOO_FAST_PER_QUESTION if len(task.questions) > 1 else StopReason.TOO_FAST
        reason = Reason.of(code, strikes=SPEED_STRIKES, window=SPEED_WINDOW, seconds=limit)
        return await _hold(session, batch, assignment.worker_id, reason, now)
    run = recent[:SAME_ANSWER_RUN]
    constant = len(run) == SAME_ANSWER_RUN and all(labels == run[0][1] for _, labels, _, _ in run)
    if constant and await _disagreeing(session, [item for item, _, _, _ in run], assignment.worker_id, run[0][1]):
        reason = Reason.of(StopReason.SAME_ANSWER, run=SAME_ANSWER_RUN)
        return await _hold(session, batch, assignment.worker_id, reason, now)
    return None


def _seconds_a_question(shown: datetime, done: datetime, labels: dict[str, str] | None) -> float:
    """How long an answer took per question it answered."""
    return (done - shown).total_seconds() / max(len(labels or {}), 1)


async def _disagreeing(session: AsyncSession, items: list[int], worker_id: int, answer: dict[str, str]) -> bool:
    """Whether most of the other workers answered something else on at least half of these items.

    Most, not any: on a yes/no question an honest worker says Yes ten times in a row now and then, and
    one other worker's mistake on half of those products held honest workers in the crowd simulation."""
    others = await run_core(session, _others_answers, {"items": items, "worker": worker_id})
    # Compared here: JSON has no equality in PostgreSQL.
    votes: dict[int, Counter[bool]] = {}
    for item, labels in others:
        votes.setdefault(item, Counter())[labels != answer] += 1
    differing = sum(1 for counted in votes.values() if counted[True] > counted[False])
    return differing >= len(items) // 2


async def _hold(session: AsyncSession, batch: BatchFacts, worker_id: int, reason: Reason, now: datetime) -> Hold:
    await _set_state(session, batch.id, worker_id, WorkerState.HELD, reason, now)
    await users.release_reservations(session, worker_id)
    return Hold(batch.id, batch.name, worker_id, reason)


async def _crowd_floor(session: AsyncSession, batch_id: int) -> float | None:
    """A third of the crowd's median time a question on this batch, once there are enough answers to tell.

    The crowd's median is the median of each worker's own median over the batch's last answers: a
    robot's thousand quick answers are one vote, so it cannot drag the line down under itself.
    Kept for a minute per batch: it moves slowly, and reading 1,001 answers on every answer would not.
    """
    floors = _FLOORS.setdefault(session.bind, {})
    cached = floors.get(batch_id)
    if cached is not None and time.monotonic() - cached[1] < (FLOOR_SECONDS if cached[0] else UNKNOWN_FLOOR_SECONDS):
        return cached[0]
    rows = (
        await session.execute(
            select(Assignment.worker_id, Assignment.created_at, Assignment.answered_at, Assignment.answer)
            .where(Assignment.batch_id == batch_id, Assignment.status == AssignmentStatus.ANSWERED)
            .order_by(Assignment.id.desc())
            .limit(CROWD_SAMPLE)
        )
    ).all()
    durations: dict[int, list[float]] = {}
    for worker_id, shown, done, labels in rows:
        if done is not None:  # as every answered assignment's
            durations.setdefault(worker_id, []).append(_seconds_a_question(shown, done, labels))
    floor = None
    if len(rows) >= MIN_CROWD_SAMPLE and len(durations) >= MIN_CROWD_WORKERS:
        floor = min(statistics.median(map(statistics.median, durations.values())) / 3, FLOOR_CAP)
    # "Not enough answers yet" is kept only briefly: the next ones may bring enough to judge.
    floors[batch_id] = (floor, time.monotonic())
    return floor


async def _set_state(
    session: AsyncSession, batch_id: int, worker_id: int, state: str, reason: Reason | None, now: datetime
) -> None:
    stored = None if reason is None else dumps(reason, REASON_LIMIT)
    await session.execute(
        update(BatchWorker)
        .where(BatchWorker.batch_id == batch_id, BatchWorker.worker_id == worker_id)
        .values(state=state, reason=stored, changed_at=now)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class HeldWorker:
    """A hold waiting for an admin's look."""

    batch_id: int
    batch_name: str
    worker_id: int
    worker_name: str
    reason: Reason
    since: datetime
    pending: int  # their answers in the batch whose pay is still in its hold: what a removal rejects


@dataclass(frozen=True)
class Review:
    """An admin looked at a hold: the worker continues, or is out of the batch with those answers rejected."""

    batch_id: int
    batch_name: str
    worker_id: int
    removed: bool
    reason: Reason
    rejected: int


async def held_workers(session: AsyncSession, limit: int) -> list[HeldWorker]:
    """The oldest holds first: they have waited longest."""
    pending = (
        select(func.count(Assignment.id))
        .where(*_rejectable(BatchWorker.batch_id, BatchWorker.worker_id))
        .scalar_subquery()
    )
    rows = await session.execute(
        select(
            BatchWorker.batch_id,
            Batch.name,
            BatchWorker.worker_id,
            User.first_name,
            BatchWorker.reason,
            BatchWorker.changed_at,
            pending,
        )
        .join(Batch, Batch.id == BatchWorker.batch_id)
        .join(User, User.id == BatchWorker.worker_id)
        .where(BatchWorker.state == WorkerState.HELD)
        .order_by(BatchWorker.changed_at, BatchWorker.batch_id, BatchWorker.worker_id)
        .limit(limit)
    )
    return [
        HeldWorker(batch_id, name, worker_id, first_name, loads(reason), since, pending)
        for batch_id, name, worker_id, first_name, reason, since, pending in rows.all()
    ]


async def review_hold(
    session: AsyncSession, batch_id: int, worker_id: int, remove: bool, now: datetime
) -> Review | None:
    """Decide a hold; None when the worker is not held there (decided already, or a forged button).

    The hold's row is locked while deciding, so of two admins tapping at once only one decides.
    """
    held = (
        select(BatchWorker.reason)
        .where(
            BatchWorker.batch_id == batch_id,
            BatchWorker.worker_id == worker_id,
            BatchWorker.state == WorkerState.HELD,
        )
        .with_for_update()
    )
    stored = (await session.execute(held)).scalar_one_or_none()
    if stored is None:
        return None
    reason = loads(stored)
    name = (await session.execute(select(Batch.name).where(Batch.id == batch_id))).scalar_one()
    if not remove:
        await _set_state(session, batch_id, worker_id, WorkerState.ACTIVE, None, now)
        return Review(batch_id, name, worker_id, False, reason, 0)
    await _set_state(
        session, batch_id, worker_id, WorkerState.REMOVED, Reason.of(StopReason.CONFIRMED, reason=reason), now
    )
    rejected = await _reject_pending(session, batch_id, worker_id)
    return Review(batch_id, name, worker_id, True, reason, rejected)


async def reinstate(session: AsyncSession, batch_id: int, worker_id: int, now: datetime) -> bool:
    """An admin looked and lets the worker continue in the batch."""
    result = await session.execute(
        update(BatchWorker)
        .where(
            BatchWorker.batch_id == batch_id,
            BatchWorker.worker_id == worker_id,
            BatchWorker.state != WorkerState.ACTIVE,
        )
        .values(state=WorkerState.ACTIVE, reason=None, changed_at=now)
        .returning(BatchWorker.worker_id)
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none() is not None


async def states(session: AsyncSession, batch_id: int) -> dict[int, str]:
    rows = await session.execute(
        select(BatchWorker.worker_id, BatchWorker.state).where(BatchWorker.batch_id == batch_id)
    )
    return dict(rows.all())
