"""Batches from settings to money: drafts, launch, pause, resume, cancel, completion and progress."""

import asyncio
import hashlib
import math
import shlex
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import taxonomies
from bot.batches import files as batch_files
from bot.batches.files import ItemDraft, Row, validate_rows
from bot.batches.settings import MAX_OVERLAP, SETTING_KEYS, TYPE_SETTING_KEYS, BatchSettings
from bot.errors import DomainError, ErrorCode, InvalidInput, NotAllowed, Problem, ProblemCode, Refusal
from bot.money import ledger
from bot.money.amounts import MAX_TYPED_AMOUNT, MICROS
from bot.tasks import registry
from bot.tasks.base import TaskContext
from storage import assignments
from storage.db import Database
from storage.models import Assignment, Batch, Item, User
from storage.states import UNDER_WAY, AssignmentStatus, BatchStatus, CreditState
from taxonomy import Tree

if TYPE_CHECKING:  # the services hold a BatchCache: imported for the annotations only
    from bot.wiring.services import Services

INSERT_CHUNK = 5000
MAX_GOLD_RATE = 0.5
CROWD_MIN = 10  # quizzes and checks are funded for at least this many workers
TYPICAL_ANSWERS_PER_WORKER = 20  # most workers stop long before the cap: fund a quiz per 20 answers of work
# Fund quizzes for this many workers per worker the cap makes necessary: with a third of quiz takers
# passing (spammers fail, so do some honest workers, and retries cost a quiz each) the batch still fills.
QUIZ_TAKERS_PER_NEEDED_WORKER = 3
MAX_QUIZ_TOP_UP = 1000  # quizzes a requester may add in one go
# The overlap question's recommended answer: every product gets ADAPTIVE_MIN_OVERLAP answers, and more
# (up to ADAPTIVE_OVERLAP) only while its workers disagree. In the crowd simulation this labelled
# 0.976–0.994 right against 0.933–0.974 at a fixed overlap of 3, at about the same cost per right label.
ADAPTIVE_OVERLAP, ADAPTIVE_MIN_OVERLAP, ADAPTIVE_CONFIDENCE = 5, 3, 0.9
# A reward per answer above this many currency units is asked about before the draft takes it: an answer
# takes seconds to a minute, so even 100 units is far beyond any wage for it, and a larger figure is
# almost surely a slip (a total budget typed as the reward, "1e9", zeros too many).
REWARD_TO_CONFIRM_MICROS = 100 * MICROS


class BatchRefusal(ErrorCode):
    CAPTION_UNREADABLE = "caption_unreadable"  # {detail}: the words of the reader that splits it
    QUIZZES_NOT_UNDER_WAY = "quizzes_not_under_way"  # {status}
    NO_QUIZ = "no_quiz"
    QUIZ_TOP_UP_RANGE = "quiz_top_up_range"  # {most}
    NOT_YOURS = "batch_not_yours"
    DRAFT_DECIDED = "draft_decided"
    CHOICE_UNAVAILABLE = "choice_unavailable"
    ALREADY = "batch_already"  # {status}
    REWARD_OVERLAP_MISSING = "reward_overlap_missing"
    DISCARD_NOT_DRAFT = "discard_not_draft"  # {status}
    CANNOT_PAUSE = "cannot_pause"  # {status}
    CANNOT_RESUME = "cannot_resume"  # {status}
    CANCEL_NOT_UNDER_WAY = "cancel_not_under_way"  # {status}


class CaptionProblem(ProblemCode):
    NOT_KEY_VALUE = "caption_not_key_value"  # {word}
    UNKNOWN_SETTING = "caption_unknown_setting"  # {key, keys}


class SpecProblem(ProblemCode):
    """What is wrong with the settings together."""

    REWARD_NOT_POSITIVE = "spec_reward_not_positive"
    OVERLAP_RANGE = "spec_overlap_range"  # {most}
    MIN_OVERLAP_RANGE = "spec_min_overlap_range"
    GOLD_RATE_TOO_HIGH = "spec_gold_rate_too_high"  # {most}
    BONUS_NEGATIVE = "spec_bonus_negative"
    NO_NAME = "spec_no_name"
    ROOT_UNKNOWN = "spec_root_unknown"  # {root}
    ROOT_IS_LEAF = "spec_root_is_leaf"  # {root}


