"""Claiming items for workers and giving reservations back: the queries where races live.

Claiming is one UPDATE that takes a slot on the item an indexed subquery picks, plus the INSERT of the
reservation (one writing WITH on PostgreSQL), inside a write transaction: on PostgreSQL the chosen item
row is locked with FOR UPDATE SKIP LOCKED so concurrent claimers pick different rows; on SQLite the
whole write transaction is serialised by BEGIN IMMEDIATE.

The statements of claiming and answering run on every answer, so they are built once, with their
values as bound parameters, and written on the tables (Core) where no ORM object is needed: building
and ORM bookkeeping would cost more than the database does. Parameter names differ from column
names, which SQLAlchemy would otherwise read as values to SET.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    ScalarSelect,
    Select,
    SQLColumnExpression,
    bindparam,
    case,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Assignment, Batch, BatchWorker, Item, User
from storage.sql import constants_written_in, run_core, upsert_adding
from storage.states import AssignmentStatus, BatchStatus, WorkerState

_batch_running = exists().where(Batch.id == Item.batch_id, Batch.status == BatchStatus.ACTIVE)
_assignments, _items = Assignment.__table__, Item.__table__


@dataclass(frozen=True)
class Candidate:
    """The next open item of a batch the worker may work in, not yet reserved."""

    item: Item
    overlap: int
    reward_micros: int  # the batch's reward plus the bonus for the worker's level
    gold_rate: float


def _reward(level: SQLColumnExpression[int]) -> ColumnElement[int]:
    """The batch's reward plus its bonus for the worker's level."""
    return Batch.reward_micros + case(
        (level == 2, Batch.bonus_expert_micros), (level == 1, Batch.bonus_qualified_micros), else_=0
    )


def _level_ok(level: SQLColumnExpression[int]) -> ColumnElement[bool]:
    return func.coalesce(level, 0) >= Batch.min_level


# How many started items (a slot taken, overlap not reached) a claim looks at before it takes a fresh one.
STARTED_WINDOW = 16


def _open_items() -> Select[int]:
    """The ids of the open items the worker bound as `worker` may get.

    Skips batches the worker may not work in: suspended, removed or held there, at the cap, below
    the batch's level, or not yet through its quiz. Gold items are never open: they are served
    as checks (see `unseen_gold`).
    """
    worker = _worker
    already_seen = exists().where(Assignment.item_id == Item.id, Assignment.worker_id == worker)
    mine = (BatchWorker.batch_id == Item.batch_id, BatchWorker.worker_id == worker)
    stopped = exists().where(
        *mine,
        (BatchWorker.state != WorkerState.ACTIVE)
        | (BatchWorker.answers >= func.coalesce(Batch.max_answers, BatchWorker.answers + 1)),
    )
    qualified = (Batch.qualification == 0) | exists().where(*mine, BatchWorker.state == WorkerState.ACTIVE)
    # Under dynamic overlap a slot past min_overlap opens only once every earlier one is answered,
    # so the stop rule has seen them all before paying for one more answer.
    slot_needed = (
        Batch.confidence.is_(None) | (Item.slots_taken < Batch.min_overlap) | (Item.answers >= Item.slots_taken)
    )
    return (
        select(Item.id)
        .join(Batch, Batch.id == Item.batch_id)
        # The worker's own row, read once for the level and suspension (NULL for an unknown worker).
        .outerjoin(User, User.id == worker)
        .where(
            Item.is_open == True,  # noqa: E712
            Batch.status == BatchStatus.ACTIVE,
            ~already_seen,
            User.suspended_reason.is_(None),
            ~stopped,
            _level_ok(User.level),
            qualified,
            slot_needed,
        )
    )


def _next_item_id(locking: dict[str, bool]) -> ColumnElement[int]:
    """The id of the item the worker bound as `worker` should get next, its row locked (FOR UPDATE [SKIP
    LOCKED] on PostgreSQL).

    Started items come first, most slots taken first, so that products reach their overlap and are done.
    But the worker's own answered products are started too, and while a batch has fewer workers than its
    overlap none of them closes: a walk through every started item would pass over all of them, and each
    answer would make the worker's next claim longer. So the claim looks at the first STARTED_WINDOW
    started items, then at the fresh ones (no slot taken), and walks every open item only when both found
    nothing, as near a batch's end. COALESCE runs each only when the ones before it gave NULL.
    """
    in_index_order = (Item.is_open, Item.slots_taken.desc(), Item.id)
    started = (
        select(Item.id, Item.slots_taken)
        .where(Item.is_open == True, Item.slots_taken > 0)  # noqa: E712
        .order_by(*in_index_order)
        .limit(STARTED_WINDOW)
        .subquery("started")
    )
    candidates = (
        # Ordered by the window's columns: by the items' own, the database would walk the whole index.
        _open_items().join(started, started.c.id == Item.id).order_by(started.c.slots_taken.desc(), started.c.id),
        _open_items().where(Item.slots_taken == 0).order_by(*in_index_order),
        _open_items().order_by(*in_index_order),
    )
    locked = (query.limit(1).with_for_update(of=Item, **locking).scalar_subquery() for query in candidates)
    return func.coalesce(*locked)


def _batch_fact(column: Any) -> ScalarSelect[Any]:
    """A fact of the claimed item's batch, read by the claim's RETURNING."""
    return select(column).where(Batch.id == _items.c.batch_id).scalar_subquery()


def _claim_item(locking: dict[str, bool]) -> Any:
    """Take a slot on the worker's next item and return the item, in one statement: the item row is locked
    by its subquery (FOR UPDATE [SKIP LOCKED] on PostgreSQL) and closes when all its overlap is taken."""
    overlap = _batch_fact(Batch.overlap)
    level = select(User.level).where(User.id == _worker).scalar_subquery()
    return (
        update(_items)
        .where(_items.c.id == _next_item_id(locking))
        .values(
            slots_taken=_items.c.slots_taken + 1,
            is_open=case((_items.c.slots_taken + 1 >= overlap, False), else_=True),
        )
        .returning(
            *_items.c,
            overlap.label("claim_overlap"),
            _batch_fact(_reward(level)).label("claim_reward"),
            _batch_fact(Batch.gold_rate).label("claim_gold_rate"),
        )
    )


def _claim_and_reserve_item(locking: dict[str, bool]) -> Any:
    """PostgreSQL: `_claim_item` and the INSERT of `reserve` as one statement (a writing WITH)."""
    claimed = _claim_item(locking).cte("claimed")
    # Every column with a default given: a WITH's INSERT gets no values for them when it runs.
    columns = [
        "item_id",
        "batch_id",
        "worker_id",
        "status",
        "created_at",
        "expires_at",
        "reward_micros",
        "is_gold",
        "gold_graded",
        "gold_right",
    ]
    reservation = select(
        claimed.c.id,
        claimed.c.batch_id,
        _worker,
        literal(AssignmentStatus.RESERVED, Assignment.status.type),
        bindparam("now", type_=Assignment.created_at.type),
        bindparam("expires", type_=Assignment.expires_at.type),
        claimed.c.claim_reward,
        false(),
        literal(0),
        literal(0),
    )
    reserved = insert(_assignments).from_select(columns, reservation).returning(_assignments.c.id).cte("reserved")
    return select(claimed, reserved.c.id.label("assignment_id")).select_from(claimed.join(reserved, true()))


_worker = bindparam("worker", type_=User.id.type)
_claim_open_item = constants_written_in(_claim_item({"skip_locked": True}))
_wait_for_open_item = constants_written_in(_claim_item({}))
_claim_and_reserve = constants_written_in(_claim_and_reserve_item({"skip_locked": True}))
_wait_to_claim_and_reserve = constants_written_in(_claim_and_reserve_item({}))


async def claim_open_item(session: AsyncSession, worker_id: int) -> Candidate | None:
    """Take a slot on the item this worker should get next (the caller reserves it, or gives the slot back
    with `return_slot`), or None when nothing is left for them."""
    row = (await run_core(session, _claim_open_item, {"worker": worker_id})).first()
    if row is None and session.get_bind().dialect.name == "postgresql":
        # Every candidate may be locked by other claimers of the last open slots; wait for them
        # instead of telling this worker there is nothing (PostgreSQL re-checks the row after the wait).
        row = (await run_core(session, _wait_for_open_item, {"worker": worker_id})).first()
    if row is None:
        return None
    *item, overlap, reward, gold_rate = row
    return Candidate(Item(**dict(zip(_items.c.keys(), item, strict=True))), overlap, reward, gold_rate)


async def claim_and_reserve(
    session: AsyncSession, worker_id: int, now: datetime, ttl: timedelta, wait: bool = True
) -> tuple[Candidate, Assignment] | None:
    """`claim_open_item`, and `reserve` the item it took (the caller may still show a check instead,
    `reserve_instead`). One statement on PostgreSQL; SQLite, which cannot write in a WITH, takes two.

    Without `wait`, PostgreSQL skips the items other transactions hold and never waits for them: for a
    transaction that holds rows others may be waiting for (see bot.work.answer)."""
    if session.get_bind().dialect.name != "postgresql":
        candidate = await claim_open_item(session, worker_id)
        if candidate is None:
            return None
        return candidate, await reserve(session, candidate.item, worker_id, now, ttl, candidate.reward_micros)
    values = {"worker": worker_id, "now": now, "expires": now + ttl}
    row = (await run_core(session, _claim_and_reserve, values)).first()
    if row is None and wait:  # as in claim_open_item: wait for the claimers of the last open slots
        row = (await run_core(session, _wait_to_claim_and_reserve, values)).first()
    if row is None:
        return None
    *item, overlap, reward, gold_rate, assignment_id = row
    candidate = Candidate(Item(**dict(zip(_items.c.keys(), item, strict=True))), overlap, reward, gold_rate)
    reserved = Assignment(
        id=assignment_id,
        item_id=candidate.item.id,
        batch_id=candidate.item.batch_id,
        worker_id=worker_id,
        status=AssignmentStatus.RESERVED,
        created_at=now,
        expires_at=now + ttl,
        reward_micros=reward,
        is_gold=False,
        quiz_attempt=None,
    )
    return candidate, reserved


async def reserve_instead(session: AsyncSession, reservation: Assignment, gold_item: Item) -> Assignment:
    """Show the worker a check, `gold_item`, instead of what this reservation (made in this transaction)
    shows: the reservation moves to it, and the slot it took goes back to the pool."""
    await session.execute(
        update(Assignment)
        .where(Assignment.id == reservation.id)
        .values(item_id=gold_item.id, is_gold=True)
        .execution_options(synchronize_session=False)
    )
    await return_slot(session, reservation.item_id)
    return Assignment(
        id=reservation.id,
        item_id=gold_item.id,
        batch_id=reservation.batch_id,
        worker_id=reservation.worker_id,
        status=reservation.status,
        created_at=reservation.created_at,
        expires_at=reservation.expires_at,
        reward_micros=reservation.reward_micros,
        is_gold=True,
        quiz_attempt=None,
    )


@dataclass(frozen=True)
class QuizOpening:
    """A batch whose quiz this worker may take now: continuing an attempt, or starting one."""

    batch_id: int
    qualification: int
    reward_micros: int
    in_progress: bool
    attempts: int


async def quiz_openings(session: AsyncSession, worker_id: int, now: datetime, max_attempts: int) -> list[QuizOpening]:
    """Running batches with a quiz, gold left to pay for, and open work, whose quiz the worker may take."""
    level = select(User.level).where(User.id == worker_id).scalar_subquery()
    suspended = exists().where(User.id == worker_id, User.suspended_reason.is_not(None))
    open_work = exists().where(Item.batch_id == Batch.id, Item.is_open == True)  # noqa: E712
    may_start = BatchWorker.state.is_(None) | (
        (BatchWorker.state == WorkerState.FAILED)
        & (BatchWorker.retry_at <= now)
        & (BatchWorker.attempts < max_attempts)
    )
    # An attempt under way has its questions paid for; a new one needs a whole quiz's worth.
    may_take = (BatchWorker.state == WorkerState.QUALIFYING) | (may_start & (Batch.quiz_slots >= Batch.qualification))
    rows = await session.execute(
        select(
            Batch.id,
            Batch.qualification,
            _reward(level),
            BatchWorker.state == WorkerState.QUALIFYING,
            func.coalesce(BatchWorker.attempts, 0),
        )
        .outerjoin(BatchWorker, (BatchWorker.batch_id == Batch.id) & (BatchWorker.worker_id == worker_id))
        .where(
            Batch.status == BatchStatus.ACTIVE,
            Batch.qualification > 0,
            _level_ok(level),
            ~suspended,
            open_work,
            may_take,
        )
        .order_by(Batch.id)
    )
    return [QuizOpening(batch, size, reward, bool(going), attempts) for batch, size, reward, going, attempts in rows]


async def unseen_gold(session: AsyncSession, batch_id: int, worker_id: int) -> list[tuple[int, dict[str, str]]]:
    """(item id, gold labels) of the batch's gold items this worker has never been shown."""
    seen = exists().where(Assignment.item_id == Item.id, Assignment.worker_id == worker_id)
    rows = await session.execute(
        select(Item.id, Item.gold)
        .where(Item.batch_id == batch_id, Item.is_gold == True, ~seen)  # noqa: E712
        .order_by(Item.id)
    )
    return [(item_id, gold) for item_id, gold in rows if gold]  # (the query keeps gold items only)


