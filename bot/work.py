"""A worker's loop: get the next product, answer its questions, skip or stop.

What a product asks comes from its batch's task type (bot.tasks): one question after another on the
same card, each answered by a button, by a category from the taxonomy's pages, or by typed text.
The answers so far are kept on the reservation, so a card survives a restart. Navigation state in a
tree (current node and page) travels in the button data and is re-validated here on every press, so
browsing writes nothing; only answers, skips and stops do.
"""

from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox, progress, reasons, users
from bot.aggregation import methods as aggregation
from bot.aggregation.methods import Answer
from bot.batches.lifecycle import BatchFacts
from bot.batches.task import BatchTask, task_of
from bot.errors import AlreadyAnswered, ErrorCode, NotAllowed, NotAnAnswer, TaskUnavailable
from bot.money import ledger
from bot.outbox import Notice
from bot.quality import gold
from bot.quality import rules as quality
from bot.tasks import tree_questions
from bot.tasks.base import Described, Question, QuestionKind
from bot.wiring.services import Services
from storage import assignments
from storage.assignments import AnsweredTask
from storage.models import Assignment, Item, User
from storage.states import AssignmentStatus, CreditState

PAGE_SIZE = 8
SEARCH_RESULTS = 8


class WorkRefusal(ErrorCode):
    SUSPENDED = "work_suspended"  # {reason}: the suspension's


@dataclass(frozen=True)
class Card:
    title: str
    description: str
    brand: str
    price: str
    image_url: str
    facts: tuple[tuple[str, str], ...] = ()  # what the type adds, by code: (("proposed", "Cookware › Skillets"),)


@dataclass(frozen=True)
class Choice:
    node_id: int
    label: str
    is_leaf: bool


@dataclass(frozen=True)
class TaskScreen:
    assignment_id: int
    batch_id: int
    batch_name: str
    card: Card
    reward_micros: int
    question: Question
    question_index: int  # among the type's questions: the buttons carry it, so a late press is known
    question_count: int
    answered: Described = ()  # this card's questions answered so far, described
    needs_photo: bool = False  # an image task: the card offers "photo does not load" and links the photo
    # A tree question's page: the categories under `here`.
    breadcrumb: tuple[str, ...] = ()  # from the taxonomy's top (or the batch root) down to `here`
    here: int | None = None  # the node whose children are offered; None above the taxonomy's top level
    parent: int | None = None  # where "Back" leads
    choices: tuple[Choice, ...] = ()
    page: int = 0
    pages: int = 1
    can_go_back: bool = False
    accept_here: bool = False  # leaf_only=false: the worker may pick `here` itself
    instructions: str = ""
    first_in_batch: bool = False  # show the instructions before this first task of the batch
    note: str = ""
    quiz: gold.QuizPlace | None = None  # while the worker takes the quiz


@dataclass(frozen=True)
class SearchScreen:
    assignment_id: int
    question_index: int
    query: str
    matches: tuple[Choice, ...]
    leaf_only: bool


@dataclass(frozen=True)
class Answered:
    """A product answered (or, with `partial`, one of its questions: `next_task` is the same card)."""

    credited_micros: int
    pending_micros: int
    next_task: TaskScreen | None
    nudges: progress.Nudges
    verdict: quality.Removal | quality.Hold | gold.QuizStep | None = None
    partial: bool = False


@dataclass(frozen=True)
class ButtonsOnly:
    """Typed text while the open question is answered with buttons."""

    assignment_id: int


Typed = Answered | SearchScreen | ButtonsOnly | None


async def next_task(services: Services, worker_id: int) -> TaskScreen | None:
    """The worker's open task if any (so a resend resumes it), else a newly claimed one."""

    async def claim(session: AsyncSession) -> _Next | None:
        # The worker's row locked (PostgreSQL): the worker's /work reaching two processes at once claims
        # once, the second finding the first's product open, so a batch's per-worker cap holds.
        user = await session.get(User, worker_id, with_for_update=True)
        if user is not None and user.suspended_reason:
            raise NotAllowed(WorkRefusal.SUSPENDED, reason=reasons.loads(user.suspended_reason))
        held = await assignments.open_for_worker(session, worker_id)
        if held:
            item = await session.get_one(Item, held[0].item_id)
            return await _next_of(services, session, held[0], item)
        return await _claim_following(services, session, worker_id)

    return await _following_screen(services, await services.db.write_retrying(claim, brief=True))