@dataclass(frozen=True)
class BatchSpec:
    """Settings of a batch. reward 0 or overlap 0 mean "not chosen yet" (the bot asks with buttons)."""

    name: str
    task_type: str = "categorize"
    reward_micros: int = 0
    overlap: int = 0
    root: str | None = None
    leaf_only: bool = True
    instructions: str = ""
    gold_rate: float = 0.1  # share of a worker's tasks (after the quiz) that are hidden checks
    confidence: float | None = None
    min_overlap: int = 1
    min_gold: int = 5
    min_accuracy: float = 0.7
    min_seconds: float | None = None  # None: a third of the crowd's median time
    max_share: float = 1.0  # of the batch's items, per worker; 1: no cap unless the requester sets one
    min_level: int = 0  # 0 Newcomer (everyone), 1 Qualified, 2 Expert
    qualification: int = 5  # quiz size (capped at the file's gold items; 0: no quiz)
    pass_score: float = 0.8
    retry_hours: float = 24.0
    bonus_qualified_micros: int = 0
    bonus_expert_micros: int = 0
    # The type's own settings as typed ("attributes", "questions", "correct"), read by its `configure`.
    task_settings: tuple[tuple[str, str], ...] = ()

    @property
    def missing(self) -> list[str]:
        return [name for name, value in (("reward", self.reward_micros), ("overlap", self.overlap)) if not value]


@dataclass(frozen=True)
class BatchFacts:
    """What never changes about a launched batch; safe to cache in any process."""

    id: int
    name: str
    requester_id: int
    task_type: str
    task_config: dict[str, Any]
    taxonomy_id: int
    root_node_id: int | None
    reward_micros: int
    overlap: int
    leaf_only: bool
    instructions: str
    confidence: float | None
    min_overlap: int
    min_gold: int
    min_accuracy: float
    min_seconds: float | None
    qualification: int
    pass_score: float
    retry_hours: float


@dataclass(frozen=True)
class Cost:
    """What launching a batch sets aside: every item answered `overlap` times, plus the gold budget."""

    regular_items: int
    gold_items: int
    overlap: int
    answer_micros: int  # the most one answer can pay: the reward plus the larger level bonus
    check_slots: int  # answers on gold as hidden checks the reserve pays for
    quiz_slots: int  # and as quiz questions
    cap: int | None  # the answers one worker may give (max_share); None: no cap
    dynamic: bool  # a confidence is set: answers past min_overlap only while the crowd is split

    @property
    def total(self) -> int:
        return self.answer_micros * (self.overlap * self.regular_items + self.check_slots + self.quiz_slots)


@dataclass(frozen=True)
class Progress:
    id: int
    name: str
    status: str
    items: int
    answers: int
    answers_needed: int
    spent_micros: int
    reserved_micros: int
    gold_answers: int  # one per question with gold of each graded answer
    gold_correct: int
    eta: timedelta | None
    quizzes_left: int | None  # new workers the quiz budget still lets in (None: no quiz, or not running)

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_correct / self.gold_answers if self.gold_answers else None


