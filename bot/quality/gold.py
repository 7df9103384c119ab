"""Gold tasks: the qualification quiz before a worker's first paid task in a batch, and the
hidden checks mixed into their work afterwards.

Gold items never sit in the open pool: every worker may meet every gold item once, whatever the
batch's overlap, and each gold answer spends one of the batch's funded gold slots. The gold item
a worker gets is the one whose right answer they have given least in the batch, so a worker who
taps the same category for everything meets gold that needs another one, and fails it.

A worker's quiz answers in a batch count together: an attempt passes when all of them, earlier
failed attempts included, reach the batch's pass mark. Scored on its own, each retry would be a
fresh draw, and three draws let a worker at 0.6 accuracy through 71 % of the time instead of 34 %.
A retry is offered only while a perfect next attempt can still reach the mark.

The mark counts gold answers, one per question of an item both answered and with gold: an item with
three questions gives three, so one wrong question of three costs a third of the item rather than all
of it (a question the answer never reached, validate's category after a Yes, is not graded). An
attempt still asks `qualification` items; what it will ask in gold answers is known once its items are
served, so until then (and for a next attempt) each item still to come counts the most questions a
gold item of the batch has: a retry is offered when a perfect next attempt could reach the mark.
"""

import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from random import Random

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.batches.lifecycle import BatchFacts
from bot.batches.task import BatchTask
from bot.tasks.base import Described
from storage import assignments
from storage.assignments import AnswerCounts, AnsweredTask, answer_counts
from storage.models import Assignment, Batch, BatchWorker, Item
from storage.sql import insert_ignoring_conflicts
from storage.states import AssignmentStatus, WorkerState

QUIZ_ATTEMPTS = 3  # the first try and two retries


@dataclass(frozen=True)
class Claimed:
    assignment: Assignment
    item: Item


@dataclass(frozen=True)
class QuizStep:
    """Feedback on one quiz answer and, after the last one, the outcome."""

    batch_name: str
    assignment_id: int
    title: str
    correct: bool  # every graded question right
    right: Described  # the gold answer
    wrong: Described  # the gold answer of each question answered wrong
    item_graded: int  # this answer's gold answers (its questions both answered and with gold)
    item_right: int
    answered: int  # gold answers so far in this attempt (one per question with gold)
    correct_so_far: int
    size: int  # the items an attempt asks
    questions: int  # the gold answers this attempt gives (an estimate until its last item is served)
    passed: bool | None  # None until the attempt is complete
    needed: int  # right answers this attempt needs to pass, given the earlier attempts'
    attempt: int
    next_needed: int  # right answers a next attempt would need (over `next_questions`: no next attempt)
    next_questions: int  # the most gold answers a next attempt could give
    retry_at: datetime | None
    retries_left: int


async def claim(
    session: AsyncSession, worker_id: int, now: datetime, ttl: timedelta, draw: Random, wait: bool = True
) -> Claimed | None:
    """Reserve the worker's next task: work in a batch they may work in (sometimes a check instead, drawn
    at random so no worker can count their way around it), else the next quiz task of a batch they may
    qualify for, else None. `wait`: see storage.assignments.claim_and_reserve."""
    claimed = await assignments.claim_and_reserve(session, worker_id, now, ttl, wait)
    if claimed is None:
        return await _next_quiz_task(session, worker_id, now, ttl, draw)
    candidate, assignment = claimed
    batch_id = candidate.item.batch_id
    if candidate.gold_rate and draw.random() < candidate.gold_rate:
        gold = await assignments.unseen_gold(session, batch_id, worker_id)
        if gold and await assignments.take_gold_slots(session, batch_id):  # a check instead: the item waits
            item = await _pick_gold(session, batch_id, worker_id, gold, draw)
            return Claimed(await assignments.reserve_instead(session, assignment, item), item)
    return Claimed(assignment, candidate.item)


async def _next_quiz_task(
    session: AsyncSession, worker_id: int, now: datetime, ttl: timedelta, draw: Random
) -> Claimed | None:
    for opening in await assignments.quiz_openings(session, worker_id, now, QUIZ_ATTEMPTS):
        gold = await assignments.unseen_gold(session, opening.batch_id, worker_id)
        # A new attempt needs a whole quiz of gold the worker has never seen.
        if not gold or (not opening.in_progress and len(gold) < opening.qualification):
            continue
        if opening.in_progress:
            attempt = opening.attempts
        # A new attempt pays for all its questions at once, so it can always be finished.
        elif await assignments.take_gold_slots(session, opening.batch_id, opening.qualification):
            attempt = opening.attempts + 1
            await _start_attempt(session, opening.batch_id, worker_id, attempt)
        else:
            continue
        return await _serve_gold(
            session, opening.batch_id, worker_id, gold, now, ttl, draw, opening.reward_micros, attempt
        )
    return None