async def browse(services: Services, worker_id: int, assignment_id: int, node: int | None, page: int) -> TaskScreen:
    """The task with the children of `node` (None: the batch root) on `page`."""
    async with services.db.read() as session:
        assignment = await _owned_open(session, worker_id, assignment_id)
        item = await session.get_one(Item, assignment.item_id)
        quiz = await gold.quiz_progress(session, assignment)
    return await _screen(services, assignment, item, node, page, quiz=quiz)


async def answer(services: Services, worker_id: int, assignment_id: int, question_index: int, value: str) -> Answered:
    """Answer the card's open question with a pressed or typed `value`. Once every question is answered,
    record the answer, credit the worker and claim the next product, all in one transaction.

    In that transaction's order, what many answers share is locked last (PostgreSQL): the assignment,
    then the answered item as the answer is counted, then the next product, whose claim skips items other
    transactions hold rather than waiting for them, then quality control, and last the accounts of the
    credit (a requester's reserve pays every answer to their batches), held only for the credit and the
    commit. No answer waits for a row while holding the reserve, so answers cannot deadlock. When the
    claim found nothing, a transaction of its own claims again, waiting for the claimers of the last
    slots. A check is paid before quality control, as a removal takes its credit back with the worker's
    others; a quiz answer, whose grading decides what comes next, claims after it; a hold or a removal
    gives the product claimed before it back and claims again.
    """

    async def record(
        session: AsyncSession,
    ) -> tuple[int, int, progress.Nudges, quality.Removal | quality.Hold | gold.QuizStep | None, _Next | None] | _Next:
        now = services.clock.now()
        locked = await assignments.lock_with_payload(session, assignment_id)
        assignment = _check_open(locked[0] if locked else None, worker_id)
        payload = locked[1] if locked else {}
        batch = await services.batches.get(assignment.batch_id, session)
        task = await task_of(batch, services.taxonomies, session)
        answers = dict(assignment.answer or {})
        label, question = _read_answer(task, payload, answers, question_index, value)
        answers[question.key] = label
        if task.type.next_question(payload, answers, task.context) is not None:
            await assignments.save_partial(session, assignment_id, worker_id, answers)
            item = await session.get_one(Item, assignment.item_id)
            assignment.answer = answers  # untracked (see lock_with_payload): the card shows it, nothing saves it
            return _Next(assignment, item, False, await gold.quiz_progress(session, assignment))
        reward = assignment.reward_micros
        pause_before = now - progress.PAUSE_ENDS_SESSION
        recorded = await assignments.record_answer(
            session, assignment_id, worker_id, answers, now, CreditState.PENDING, pause_before
        )
        if recorded is None:
            raise _refusal(await assignments.lock(session, assignment_id), worker_id) or TaskUnavailable()
        answered = await _grade(session, task, recorded.answered, recorded.gold, answers)
        if batch.confidence is not None and not answered.is_gold:
            await _apply_stop_rule(session, task, batch, batch.confidence, answered.item_id)
        nudges = await progress.after_answer(session, worker_id, reward, now, recorded.worker)
        if answered.gold_graded:
            level = await users.record_gold(session, worker_id, answered.gold_graded, answered.gold_right)
            nudges = replace(nudges, level_reached=level)
        work_answer = answered.quiz_attempt is None
        following = await _claim_following(services, session, worker_id, wait=False) if work_answer else None

        async def credit() -> int:
            pending = await ledger.credit_answer(session, assignment_id, batch.requester_id, worker_id, reward)
            if pending is None:  # credited before: the ledger key made this a no-op, so show the balance as it is
                pending = (await ledger.worker_balance(session, worker_id)).pending
            return pending

        paid_first = answered.is_gold  # a check may remove the worker, which takes this credit back with their others
        pending = await credit() if paid_first else 0
        verdict = await quality.after_answer(session, task, batch, answered, now)
        if not paid_first:
            pending = await credit()
        if isinstance(verdict, quality.Removal):
            pending = (await ledger.worker_balance(session, worker_id)).pending
        if isinstance(verdict, quality.Hold):  # the admins are owed a look
            for admin_id in sorted(services.settings.admin_ids):
                key = f"hold:{batch.id}:{worker_id}:{now.isoformat()}:{admin_id}"
                await outbox.owe(session, key, admin_id, Notice.HOLD_FOR_ADMINS, **asdict(verdict))
        if not work_answer or isinstance(verdict, quality.Removal | quality.Hold):
            following = await _claim_again(services, session, worker_id, following)
        return reward, pending, nudges, verdict, following

    outcome = await services.db.write_retrying(record, brief=True)
    if isinstance(outcome, _Next):  # a question of several: the same card asks the next one
        screen = await _following_screen(services, outcome)
        return Answered(0, 0, screen, progress.Nudges(), partial=True)
    credited, pending, nudges, verdict, following = outcome
    if following is None:  # nothing free in the answer's transaction: wait for what others hold
        return Answered(credited, pending, await _next_task_if_allowed(services, worker_id), nudges, verdict)
    screen = await _following_screen(services, following)
    return Answered(credited, pending, screen, nudges, verdict)