class BatchCache:
    """Each process keeps a batch's facts once it has read them, for as long as it runs, with no invalidation:
    a batch's settings change only while it is a draft (drafts are not kept), so every process, on any
    instance, holds the same facts. What does change on a running batch (its status, reserve, gold and quiz
    slots, each worker's count against the cap) is never kept here: the statements that act on it read it."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._facts: dict[int, BatchFacts] = {}

    async def get(self, batch_id: int, session: AsyncSession | None = None) -> BatchFacts:
        """Inside a transaction pass its session: a second connection per update could exhaust the pool."""
        facts = self._facts.get(batch_id)
        if facts is None:
            if session is not None:
                batch = await session.get(Batch, batch_id)
            else:
                async with self._db.read() as own:
                    batch = await own.get(Batch, batch_id)
            if batch is None:
                raise KeyError(batch_id)
            facts = facts_of(batch)
            if batch.status != BatchStatus.DRAFT:  # a draft's settings may still change
                self._facts[batch_id] = facts
        return facts


def facts_of(batch: Batch) -> BatchFacts:
    return BatchFacts(
        id=batch.id,
        name=batch.name,
        requester_id=batch.requester_id,
        task_type=batch.task_type,
        task_config=batch.task_config,
        taxonomy_id=batch.taxonomy_id,
        root_node_id=batch.root_node_id,
        reward_micros=batch.reward_micros,
        overlap=batch.overlap,
        leaf_only=batch.leaf_only,
        instructions=batch.instructions,
        confidence=batch.confidence,
        min_overlap=batch.min_overlap,
        min_gold=batch.min_gold,
        min_accuracy=batch.min_accuracy,
        min_seconds=batch.min_seconds,
        qualification=batch.qualification,
        pass_score=batch.pass_score,
        retry_hours=batch.retry_hours,
    )


def parse_settings(text: str, default_name: str) -> BatchSpec:
    """A caption, `type=categorize reward=0.02 overlap=3 root="Home & Garden" …`, → spec."""
    try:
        words = shlex.split(text or "")
    except ValueError as error:
        raise InvalidInput(BatchRefusal.CAPTION_UNREADABLE, detail=str(error)) from None
    values: dict[str, str] = {}
    # A type's own keys besides those the settings model names: its `configure` reads and judges them.
    others = sorted(registry.setting_keys() - set(SETTING_KEYS))
    own: dict[str, str] = {}
    problems = []
    for word in words:
        key, sep, value = word.partition("=")
        key = key.strip().lower()
        if not sep:
            problems.append(Problem.of(CaptionProblem.NOT_KEY_VALUE, word=word))
        elif key in SETTING_KEYS:
            values[key] = value.strip()
        elif key in others:
            own[key] = value.strip()
        else:
            problems.append(Problem.of(CaptionProblem.UNKNOWN_SETTING, key=key, keys=[*SETTING_KEYS, *others]))
    try:
        settings = BatchSettings.read(values)
    except InvalidInput as refused:
        raise InvalidInput(refused.code, problems + refused.problems, **refused.params) from None
    if problems:
        raise InvalidInput(Refusal.SETTINGS_INVALID, problems)
    spec = spec_of(settings, default_name)
    return replace(spec, task_settings=(*spec.task_settings, *own.items()))


def spec_of(settings: BatchSettings, default_name: str) -> BatchSpec:
    """The spec of the settings given; those left out take BatchSpec's defaults."""
    given = settings.given()
    typed = tuple((key, given.pop(key)) for key in TYPE_SETTING_KEYS if key in given)
    return BatchSpec(**{**given, "name": given.get("name") or default_name, "task_settings": typed})


@dataclass(frozen=True)
class Setup:
    """What the settings make of a batch before its rows are read."""

    root_id: int | None  # None: the whole taxonomy
    task_config: dict[str, Any]


def check_spec(spec: BatchSpec, tree: Tree, require_complete: bool = True) -> Setup:
    """Validate the batch settings, the task type's own included."""
    problems: list[Problem] = []
    config: dict[str, Any] = {}
    task_type = registry.TYPES.get(spec.task_type)
    if task_type is None:
        problems.append(registry.unknown(spec.task_type))
    else:
        own = dict(spec.task_settings)
        for key in sorted(set(own) - set(task_type.settings)):
            problems.append(Problem.of(registry.TypeProblem.NOT_ITS_SETTING, key=key, type=task_type.name))
        try:
            config = task_type.configure({key: own[key] for key in task_type.settings if key in own}, tree)
        except InvalidInput as refused:
            problems += refused.problems
    if spec.reward_micros <= 0 and (require_complete or spec.reward_micros < 0):
        problems.append(Problem.of(SpecProblem.REWARD_NOT_POSITIVE))
    if not 1 <= spec.overlap <= MAX_OVERLAP and (require_complete or spec.overlap != 0):
        problems.append(Problem.of(SpecProblem.OVERLAP_RANGE, most=MAX_OVERLAP))
    if spec.overlap and not 1 <= spec.min_overlap <= spec.overlap:
        problems.append(Problem.of(SpecProblem.MIN_OVERLAP_RANGE))
    if spec.gold_rate > MAX_GOLD_RATE:
        problems.append(Problem.of(SpecProblem.GOLD_RATE_TOO_HIGH, most=MAX_GOLD_RATE))
    if spec.bonus_qualified_micros < 0 or spec.bonus_expert_micros < 0:
        problems.append(Problem.of(SpecProblem.BONUS_NEGATIVE))
    if not spec.name.strip():
        problems.append(Problem.of(SpecProblem.NO_NAME))
    root_id = None
    if spec.root:
        root = tree.find(spec.root)
        if root is None:
            problems.append(Problem.of(SpecProblem.ROOT_UNKNOWN, root=spec.root))
        elif tree.is_leaf(root.id):
            problems.append(Problem.of(SpecProblem.ROOT_IS_LEAF, root=spec.root))
        else:
            root_id = root.id
    if problems:
        raise InvalidInput(Refusal.BATCH_SETTINGS_INVALID, problems)
    return Setup(root_id, config)