async def _serve_gold(
    session: AsyncSession,
    batch_id: int,
    worker_id: int,
    gold: list[tuple[int, dict[str, str]]],
    now: datetime,
    ttl: timedelta,
    draw: Random,
    reward: int,
    quiz_attempt: int | None,
) -> Claimed:
    """Reserve a gold item for a quiz question (the caller paid for it)."""
    item = await _pick_gold(session, batch_id, worker_id, gold, draw)
    assignment = await assignments.reserve(session, item, worker_id, now, ttl, reward, quiz_attempt, is_gold=True)
    return Claimed(assignment, item)


async def _pick_gold(
    session: AsyncSession, batch_id: int, worker_id: int, gold: list[tuple[int, dict[str, str]]], draw: Random
) -> Item:
    """Of the unseen `gold`, the item whose right answer the worker gave least."""
    given = [(dict(labels), count) for labels, count in (await _answers_given(session, batch_id, worker_id)).items()]
    times = {item: _times_given(labels, given) for item, labels in gold}
    fewest = min(times.values())
    item_id = draw.choice([item for item, _ in gold if times[item] == fewest])
    return await session.get_one(Item, item_id)


async def _answers_given(session: AsyncSession, batch_id: int, worker_id: int) -> Counter[tuple[tuple[str, str], ...]]:
    """How often the worker gave each answer in this batch (an answer as its sorted labels: JSON columns
    cannot be grouped by on PostgreSQL, so they are counted here)."""
    rows = await session.scalars(
        select(Assignment.answer).where(
            Assignment.worker_id == worker_id,
            Assignment.batch_id == batch_id,
            Assignment.status == AssignmentStatus.ANSWERED,
        )
    )
    return Counter(tuple(sorted((labels or {}).items())) for labels in rows)


def _times_given(right: dict[str, str], given: list[tuple[dict[str, str], int]]) -> int:
    """How often the worker gave this gold's right answer, of their (answer, times) `given`: answers that
    agree with it on every question it has gold for. An answer may say more than the gold (validate's
    category after a No, where the gold is the verdict alone) and is still the answer that gold takes as right."""
    return sum(
        count for labels, count in given if all(labels.get(question) == label for question, label in right.items())
    )


async def _start_attempt(session: AsyncSession, batch_id: int, worker_id: int, attempt: int) -> None:
    await session.execute(
        insert_ignoring_conflicts(session, BatchWorker.__table__, batch_id=batch_id, worker_id=worker_id)
    )
    await session.execute(
        update(BatchWorker)
        .where(BatchWorker.batch_id == batch_id, BatchWorker.worker_id == worker_id)
        .values(state=WorkerState.QUALIFYING, attempts=attempt, retry_at=None, reason=None)
        .execution_options(synchronize_session=False)
    )


async def after_quiz_answer(
    session: AsyncSession, task: BatchTask, batch: BatchFacts, assignment: AnsweredTask, attempt: int, now: datetime
) -> QuizStep:
    """After a graded quiz answer (already written) of quiz `attempt`: once the attempt is complete, pass or fail
    the worker."""
    outcome = await quiz_outcome(session, batch, assignment.worker_id, attempt)
    retry_at = None
    if outcome.passed is not None:
        retry_at = outcome.retry_at(now, batch.retry_hours)
        await session.execute(
            update(BatchWorker)
            .where(BatchWorker.batch_id == batch.id, BatchWorker.worker_id == assignment.worker_id)
            .values(
                state=WorkerState.ACTIVE if outcome.passed else WorkerState.FAILED, retry_at=retry_at, changed_at=now
            )
            .execution_options(synchronize_session=False)
        )
    title, gold, answer = (
        await session.execute(
            select(Item.title, Item.gold, Assignment.answer)
            .join(Assignment, Assignment.item_id == Item.id)
            .where(Assignment.id == assignment.id)
        )
    ).one()
    grade = task.grade(answer or {}, gold) if gold else None
    wrong = {key: gold[key] for key in grade.wrong} if grade else {}
    return QuizStep(
        batch_name=batch.name,
        assignment_id=assignment.id,
        title=title,
        correct=grade is not None and grade.correct,
        right=task.describe(gold or {}),
        wrong=task.describe(wrong),
        item_graded=grade.graded if grade else 0,
        item_right=grade.right if grade else 0,
        answered=outcome.score.gold,
        correct_so_far=outcome.score.gold_correct,
        size=batch.qualification,
        questions=outcome.questions,
        passed=outcome.passed,
        needed=outcome.needed,
        attempt=attempt,
        next_needed=outcome.next_needed,
        next_questions=outcome.next_questions,
        retry_at=retry_at,
        retries_left=outcome.retries_left,
    )