def _read_answer(
    task: BatchTask, payload: dict[str, Any], answers: dict[str, str], question_index: int, value: str
) -> tuple[str, Question]:
    """The label `value` gives the open question; a press for a question already answered is a replay."""
    open_question = task.type.next_question(payload, answers, task.context)
    questions = task.questions
    if open_question is None or question_index >= len(questions):
        raise TaskUnavailable()
    if questions[question_index] != open_question:
        asked_before = questions[question_index].key in answers
        raise AlreadyAnswered() if asked_before else TaskUnavailable()
    if open_question.kind == QuestionKind.CHOICE:  # a button carries its option's place, to fit in 64 bytes
        if not value.isdigit() or int(value) >= len(open_question.options):
            raise TaskUnavailable()
        value = open_question.options[int(value)]
    label = task.type.accept(open_question, value, task.context)
    if label is None:  # a refused typed value leaves the card open: the worker types another
        raise NotAnAnswer() if open_question.kind == QuestionKind.TEXT else TaskUnavailable()
    return label, open_question


async def typed(services: Services, worker_id: int, text: str) -> Typed:
    """Typed words: the answer to a typed question, a search for a tree question, else a pointer to the
    buttons; None when the worker has no open task."""
    async with services.db.read() as session:
        held = await assignments.open_for_worker(session, worker_id)
        if not held:
            return None
        assignment = held[0]
        payload = (await session.get_one(Item, assignment.item_id)).payload
    batch = await services.batches.get(assignment.batch_id)
    task = await task_of(batch, services.taxonomies)
    question = task.type.next_question(payload, assignment.answer or {}, task.context)
    if question is None:
        return None
    if question.kind == QuestionKind.TEXT:
        return await answer(services, worker_id, assignment.id, task.questions.index(question), text)
    if question.kind == QuestionKind.TREE:
        return _search(task, assignment.id, task.questions.index(question), text)
    return ButtonsOnly(assignment.id)


async def _grade(
    session: AsyncSession,
    task: BatchTask,
    answered: AnsweredTask,
    gold_labels: dict[str, str] | None,
    answers: dict[str, str],
) -> AnsweredTask:
    """On a gold item, grade the answer (record_answer counted it on the item and read the gold)."""
    if gold_labels is None:
        return answered
    grade = task.grade(answers, gold_labels)
    if grade is None:
        return answered
    await assignments.set_grade(session, answered.id, grade.graded, grade.right, grade.distance)
    return replace(answered, gold_graded=grade.graded, gold_right=grade.right)