def plan_cost(batch: Batch, gold_items: int) -> Cost:
    """The reserve a batch needs: all its work, its checks at `gold_rate`, and quizzes for its crowd.

    The crowd is taken as the larger of QUIZ_TAKERS_PER_NEEDED_WORKER times the fewest workers the
    per-worker cap allows and one worker per TYPICAL_ANSWERS_PER_WORKER answers of work (people drop
    out, fail and retry; a spent quiz budget would keep new workers out), each with a quiz and one
    check more than the rate gives (checks are drawn at random); what is not spent is refunded when
    the batch ends.
    """
    regular = batch.item_count - gold_items
    work = batch.overlap * regular
    checks = quizzes = 0
    if gold_items:
        fewest = math.ceil(work / (batch.max_answers or max(work, 1)))
        crowd = max(CROWD_MIN, QUIZ_TAKERS_PER_NEEDED_WORKER * fewest, math.ceil(work / TYPICAL_ANSWERS_PER_WORKER))
        checks = math.ceil(work * batch.gold_rate / (1 - batch.gold_rate)) + (crowd if batch.gold_rate else 0)
        quizzes = batch.qualification * crowd
    return Cost(
        regular,
        gold_items,
        batch.overlap,
        _dearest_answer(batch),
        checks,
        quizzes,
        batch.max_answers,
        dynamic=batch.confidence is not None,
    )


def _dearest_answer(batch: Batch) -> int:
    """An answer's pay at the best-paid level: what the reserve sets aside for each."""
    return batch.reward_micros + max(batch.bonus_qualified_micros, batch.bonus_expert_micros)


async def add_quizzes(
    session: AsyncSession, batch_id: int, requester_id: int, quizzes: int, request: str, currency: str
) -> int:
    """Fund `quizzes` more quiz attempts for a running batch whose quiz budget ran low, so new
    workers can join; returns the amount reserved (0 when this `request` was already carried out)."""
    batch = await owned(session, batch_id, requester_id, lock=True)
    if batch.status not in UNDER_WAY:
        raise DomainError(BatchRefusal.QUIZZES_NOT_UNDER_WAY, status=batch.status)
    if not batch.qualification:
        raise DomainError(BatchRefusal.NO_QUIZ)
    if not 1 <= quizzes <= MAX_QUIZ_TOP_UP:
        raise InvalidInput(BatchRefusal.QUIZ_TOP_UP_RANGE, most=MAX_QUIZ_TOP_UP)
    questions = quizzes * batch.qualification
    amount = questions * _dearest_answer(batch)
    if not await ledger.reserve_for_batch(session, batch.id, requester_id, amount, currency, top_up=request):
        return 0
    batch.reserved_micros += amount
    batch.quiz_slots += questions
    batch.quiz_budget_alerted_at = None  # when these run out too, the requester hears of it again
    return amount


async def cost_of(session: AsyncSession, batch: Batch) -> Cost:
    return plan_cost(batch, await session.scalar(gold_count(batch.id)) or 0)


async def store_batch(
    session: AsyncSession,
    requester_id: int,
    taxonomy_id: int,
    setup: Setup,
    spec: BatchSpec,
    drafts: list[ItemDraft],
    source_name: str = "",
    source_hash: str = "",
) -> Batch:
    """Insert a draft batch and all its items in the caller's transaction."""
    gold = sum(1 for draft in drafts if draft.gold)  # as `gold_count` counts them
    if await session.get(User, requester_id) is None:
        session.add(User(id=requester_id, is_requester=True))
        await session.flush()
    batch = Batch(
        requester_id=requester_id,
        name=spec.name.strip()[:256],
        task_type=spec.task_type,
        task_config=setup.task_config,
        taxonomy_id=taxonomy_id,
        root_node_id=setup.root_id,
        reward_micros=spec.reward_micros,
        overlap=spec.overlap,
        leaf_only=spec.leaf_only,
        instructions=spec.instructions,
        gold_rate=spec.gold_rate,
        qualification=min(spec.qualification, gold),
        pass_score=spec.pass_score,
        retry_hours=spec.retry_hours,
        bonus_qualified_micros=spec.bonus_qualified_micros,
        bonus_expert_micros=spec.bonus_expert_micros,
        confidence=spec.confidence,
        min_overlap=spec.min_overlap,
        min_gold=spec.min_gold,
        min_accuracy=spec.min_accuracy,
        min_seconds=spec.min_seconds,
        max_answers=max(1, math.ceil(spec.max_share * (len(drafts) - gold))) if spec.max_share < 1 else None,
        min_level=spec.min_level,
        status=BatchStatus.DRAFT,
        item_count=len(drafts),
        source_name=source_name[:256],
        source_hash=source_hash,
    )
    session.add(batch)
    await session.flush()
    for start in range(0, len(drafts), INSERT_CHUNK):
        await session.execute(
            Item.__table__.insert(),
            [_item_values(batch.id, draft) for draft in drafts[start : start + INSERT_CHUNK]],
        )
    return batch