async def take_gold_slots(session: AsyncSession, batch_id: int, quiz_questions: int = 0) -> bool:
    """Spend funded gold answers: one check, or (quiz_questions > 0) a whole quiz; False when too few are left."""
    column = Batch.quiz_slots if quiz_questions else Batch.gold_slots
    count = quiz_questions or 1
    taken = await session.execute(
        update(Batch)
        .where(Batch.id == batch_id, column >= count)
        .values({column: column - count})
        .returning(Batch.id)
        .execution_options(synchronize_session=False)
    )
    return taken.first() is not None


_reserve = insert(_assignments).returning(_assignments.c.id)


async def reserve(
    session: AsyncSession,
    item: Item,
    worker_id: int,
    now: datetime,
    ttl: timedelta,
    reward_micros: int,
    quiz_attempt: int | None = None,
    is_gold: bool = False,
) -> Assignment:
    """The assignment showing `item` to the worker until `now + ttl` (the caller took the slot).

    Inserted without the session's unit of work, which would cost more than the INSERT: the returned
    Assignment carries the stored values but is not tracked, so changing it saves nothing.
    """
    values = {
        "item_id": item.id,
        "batch_id": item.batch_id,
        "worker_id": worker_id,
        "status": AssignmentStatus.RESERVED,
        "created_at": now,
        "expires_at": now + ttl,
        "reward_micros": reward_micros,
        "is_gold": is_gold,
        "quiz_attempt": quiz_attempt,
    }
    assignment_id = (await session.execute(_reserve, values)).scalar_one()
    return Assignment(id=assignment_id, **values)