async def skip(services: Services, worker_id: int, assignment_id: int) -> TaskScreen | None:
    """Give the product up without penalty; it goes back to the pool for others."""

    async def give_up(session: AsyncSession) -> _Next | None:
        locked = await assignments.lock(session, assignment_id)
        assignment = _check_open(locked, worker_id, done=(AssignmentStatus.ANSWERED, AssignmentStatus.SKIPPED))
        await assignments.give_back(session, assignment, AssignmentStatus.SKIPPED)
        return await _claim_following(services, session, worker_id)

    return await _following_screen(services, await services.db.write_retrying(give_up, brief=True))


async def stop(services: Services, worker_id: int, assignment_id: int) -> None:
    """End the session: the open product goes back to the pool."""
    async with services.db.write() as session:
        assignment = _check_open(await assignments.lock(session, assignment_id), worker_id)
        await assignments.give_back(session, assignment, AssignmentStatus.RELEASED)


def _search(task: BatchTask, assignment_id: int, question_index: int, query: str) -> SearchScreen:
    """Categories under the batch root matching typed words."""
    context = task.context
    found = task.taxonomy.index.search(query, under=context.root_id, limit=SEARCH_RESULTS + 1)
    matches = tuple(
        Choice(node.id, tree_questions.path(str(node.id), context, below_root=True), context.tree.is_leaf(node.id))
        for node in found
        if node.id != context.root_id
    )[:SEARCH_RESULTS]
    return SearchScreen(assignment_id, question_index, query, matches, context.leaf_only)


async def preview(services: Services, batch_id: int) -> TaskScreen:
    """The batch's first product exactly as a worker will see it (buttons lead nowhere)."""
    async with services.db.read() as session:
        item = (await session.scalars(select(Item).where(Item.batch_id == batch_id).order_by(Item.id).limit(1))).one()
    batch = await services.batches.get(batch_id)
    return _render(await task_of(batch, services.taxonomies), batch, 0, item, {}, None, 0, first=False)


async def rules(services: Services, batch_id: int, user_id: int) -> tuple[str, str]:
    """A batch's name and instructions, for the ℹ Rules button, to those who may see the batch: its
    requester (the button is on the preview), the admins, and the workers it was shown to, who got the
    rules with their first task of it. Only a forged button reaches anyone else: they learn nothing,
    not even whether the batch exists."""
    try:
        facts = await services.batches.get(batch_id)
    except KeyError:
        raise TaskUnavailable() from None
    if user_id != facts.requester_id and user_id not in services.settings.admin_ids:
        async with services.db.read() as session:
            shown = await session.scalar(
                select(Assignment.id).where(Assignment.batch_id == batch_id, Assignment.worker_id == user_id).limit(1)
            )
        if shown is None:
            raise TaskUnavailable()
    return facts.name, facts.instructions


async def reclaim_expired(services: Services) -> int:
    """Return expired reservations to the pool (run by a scheduled job)."""
    async with services.db.write() as session:
        return await assignments.reclaim_expired(session, services.clock.now())


@dataclass(frozen=True)
class _Next:
    assignment: Assignment
    item: Item
    first_in_batch: bool
    quiz: gold.QuizPlace | None


async def _claim_again(
    services: Services, session: AsyncSession, worker_id: int, claimed: _Next | None
) -> _Next | None:
    """The next task once quality control has spoken: what was claimed before it is withdrawn, as its batch
    may have just closed to the worker."""
    if claimed is not None:
        await assignments.withdraw(session, claimed.assignment.id)
    return await _claim_following(services, session, worker_id, wait=False)


async def _next_task_if_allowed(services: Services, worker_id: int) -> TaskScreen | None:
    try:
        return await next_task(services, worker_id)
    except NotAllowed:  # suspended meanwhile: the answer stands, and their next /work says why
        return None