def _item_values(batch_id: int, draft: ItemDraft) -> dict[str, object]:
    return {
        "batch_id": batch_id,
        "external_id": draft.external_id,
        "title": draft.title,
        "description": draft.description,
        "brand": draft.brand,
        "price": draft.price,
        "image_url": draft.image_url,
        "payload": draft.payload,
        "gold": draft.gold or None,
        "is_gold": bool(draft.gold),
        "slots_taken": 0,
        "answers": 0,
        "is_open": False,  # a draft's items open at launch
        "settled": False,
    }


async def create_draft(
    session: AsyncSession,
    requester_id: int,
    taxonomy_id: int,
    tree: Tree,
    spec: BatchSpec,
    rows: list[Row],
    source: str,
    source_hash: str = "",
) -> Batch:
    """Check settings and every row; store the batch as a draft (nothing is stored if anything is wrong)."""
    setup, drafts = prepare(spec, tree, rows)
    return await store_batch(session, requester_id, taxonomy_id, setup, spec, drafts, source, source_hash)


def prepare(spec: BatchSpec, tree: Tree, rows: list[Row]) -> tuple[Setup, list[ItemDraft]]:
    """The batch's setup and every row checked by its task type; raises InvalidInput naming the bad ones.

    Pure and CPU-bound (about 1.4 s for 100,000 rows), so an upload handler runs it in a worker thread.
    """
    setup = check_spec(spec, tree, require_complete=False)
    context = TaskContext(setup.task_config, tree, setup.root_id, spec.leaf_only)
    return setup, validate_rows(rows, registry.TYPES[spec.task_type], context)


def reward_to_confirm(spec: BatchSpec) -> tuple[BatchSpec, int]:
    """The spec to store as a draft and a reward the requester must confirm first (0: none).

    A reward above REWARD_TO_CONFIRM_MICROS is left out of the draft, so it is asked for like a missing
    one, with a button that takes the typed figure; nothing can be launched at it unconfirmed.
    """
    if spec.reward_micros > REWARD_TO_CONFIRM_MICROS:
        return replace(spec, reward_micros=0), spec.reward_micros
    return spec, 0


def content_hash(data: bytes) -> str:
    """What tells the same product file apart from another, whatever its name."""
    return hashlib.sha256(data).hexdigest()


async def loaded_before(session: AsyncSession, requester_id: int, source_hash: str) -> int | None:
    """The latest of the requester's batches loaded from a file with this content, if any."""
    return await session.scalar(
        select(func.max(Batch.id)).where(Batch.requester_id == requester_id, Batch.source_hash == source_hash)
    )


async def owned(session: AsyncSession, batch_id: int, requester_id: int, lock: bool = False) -> Batch:
    """The requester's own batch, or a refusal that does not reveal whether it exists."""
    query = select(Batch).where(Batch.id == batch_id)
    batch = await session.scalar(query.with_for_update() if lock else query)
    if batch is None or batch.requester_id != requester_id:
        raise NotAllowed(BatchRefusal.NOT_YOURS)
    return batch


async def choose(session: AsyncSession, batch_id: int, requester_id: int, setting: str, value: int) -> Batch:
    """Fill in a setting the requester picked with a button (drafts only)."""
    batch = await owned(session, batch_id, requester_id, lock=True)
    if batch.status != BatchStatus.DRAFT:
        raise DomainError(BatchRefusal.DRAFT_DECIDED)
    if setting == "reward" and 0 < value <= MAX_TYPED_AMOUNT * MICROS:
        batch.reward_micros = value
    elif setting == "overlap" and 1 <= value <= MAX_OVERLAP:
        batch.overlap = value
        batch.min_overlap = min(batch.min_overlap, value)
    elif setting == "adaptive" and value == ADAPTIVE_OVERLAP:
        batch.overlap, batch.min_overlap = ADAPTIVE_OVERLAP, ADAPTIVE_MIN_OVERLAP
        batch.confidence = ADAPTIVE_CONFIDENCE
    else:
        raise DomainError(BatchRefusal.CHOICE_UNAVAILABLE)
    return batch