async def lock(session: AsyncSession, assignment_id: int) -> Assignment | None:
    """Load an assignment with its row locked for the rest of the transaction (PostgreSQL)."""
    return await session.scalar(
        select(Assignment)
        .where(Assignment.id == assignment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


_lock_with_payload = (
    select(_assignments, _items.c.payload)
    .join(_items, _items.c.id == _assignments.c.item_id)
    .where(_assignments.c.id == bindparam("assignment"))
    .with_for_update(of=_assignments)
)


async def lock_with_payload(session: AsyncSession, assignment_id: int) -> tuple[Assignment, dict] | None:
    """An assignment, its row locked for the rest of the transaction (PostgreSQL), with its item's payload.

    Read on the tables: the Assignment returned is not tracked, so the answer's own UPDATEs later in the
    transaction are not hidden from other readers of the row by a stale copy in the session."""
    row = (await run_core(session, _lock_with_payload, {"assignment": assignment_id})).first()
    if row is None:
        return None
    values = row._asdict()
    payload = values.pop("payload")
    return Assignment(**values), payload


@dataclass(frozen=True)
class AnsweredTask:
    """An assignment just answered: what paying for it and quality control need to know."""

    id: int
    item_id: int
    batch_id: int
    worker_id: int
    reward_micros: int
    is_gold: bool
    quiz_attempt: int | None
    gold_graded: int = 0  # the gold answers it gave, one per question with gold (0: not graded)
    gold_right: int = 0


_now = bindparam("now", type_=Assignment.answered_at.type)
_record_answer = (
    update(_assignments)
    .where(
        _assignments.c.id == bindparam("assignment"),
        _assignments.c.worker_id == bindparam("worker"),
        _assignments.c.status == AssignmentStatus.RESERVED,
    )
    .values(
        status=AssignmentStatus.ANSWERED,
        answered_at=_now,
        answer=bindparam("answer", type_=Assignment.answer.type),
        credit_state=bindparam("credit"),
    )
    .returning(
        _assignments.c.item_id,
        _assignments.c.batch_id,
        _assignments.c.reward_micros,
        _assignments.c.is_gold,
        _assignments.c.quiz_attempt,
    )
)
_count_answer = (
    update(_items).where(_items.c.id == bindparam("item")).values(answers=_items.c.answers + 1).returning(_items.c.gold)
)
_users = User.__table__
# A pause since `pause_before` starts a new stretch of work; SET sees the row as it was.
_note_answer = (
    update(_users)
    .where(_users.c.id == bindparam("worker"))
    .values(
        stretch_started_at=case(
            (_users.c.last_answer_at.is_(None) | (_users.c.last_answer_at <= bindparam("pause_before")), _now),
            else_=_users.c.stretch_started_at,
        ),
        last_answer_at=_now,
    )
    .returning(
        _users.c.daily_target_micros, _users.c.breaks_enabled, _users.c.stretch_started_at, _users.c.break_suggested_at
    )
)
_count_in_batch = upsert_adding(BatchWorker.__table__, ("batch_id", "worker_id"), "answers")


def _record_count_and_note() -> Any:
    """PostgreSQL: `_record_answer`, `_count_answer`, `_note_answer` and `_count_in_batch` as one statement
    (a writing WITH)."""
    answered = _record_answer.cte("answered")
    counted = (
        update(_items)
        .where(_items.c.id == answered.c.item_id)
        .values(answers=_items.c.answers + 1)
        .returning(_items.c.gold)
        .cte("counted")
    )
    noted = _note_answer.cte("noted")
    batch_workers = BatchWorker.__table__
    # Every column with a default given: a WITH's INSERT gets no values for them when it runs.
    in_batch = postgresql.insert(batch_workers).from_select(
        ["batch_id", "worker_id", "answers", "state", "attempts"],
        select(
            answered.c.batch_id,
            bindparam("worker", type_=BatchWorker.worker_id.type),
            case((answered.c.is_gold, 0), else_=1),
            literal(WorkerState.ACTIVE, BatchWorker.state.type),
            literal(0),
        ).where(answered.c.quiz_attempt.is_(None)),
    )
    added = batch_workers.c.answers + in_batch.excluded.answers
    in_batch = in_batch.on_conflict_do_update(index_elements=["batch_id", "worker_id"], set_={"answers": added})
    return (
        select(answered, counted.c.gold, noted)
        .select_from(answered.join(counted, true()).outerjoin(noted, true()))
        .add_cte(in_batch.cte("in_batch"))
    )


_record_count_and_note_answer = _record_count_and_note()
_save_partial = (
    update(_assignments)
    .where(
        _assignments.c.id == bindparam("assignment"),
        _assignments.c.worker_id == bindparam("worker"),
        _assignments.c.status == AssignmentStatus.RESERVED,
    )
    .values(answer=bindparam("answer", type_=Assignment.answer.type))
    .returning(_assignments.c.id)
)
_set_grade = (
    update(_assignments)
    .where(_assignments.c.id == bindparam("assignment"))
    .values(gold_graded=bindparam("graded"), gold_right=bindparam("right"), gold_distance=bindparam("distance"))
)


@dataclass(frozen=True)
class WorkerClock:
    """The worker's row once an answer is noted on it: what the daily target and break nudges need."""

    daily_target_micros: int | None
    breaks_enabled: bool
    stretch_started_at: datetime
    break_suggested_at: datetime | None


@dataclass(frozen=True)
class Recorded:
    answered: AnsweredTask
    gold: dict[str, str] | None  # the item's gold labels; None for a regular item
    worker: WorkerClock | None  # None for a worker without a users row


async def record_answer(
    session: AsyncSession,
    assignment_id: int,
    worker_id: int,
    answer: dict[str, str],
    now: datetime,
    credit_state: str,
    pause_before: datetime,
) -> Recorded | None:
    """Mark the worker's reserved assignment answered with `answer` (a label per question), and count the
    answer: on its item, in the worker's share of the batch (the per-worker cap; a check counts nothing
    there but makes the row, a quiz answer neither), and on the worker's row (last answer, and the
    stretch of work it continues, or starts after a pause since `pause_before`). None when the assignment
    is not theirs or not reserved: the UPDATE locks the row, so of two concurrent answers only one finds
    it still reserved. One statement on PostgreSQL; SQLite, which cannot write in a WITH, takes four."""
    values = {
        "assignment": assignment_id,
        "worker": worker_id,
        "now": now,
        "answer": answer,
        "credit": credit_state,
        "pause_before": pause_before,
    }
    postgresql = session.get_bind().dialect.name == "postgresql"
    row = (await session.execute(_record_count_and_note_answer if postgresql else _record_answer, values)).first()
    if row is None:
        return None
    answered = AnsweredTask(
        assignment_id, row.item_id, row.batch_id, worker_id, row.reward_micros, row.is_gold, row.quiz_attempt
    )
    if postgresql:
        clock = None if row.breaks_enabled is None else WorkerClock(*row[-4:])  # (outer joined)
        return Recorded(answered, row.gold, clock)
    gold: dict[str, str] | None = (await session.execute(_count_answer, {"item": answered.item_id})).scalar_one()
    noted = (await session.execute(_note_answer, values)).first()
    if answered.quiz_attempt is None:
        counted = {"batch_id": answered.batch_id, "worker_id": worker_id, "answers": 0 if answered.is_gold else 1}
        await session.execute(_count_in_batch(session), counted)
    return Recorded(answered, gold, None if noted is None else WorkerClock(*noted))


async def save_partial(session: AsyncSession, assignment_id: int, worker_id: int, answer: dict[str, str]) -> bool:
    """Keep the questions answered so far on a reserved assignment; False when it is no longer the worker's."""
    saved = await session.execute(_save_partial, {"assignment": assignment_id, "worker": worker_id, "answer": answer})
    return saved.first() is not None


async def set_grade(session: AsyncSession, assignment_id: int, graded: int, right: int, distance: int | None) -> None:
    values = {"assignment": assignment_id, "graded": graded, "right": right, "distance": distance}
    await session.execute(_set_grade, values)


async def give_back(session: AsyncSession, assignment: Assignment, status: str) -> None:
    """End a reservation without an answer and return its slot to the pool (a check's to the batch;
    a quiz question's stays with the attempt, which will ask another)."""
    assignment.status = status
    if assignment.quiz_attempt is not None:
        return
    if assignment.is_gold:
        await session.execute(
            update(Batch)
            .where(Batch.id == assignment.batch_id)
            .values(gold_slots=Batch.gold_slots + 1)
            .execution_options(synchronize_session=False)
        )
        return
    await return_slot(session, assignment.item_id)


async def withdraw(session: AsyncSession, assignment_id: int) -> None:
    """Undo a reservation this transaction made and showed no one: its slot goes back, unless something
    gave it back already, and its row goes, so the worker may still get the product another time."""
    await session.flush()  # a give_back of this transaction's, written before the row goes
    removed = await session.execute(
        delete(_assignments)
        .where(_assignments.c.id == assignment_id)
        .returning(*(_assignments.c[name] for name in ("status", "item_id", "batch_id", "is_gold", "quiz_attempt")))
    )
    row = removed.first()
    if row is not None and row.status == AssignmentStatus.RESERVED:
        await give_back(session, Assignment(**row._asdict()), AssignmentStatus.RELEASED)


async def return_slot(session: AsyncSession, item_id: int) -> None:
    """A slot taken on this item goes back to the pool."""
    await session.execute(
        update(Item)
        .where(Item.id == item_id)
        .values(slots_taken=Item.slots_taken - 1, is_open=~Item.settled & _batch_running)
        .execution_options(synchronize_session=False)
    )


async def spent(session: AsyncSession, batch_id: int) -> int:
    """What answers took from the batch's reserve.

    Rejected answers count too: while the batch runs, a rejected credit goes back into its reserve
    and `reserved_micros` grows by it (see bot.money.credits.reject), so reserved minus spent stays unspent."""
    total = await session.execute(
        select(func.coalesce(func.sum(Assignment.reward_micros), 0)).where(
            Assignment.batch_id == batch_id, Assignment.status == AssignmentStatus.ANSWERED
        )
    )
    return int(total.scalar_one())


async def reopen_slot(session: AsyncSession, item_id: int) -> None:
    """An answer on this item stopped counting (quality control rejected it): it needs one more."""
    await session.execute(
        update(Item)
        .where(Item.id == item_id)
        .values(answers=Item.answers - 1, slots_taken=Item.slots_taken - 1, settled=False, is_open=_batch_running)
        .execution_options(synchronize_session=False)
    )


async def count_again(session: AsyncSession, item_id: int) -> None:
    """A rejected answer on this item counts again: it takes a slot back, closing the item when full."""
    overlap = select(Batch.overlap).where(Batch.id == Item.batch_id).scalar_subquery()
    await session.execute(
        update(Item)
        .where(Item.id == item_id)
        .values(
            answers=Item.answers + 1,
            slots_taken=Item.slots_taken + 1,
            is_open=Item.is_open & (Item.slots_taken + 1 < overlap),
        )
        .execution_options(synchronize_session=False)
    )


async def open_for_worker(session: AsyncSession, worker_id: int, lock_rows: bool = False) -> list[Assignment]:
    """The worker's current reservations, newest first."""
    query = (
        select(Assignment)
        .where(Assignment.worker_id == worker_id, Assignment.status == AssignmentStatus.RESERVED)
        .order_by(Assignment.id.desc())
    )
    if lock_rows:
        query = query.with_for_update()
    return list(await session.scalars(query))


async def reclaim_expired(session: AsyncSession, now: datetime, limit: int = 1000) -> int:
    """Return reservations past their deadline to the pool; returns how many."""
    expired = await session.scalars(
        select(Assignment)
        .where(Assignment.status == AssignmentStatus.RESERVED, Assignment.expires_at < now)
        .order_by(Assignment.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    count = 0
    for assignment in expired:
        await give_back(session, assignment, AssignmentStatus.EXPIRED)
        count += 1
    return count


# A graded answer on gold right on every question the gold has (a right check), or wrong on some.
ALL_RIGHT = (Assignment.gold_graded > 0) & (Assignment.gold_right == Assignment.gold_graded)
SOME_WRONG = Assignment.gold_right < Assignment.gold_graded


@dataclass(frozen=True)
class AnswerCounts:
    answers: int
    gold: int  # gold answers: the graded questions of the answers on gold
    gold_correct: int  # of them right
    checks: int = 0  # the answers on gold graded, each giving one gold answer per question with gold


async def answer_counts(session: AsyncSession, *where: ColumnElement[bool]) -> AnswerCounts:
    """How many answered assignments match `where`, their gold answers, how many of those right, and how many
    of the assignments gave them."""
    answers, gold, correct, checks = (
        await session.execute(
            select(
                func.count(Assignment.id),
                func.coalesce(func.sum(Assignment.gold_graded), 0),
                func.coalesce(func.sum(Assignment.gold_right), 0),
                func.coalesce(func.sum(case((Assignment.gold_graded > 0, 1), else_=0)), 0),
            ).where(Assignment.status == AssignmentStatus.ANSWERED, *where)
        )
    ).one()
    return AnswerCounts(int(answers), int(gold), int(correct), int(checks))