async def _claim_following(
    services: Services, session: AsyncSession, worker_id: int, wait: bool = True
) -> _Next | None:
    """The worker's next task, claimed in `session`; `wait`: see storage.assignments.claim_and_reserve."""
    now = services.clock.now()
    claimed = await gold.claim(session, worker_id, now, services.assignment_ttl, services.random, wait)
    if claimed is None:
        return None
    return await _next_of(services, session, claimed.assignment, claimed.item)


async def _next_of(services: Services, session: AsyncSession, assignment: Assignment, item: Item) -> _Next:
    first = await _first_in_batch(services, session, assignment)
    return _Next(assignment, item, first, await gold.quiz_progress(session, assignment))


async def _following_screen(services: Services, following: _Next | None) -> TaskScreen | None:
    if following is None:
        return None
    return await _screen(
        services, following.assignment, following.item, None, 0, following.first_in_batch, following.quiz
    )


async def _apply_stop_rule(
    session: AsyncSession, task: BatchTask, batch: BatchFacts, confidence: float, item_id: int
) -> None:
    """Dynamic overlap: close the item once the crowd is confident enough on every question it was asked
    (see aggregation.should_stop)."""
    rows = (
        await session.execute(
            select(Assignment.worker_id, Assignment.answer).where(
                Assignment.item_id == item_id,
                Assignment.status == AssignmentStatus.ANSWERED,
                Assignment.credit_state != CreditState.REJECTED,
            )
        )
    ).all()
    gold_answers = await _gold_answers(session, batch.id, {worker for worker, _ in rows})
    asked = [question for question in task.questions if any(question.key in (labels or {}) for _, labels in rows)]
    for question in asked:
        answers = [
            Answer(str(item_id), str(worker), labels[question.key])
            for worker, labels in rows
            if labels and question.key in labels
        ]
        accuracy = _accuracy(gold_answers, question.key)
        size = task.type.label_space(question, task.context).size
        if not aggregation.should_stop(answers, accuracy, size, confidence, batch.min_overlap, batch.overlap):
            return
    await session.execute(update(Item).where(Item.id == item_id).values(settled=True, is_open=False))


GoldAnswer = tuple[int, int, dict[str, str] | None, dict[str, str] | None]  # item, worker, answer, gold


async def _gold_answers(session: AsyncSession, batch_id: int, workers: set[int]) -> list[GoldAnswer]:
    """The workers' answers on this batch's gold items, with the gold: (item, worker, answer, gold)."""
    rows = await session.execute(
        select(Assignment.item_id, Assignment.worker_id, Assignment.answer, Item.gold)
        .join(Item, Item.id == Assignment.item_id)
        .where(
            Assignment.batch_id == batch_id,
            Assignment.status == AssignmentStatus.ANSWERED,
            Assignment.worker_id.in_(workers),
            Item.is_gold == True,  # noqa: E712
        )
    )
    return [(item, worker, answer, gold) for item, worker, answer, gold in rows]


def _accuracy(gold_answers: list[GoldAnswer], key: str) -> dict[str, float]:
    """The workers' smoothed accuracy on the gold of question `key`."""
    graded = [
        (item, worker, labels[key], right[key])
        for item, worker, labels, right in gold_answers
        if labels and right and key in labels and key in right
    ]
    answers = [Answer(str(item), str(worker), label) for item, worker, label, _ in graded]
    return aggregation.worker_accuracy(answers, {str(item): right for item, _, _, right in graded})


async def _first_in_batch(services: Services, session: AsyncSession, assignment: Assignment) -> bool:
    """Whether this is the worker's first task in its batch (only asked when there are instructions to show)."""
    if not (await services.batches.get(assignment.batch_id, session)).instructions:
        return False
    earlier = await session.scalar(
        select(Assignment.id)
        .where(
            Assignment.worker_id == assignment.worker_id,
            Assignment.batch_id == assignment.batch_id,
            Assignment.id != assignment.id,
        )
        .limit(1)
    )
    return earlier is None