async def launch(session: AsyncSession, batch_id: int, requester_id: int, currency: str, now: datetime) -> Batch:
    """Reserve the batch's whole cost and open it to workers."""
    batch = await owned(session, batch_id, requester_id, lock=True)
    if batch.status != BatchStatus.DRAFT:
        raise DomainError(BatchRefusal.ALREADY, status=batch.status)
    if not batch.reward_micros or not batch.overlap:
        raise DomainError(BatchRefusal.REWARD_OVERLAP_MISSING)
    cost = await cost_of(session, batch)
    await ledger.reserve_for_batch(session, batch.id, requester_id, cost.total, currency)
    batch.status, batch.reserved_micros, batch.launched_at = BatchStatus.ACTIVE, cost.total, now
    batch.gold_slots, batch.quiz_slots = cost.check_slots, cost.quiz_slots
    await _open_items(session, batch)
    return batch


async def _open_items(session: AsyncSession, batch: Batch) -> None:
    # Items of batches that are not running stay closed, so claims never walk past them; gold
    # items always do (they are served as checks, outside the overlap).
    await session.execute(
        update(Item)
        .where(
            Item.batch_id == batch.id,
            Item.settled == False,  # noqa: E712
            Item.slots_taken < batch.overlap,
            Item.is_gold == False,  # noqa: E712
        )
        .values(is_open=True)
        .execution_options(synchronize_session=False)
    )


async def _close_items(session: AsyncSession, batch: Batch) -> None:
    await session.execute(
        update(Item)
        .where(Item.batch_id == batch.id, Item.is_open == True)  # noqa: E712
        .values(is_open=False)
        .execution_options(synchronize_session=False)
    )


async def discard(session: AsyncSession, batch_id: int, requester_id: int) -> None:
    """Throw a draft away, items and all."""
    batch = await owned(session, batch_id, requester_id, lock=True)
    if batch.status != BatchStatus.DRAFT:
        raise DomainError(BatchRefusal.DISCARD_NOT_DRAFT, status=batch.status)
    await session.execute(delete(Item).where(Item.batch_id == batch.id))
    await session.delete(batch)


async def pause(session: AsyncSession, batch_id: int, requester_id: int, paused: bool) -> Batch:
    batch = await owned(session, batch_id, requester_id, lock=True)
    expected = BatchStatus.ACTIVE if paused else BatchStatus.PAUSED
    if batch.status != expected:
        raise DomainError(BatchRefusal.CANNOT_PAUSE if paused else BatchRefusal.CANNOT_RESUME, status=batch.status)
    batch.status = BatchStatus.PAUSED if paused else BatchStatus.ACTIVE
    await (_close_items if paused else _open_items)(session, batch)
    return batch


async def cancel(session: AsyncSession, batch_id: int, requester_id: int, now: datetime) -> int:
    """Stop the batch for good and refund what it did not spend; returns the refund."""
    batch = await owned(session, batch_id, requester_id, lock=True)
    if batch.status not in UNDER_WAY:
        raise DomainError(BatchRefusal.CANCEL_NOT_UNDER_WAY, status=batch.status)
    held = await session.scalars(
        select(Assignment)
        .where(Assignment.batch_id == batch.id, Assignment.status == AssignmentStatus.RESERVED)
        .with_for_update()
    )
    for assignment in held:
        await assignments.give_back(session, assignment, AssignmentStatus.RELEASED)
    await session.execute(
        update(Item)
        .where(Item.batch_id == batch.id)
        .values(is_open=False, settled=True)
        .execution_options(synchronize_session=False)
    )
    return await _finish(session, batch, BatchStatus.CANCELLED, now)


async def complete_finished(session: AsyncSession, now: datetime) -> list[Batch]:
    """Running batches with no open item and no outstanding task: completed, unspent money refunded."""
    open_item = exists().where(Item.batch_id == Batch.id, Item.is_open == True)  # noqa: E712
    held = exists().where(Assignment.batch_id == Batch.id, Assignment.status == AssignmentStatus.RESERVED)
    finished = list(
        await session.scalars(
            select(Batch).where(Batch.status == BatchStatus.ACTIVE, ~open_item, ~held).with_for_update()
        )
    )
    for batch in finished:
        await _finish(session, batch, BatchStatus.COMPLETED, now)
    return finished


@dataclass(frozen=True)
class SpentQuizBudget:
    batch_id: int
    name: str
    requester_id: int
    open_items: int  # products still waiting for answers