@dataclass(frozen=True)
class QuizOutcome:
    """Where a worker's quiz attempt stands, judged with their earlier attempts in the batch."""

    score: AnswerCounts  # this attempt's graded answers so far (a dropped question is no longer graded)
    questions: int  # the gold answers the attempt gives (so far, plus the most its items still to come may give)
    needed: int  # right answers this attempt needs
    passed: bool | None  # None until the attempt has all its items
    next_questions: int  # the most gold answers a next attempt may give
    next_needed: int  # right answers a next attempt would need, if this one fails
    retries_left: int  # 0 when passed, out of attempts, or when even a perfect next attempt falls short

    def retry_at(self, now: datetime, retry_hours: float) -> datetime | None:
        return now + timedelta(hours=retry_hours) if self.retries_left else None


async def quiz_outcome(session: AsyncSession, batch: BatchFacts | Batch, worker_id: int, attempt: int) -> QuizOutcome:
    """Score `attempt` with the worker's earlier quiz answers in the batch (see the module's note)."""
    mine = (Assignment.batch_id == batch.id, Assignment.worker_id == worker_id)
    score = await answer_counts(session, *mine, Assignment.quiz_attempt == attempt)
    earlier = await answer_counts(session, *mine, Assignment.quiz_attempt < attempt)
    return score_attempt(
        batch.pass_score, batch.qualification, await gold_questions(session, batch.id), score, earlier, attempt
    )


def score_attempt(
    pass_score: float, size: int, per_item: int, score: AnswerCounts, earlier: AnswerCounts, attempt: int
) -> QuizOutcome:
    """Quiz `attempt` of `size` items, whose items give at most `per_item` gold answers each, with its `score`
    so far and the `earlier` attempts' (see the module's note)."""
    questions = score.gold + max(size - score.checks, 0) * per_item
    needed = _right_needed(pass_score, earlier.gold, earlier.gold_correct, questions)
    passed = score.gold_correct >= needed if score.checks >= size else None
    next_questions = size * per_item
    next_needed = _right_needed(
        pass_score, earlier.gold + score.gold, earlier.gold_correct + score.gold_correct, next_questions
    )
    may_retry = passed is False and attempt < QUIZ_ATTEMPTS and next_needed <= next_questions
    retries_left = QUIZ_ATTEMPTS - attempt if may_retry else 0
    return QuizOutcome(score, questions, needed, passed, next_questions, next_needed, retries_left)


async def gold_questions(session: AsyncSession, batch_id: int) -> int:
    """The most questions a gold item of the batch has gold for (1 without any): the gold answers an item
    of the quiz may give. Read here rather than in SQL: JSON's length is spelled differently by each database."""
    golds = await session.scalars(select(Item.gold).where(Item.batch_id == batch_id, Item.is_gold == True))  # noqa: E712
    return max((len(gold) for gold in golds if gold), default=1)


def _right_needed(pass_score: float, earlier: int, earlier_right: int, size: int) -> int:
    """Right answers an attempt of `size` gold answers needs for all the quiz answers to reach `pass_score`."""
    return max(needed_to_pass(pass_score, earlier + size) - earlier_right, 0)


def needed_to_pass(pass_score: float, size: int) -> int:
    """Right answers a quiz of `size` gold answers needs (the epsilon keeps 0.8 × 5 at 4, not 5)."""
    return math.ceil(pass_score * size - 1e-9)


def grade(task: BatchTask, assignment: Assignment, gold: dict[str, str] | None) -> None:
    """Grade the answer against `gold`, question by question, with its distance in a tree; no gold: not graded."""
    grade = task.grade(assignment.answer or {}, gold) if gold else None
    assignment.gold_graded = grade.graded if grade else 0
    assignment.gold_right = grade.right if grade else 0
    assignment.gold_distance = grade.distance if grade else None


@dataclass(frozen=True)
class QuizPlace:
    """A quiz task's place in its attempt, and what passing takes, for the worker to see up front."""

    place: int
    size: int
    questions: int  # the gold answers the attempt gives (`size` when each item asks one question)
    needed: int  # right answers of `questions` this attempt needs
    retry: bool  # judged with the earlier attempts


async def quiz_progress(session: AsyncSession, assignment: Assignment) -> QuizPlace | None:
    """Where a quiz task stands; None for any other task."""
    if assignment.quiz_attempt is None:
        return None
    batch = await session.get_one(Batch, assignment.batch_id)
    outcome = await quiz_outcome(session, batch, assignment.worker_id, assignment.quiz_attempt)
    return QuizPlace(
        outcome.score.checks + 1, batch.qualification, outcome.questions, outcome.needed, assignment.quiz_attempt > 1
    )