async def _owned_open(session: AsyncSession, worker_id: int, assignment_id: int) -> Assignment:
    return _check_open(await session.scalar(select(Assignment).where(Assignment.id == assignment_id)), worker_id)


def _check_open(
    assignment: Assignment | None, worker_id: int, done: tuple[AssignmentStatus, ...] = (AssignmentStatus.ANSWERED,)
) -> Assignment:
    """The assignment, when it is the worker's and open; else its refusal is raised."""
    refusal = _refusal(assignment, worker_id, done)
    if refusal is not None or assignment is None:  # a missing one is refused: this tells the type checker
        raise refusal or TaskUnavailable()
    return assignment


def _refusal(
    assignment: Assignment | None, worker_id: int, done: tuple[AssignmentStatus, ...] = (AssignmentStatus.ANSWERED,)
) -> TaskUnavailable | None:
    """Why the worker may not act on this assignment; None when it is theirs and open.

    `done` are the statuses the worker's own press already led to: acting again is a replay (a double tap,
    an update delivered twice), refused as AlreadyAnswered rather than as gone."""
    # The same refusal for "not yours" and "gone": nothing to learn by probing other ids.
    if assignment is None or assignment.worker_id != worker_id:
        return TaskUnavailable()
    if assignment.status in done:
        return AlreadyAnswered()
    if assignment.status != AssignmentStatus.RESERVED:
        return TaskUnavailable()
    return None


async def _screen(
    services: Services,
    assignment: Assignment,
    item: Item,
    node: int | None,
    page: int,
    first: bool = False,
    quiz: gold.QuizPlace | None = None,
) -> TaskScreen:
    batch = await services.batches.get(assignment.batch_id)
    task = await task_of(batch, services.taxonomies)
    screen = _render(task, batch, assignment.id, item, assignment.answer or {}, node, page, first)
    return replace(screen, quiz=quiz)


def _render(
    task: BatchTask,
    batch: BatchFacts,
    assignment_id: int,
    item: Item,
    answers: dict[str, str],
    node: int | None,
    page: int,
    first: bool,
) -> TaskScreen:
    question = task.type.next_question(item.payload, answers, task.context)
    if question is None:  # every question answered: the answer is being recorded
        raise AlreadyAnswered()
    facts = tuple(task.type.card_facts(item.payload, task.context).items())
    screen = TaskScreen(
        assignment_id=assignment_id,
        batch_id=batch.id,
        batch_name=batch.name,
        card=Card(item.title, item.description, item.brand, item.price, item.image_url, facts),
        reward_micros=batch.reward_micros,
        question=question,
        question_index=task.questions.index(question),
        question_count=len(task.questions),
        answered=task.describe(answers),
        needs_photo=task.type.needs_photo,
        instructions=batch.instructions,
        first_in_batch=first and bool(batch.instructions),
    )
    if question.kind != QuestionKind.TREE:
        if node is not None or page:
            raise TaskUnavailable()  # a tree's button for a card that asks no tree question
        return screen
    return _tree_page(screen, task, node, page)


def _tree_page(screen: TaskScreen, task: BatchTask, node: int | None, page: int) -> TaskScreen:
    """The card at `node`'s children (None: the batch root), on `page`."""
    tree, root = task.context.tree, task.context.root_id
    here = root if node is None else node
    if here is not None and (here not in tree or not tree.is_within(here, root)):
        raise TaskUnavailable()
    if here is not None and tree.is_leaf(here):
        raise TaskUnavailable()
    listing = tree.page(here, page, PAGE_SIZE)
    return replace(
        screen,
        breadcrumb=tuple(n.name for n in tree.path(here)) if here is not None else (),
        here=here,
        parent=tree.node(here).parent_id if here is not None else None,
        choices=tuple(Choice(n.id, n.name, tree.is_leaf(n.id)) for n in listing.nodes),
        page=listing.page,
        pages=listing.pages,
        can_go_back=here != root,
        accept_here=not task.context.leaf_only and here is not None and here != root,
    )