async def newly_spent_quiz_budgets(session: AsyncSession, now: datetime) -> list[SpentQuizBudget]:
    """Running batches whose quiz budget ran out since the requester was last told, with work left.

    No new worker can join such a batch until the requester funds more quizzes, so they hear of it
    once each time it happens (``add_quizzes`` clears the mark: the new quizzes can run out too).
    Marking and reading is one UPDATE, so two bot processes running this job never both tell.
    """
    open_item = exists().where(Item.batch_id == Batch.id, Item.is_open == True)  # noqa: E712
    marked = (
        await session.execute(
            update(Batch)
            .where(
                Batch.status == BatchStatus.ACTIVE,
                Batch.qualification > 0,
                Batch.quiz_slots < Batch.qualification,
                Batch.quiz_budget_alerted_at.is_(None),
                open_item,
            )
            .values(quiz_budget_alerted_at=now)
            .returning(Batch.id, Batch.name, Batch.requester_id)
            .execution_options(synchronize_session=False)
        )
    ).all()
    waiting = dict(
        (
            await session.execute(
                select(Item.batch_id, func.count(Item.id))
                .where(Item.batch_id.in_([batch_id for batch_id, _, _ in marked]), Item.is_open == True)  # noqa: E712
                .group_by(Item.batch_id)
            )
        ).all()
    )
    return sorted((SpentQuizBudget(*row, waiting[row[0]]) for row in marked), key=lambda budget: budget.batch_id)


async def _finish(session: AsyncSession, batch: Batch, status: str, now: datetime) -> int:
    refund = batch.reserved_micros - await assignments.spent(session, batch.id)
    if refund > 0:
        await ledger.refund_batch(session, batch.id, batch.requester_id, refund)
    batch.status, batch.finished_at = status, now
    return max(refund, 0)


async def progress(session: AsyncSession, batch: Batch, now: datetime) -> Progress:
    """Answers on the batch's own items against what it needs; gold answers count only for accuracy."""
    counts = await assignments.answer_counts(session, Assignment.batch_id == batch.id)
    work = await assignments.answer_counts(
        session,
        Assignment.batch_id == batch.id,
        Assignment.is_gold == False,  # noqa: E712
        Assignment.credit_state != CreditState.REJECTED,  # a rejected answer is collected again
    )
    settled_short = await session.scalar(
        select(func.coalesce(func.sum(batch.overlap - Item.answers), 0)).where(
            Item.batch_id == batch.id,
            Item.settled == True,  # noqa: E712
            Item.is_gold == False,  # noqa: E712
        )
    )
    gold_items = await session.scalar(gold_count(batch.id)) or 0
    needed = batch.overlap * (batch.item_count - gold_items) - int(settled_short or 0)
    return Progress(
        id=batch.id,
        name=batch.name,
        status=batch.status,
        items=batch.item_count,
        answers=work.answers,
        answers_needed=max(needed, work.answers),
        spent_micros=await assignments.spent(session, batch.id),
        reserved_micros=batch.reserved_micros,
        gold_answers=counts.gold,
        gold_correct=counts.gold_correct,
        eta=await _eta(session, batch, now, max(needed - work.answers, 0)),
        quizzes_left=_quizzes_left(batch),
    )


def _quizzes_left(batch: Batch) -> int | None:
    if not batch.qualification or batch.status not in UNDER_WAY:
        return None
    return batch.quiz_slots // batch.qualification


async def _eta(session: AsyncSession, batch: Batch, now: datetime, remaining: int) -> timedelta | None:
    """From the rate of the last hour's answers; None when nothing is moving."""
    if remaining == 0 or batch.status != BatchStatus.ACTIVE:
        return timedelta(0) if remaining == 0 else None
    recent = await session.scalar(
        select(func.count(Assignment.id)).where(
            Assignment.batch_id == batch.id,
            Assignment.status == AssignmentStatus.ANSWERED,
            Assignment.is_gold == False,  # noqa: E712
            Assignment.answered_at >= now - timedelta(hours=1),
        )
    )
    return timedelta(hours=remaining / recent) if recent else None


def gold_count(batch_id: int) -> Select[int]:
    """The batch's gold items."""
    return select(func.count(Item.id)).where(Item.batch_id == batch_id, Item.is_gold == True)  # noqa: E712


async def of_requester(session: AsyncSession, requester_id: int, limit: int = 10) -> list[Batch]:
    return list(
        await session.scalars(
            select(Batch)
            .where(Batch.requester_id == requester_id, Batch.status != BatchStatus.DRAFT)
            .order_by(Batch.id.desc())
            .limit(limit)
        )
    )


async def load_funded_batch(
    session: AsyncSession,
    requester_id: int,
    taxonomy_id: int,
    tree: Tree,
    spec: BatchSpec,
    rows: list[Row],
    currency: str,
    now: datetime,
    source: str = "",
    source_hash: str = "",
) -> Batch:
    """The operator's path (CLI): validate, store, record the requester's funding and launch."""
    check_spec(spec, tree)
    batch = await create_draft(session, requester_id, taxonomy_id, tree, spec, rows, source, source_hash)
    cost = await cost_of(session, batch)
    memo = f"operator funding for batch {batch.id}"
    await ledger.fund_requester(session, f"batch:{batch.id}:fund", requester_id, cost.total, memo)
    return await launch(session, batch.id, requester_id, currency, now)


@dataclass(frozen=True)
class Draft:
    """A draft batch as its requester sees it before launch: what is still missing, and its cost."""

    id: int
    name: str
    reward_micros: int
    overlap: int
    instructions: str
    cost: Cost
    available_micros: int  # the requester's funds


async def load_draft(services: "Services", requester_id: int, spec: BatchSpec, data: bytes, name: str) -> int:
    """An uploaded product file as a draft batch; returns its id. Reading and checking a big file takes
    seconds, so it runs in a worker thread and the event loop goes on serving everyone else."""
    taxonomy_id = await taxonomies.ensure_default(services.db)
    tree = (await services.taxonomies.get(taxonomy_id)).tree
    setup, drafts = await asyncio.to_thread(lambda: prepare(spec, tree, batch_files.read_rows(data, name)))
    async with services.db.write() as session:
        batch = await store_batch(session, requester_id, taxonomy_id, setup, spec, drafts, name, content_hash(data))
        return batch.id


async def choose_setting(services: "Services", batch_id: int, requester_id: int, setting: str, value: int) -> None:
    """A setting of a draft picked with a button."""
    async with services.db.write() as session:
        await choose(session, batch_id, requester_id, setting, value)


async def draft(services: "Services", batch_id: int, requester_id: int) -> Draft:
    async with services.db.read() as session:
        batch = await owned(session, batch_id, requester_id)
        cost = await cost_of(session, batch)
        available = (await ledger.requester_funds(session, batch.requester_id)).available
        return Draft(batch.id, batch.name, batch.reward_micros, batch.overlap, batch.instructions, cost, available)


async def items_opened(db: Database) -> None:
    """After a launch or a resume opened a batch's items: PostgreSQL's planner learns of them, as every claim's
    plan depends on how many open items a batch has (see storage.db.Database.analyze)."""
    await db.analyze(Item.__tablename__)


async def launch_batch(services: "Services", batch_id: int, requester_id: int) -> int:
    """Launch: returns the amount reserved for the batch."""
    async with services.db.write() as session:
        now = services.clock.now()
        reserved = (await launch(session, batch_id, requester_id, services.settings.currency, now)).reserved_micros
    await items_opened(services.db)
    return reserved


async def discard_batch(services: "Services", batch_id: int, requester_id: int) -> None:
    async with services.db.write() as session:
        await discard(session, batch_id, requester_id)


async def pause_batch(services: "Services", batch_id: int, requester_id: int, paused: bool) -> None:
    """Pause (paused=True) or resume."""
    async with services.db.write() as session:
        await pause(session, batch_id, requester_id, paused=paused)
    if not paused:
        await items_opened(services.db)


async def cancel_batch(services: "Services", batch_id: int, requester_id: int) -> int:
    """Cancel: returns the refund."""
    async with services.db.write() as session:
        return await cancel(session, batch_id, requester_id, services.clock.now())


async def fund_quizzes(services: "Services", batch_id: int, requester_id: int, quizzes: int, request: str) -> int:
    """/quizzes: see add_quizzes; returns the amount reserved (0: this request was carried out before)."""
    async with services.db.write() as session:
        return await add_quizzes(session, batch_id, requester_id, quizzes, request, services.settings.currency)


async def requester_batches(services: "Services", requester_id: int) -> list[Progress]:
    """/batches: the requester's latest batches and how far each has got."""
    async with services.db.read() as session:
        now = services.clock.now()
        return [await progress(session, batch, now) for batch in await of_requester(session, requester_id)]


async def digest(services: "Services", requester_id: int, batch_ids: list[int]) -> list[Progress]:
    """The daily digest: how far each of these batches of the requester has got."""
    now = services.clock.now()
    async with services.db.read() as session:
        return [await progress(session, await owned(session, batch_id, requester_id), now) for batch_id in batch_ids]


async def batch_name(services: "Services", batch_id: int, requester_id: int) -> str:
    async with services.db.read() as session:
        return (await owned(session, batch_id, requester_id)).name
