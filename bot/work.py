"""A worker's loop: get the next product, browse the taxonomy, answer, skip or stop.

Navigation state (current node and page) travels in the button data and is re-validated
here on every press, so browsing writes nothing; only answers, skips and stops do.
"""

from dataclasses import asdict, dataclass, replace

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox, progress, users
from bot.aggregation import methods as aggregation
from bot.aggregation.methods import Answer
from bot.batches import lifecycle as batches
from bot.batches.lifecycle import BatchFacts
from bot.errors import AlreadyAnswered, NotAllowed, TaskUnavailable
from bot.money import ledger
from bot.outbox import Notice
from bot.quality import gold
from bot.quality import rules as quality
from bot.taxonomies import LoadedTaxonomy
from bot.wiring.services import Services
from storage import assignments
from storage.assignments import AnsweredTask
from storage.models import Assignment, Item, User
from storage.states import AssignmentStatus, CreditState
from taxonomy import Tree

PAGE_SIZE = 8
SEARCH_RESULTS = 8


@dataclass(frozen=True)
class Card:
    title: str
    description: str
    brand: str
    price: str
    image_url: str


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
    breadcrumb: tuple[str, ...]  # from the taxonomy's top (or the batch root) down to `here`
    here: int | None  # the node whose children are offered; None above the taxonomy's top level
    parent: int | None  # where "Back" leads
    choices: tuple[Choice, ...]
    page: int
    pages: int
    can_go_back: bool
    accept_here: bool  # leaf_only=false: the worker may pick `here` itself
    instructions: str = ""
    first_in_batch: bool = False  # show the instructions before this first task of the batch
    note: str = ""
    quiz: gold.QuizPlace | None = None  # while the worker takes the quiz


@dataclass(frozen=True)
class SearchScreen:
    assignment_id: int
    query: str
    matches: tuple[Choice, ...]
    leaf_only: bool


@dataclass(frozen=True)
class Answered:
    credited_micros: int
    pending_micros: int
    next_task: TaskScreen | None
    nudges: progress.Nudges
    verdict: quality.Removal | quality.Hold | gold.QuizStep | None = None


async def next_task(services: Services, worker_id: int) -> TaskScreen | None:
    """The worker's open task if any (so a resend resumes it), else a newly claimed one."""

    async def claim(session: AsyncSession) -> _Next | None:
        user = await session.get(User, worker_id)
        if user is not None and user.suspended_reason:
            raise NotAllowed(
                f"Your account is suspended: {user.suspended_reason}. "
                "Contact the admins if you think this is a mistake."
            )
        held = await assignments.open_for_worker(session, worker_id)
        if held:
            item = await session.get_one(Item, held[0].item_id)
            return await _next_of(services, session, held[0], item)
        return await _claim_following(services, session, worker_id)

    return await _following_screen(services, await services.db.write_retrying(claim))


async def browse(services: Services, worker_id: int, assignment_id: int, node: int | None, page: int) -> TaskScreen:
    """The task with the children of `node` (None: the batch root) on `page`."""
    async with services.db.read() as session:
        assignment = await _owned_open(session, worker_id, assignment_id)
        item = await session.get_one(Item, assignment.item_id)
        quiz = await gold.quiz_progress(session, assignment)
    return await _screen(services, assignment, item, node, page, quiz=quiz)


async def answer(services: Services, worker_id: int, assignment_id: int, node_id: int) -> Answered:
    """Record the answer, credit the worker, and claim the next product, all in one transaction."""

    async def record(
        session: AsyncSession,
    ) -> tuple[int, int, progress.Nudges, quality.Removal | quality.Hold | gold.QuizStep | None, _Next | None]:
        now = services.clock.now()
        answered = await assignments.record_answer(session, assignment_id, worker_id, node_id, now, CreditState.PENDING)
        if answered is None:
            raise _refusal(await assignments.lock(session, assignment_id), worker_id) or TaskUnavailable()
        batch = await services.batches.get(answered.batch_id, session)
        loaded = await services.taxonomies.get(batch.taxonomy_id, session)
        if not batches.answerable(loaded.tree, batch, node_id):
            raise TaskUnavailable()  # rolls the answer back
        reward = answered.reward_micros
        # Pay before touching the item: every answer then locks the requester's account before any item
        # row (PostgreSQL), so no answer holds an item that another, holding the account, waits for.
        pending = await ledger.credit_answer(session, answered.id, batch.requester_id, worker_id, reward)
        if pending is None:  # credited before: the ledger key made this a no-op, so show the balance as it is
            pending = (await ledger.worker_balance(session, worker_id)).pending
        answered = await _count_and_grade(session, loaded.tree, answered, node_id)
        if batch.confidence is not None and not answered.is_gold:
            await _apply_stop_rule(session, loaded, batch, batch.confidence, answered.item_id)
        nudges = await progress.after_answer(session, worker_id, reward, now)
        if answered.gold_correct is not None:
            nudges = replace(nudges, level_reached=await users.record_gold(session, worker_id, answered.gold_correct))
        verdict = await quality.after_answer(session, loaded.tree, batch, answered, now)
        if isinstance(verdict, quality.Removal):
            pending = (await ledger.worker_balance(session, worker_id)).pending
        if isinstance(verdict, quality.Hold):  # the admins are owed a look
            for admin_id in sorted(services.settings.admin_ids):
                key = f"hold:{batch.id}:{worker_id}:{now.isoformat()}:{admin_id}"
                await outbox.owe(session, key, admin_id, Notice.HOLD_FOR_ADMINS, **asdict(verdict))
        return reward, pending, nudges, verdict, await _claim_following(services, session, worker_id)

    credited, pending, nudges, verdict, following = await services.db.write_retrying(record)
    screen = await _following_screen(services, following)
    return Answered(credited, pending, screen, nudges, verdict)


async def _count_and_grade(session: AsyncSession, tree: Tree, answered: AnsweredTask, node_id: int) -> AnsweredTask:
    """Count the answer on its item and, on a gold item, grade it."""
    gold_node = await assignments.count_answer(session, answered.item_id)
    if gold_node is None:
        return answered
    correct, distance = gold.judge(tree, node_id, gold_node)
    await assignments.set_grade(session, answered.id, correct, distance)
    return replace(answered, gold_correct=correct)


async def skip(services: Services, worker_id: int, assignment_id: int) -> TaskScreen | None:
    """Give the product up without penalty; it goes back to the pool for others."""

    async def give_up(session: AsyncSession) -> _Next | None:
        locked = await assignments.lock(session, assignment_id)
        assignment = _check_open(locked, worker_id, done=(AssignmentStatus.ANSWERED, AssignmentStatus.SKIPPED))
        await assignments.give_back(session, assignment, AssignmentStatus.SKIPPED)
        return await _claim_following(services, session, worker_id)

    return await _following_screen(services, await services.db.write_retrying(give_up))


async def stop(services: Services, worker_id: int, assignment_id: int) -> None:
    """End the session: the open product goes back to the pool."""
    async with services.db.write() as session:
        assignment = _check_open(await assignments.lock(session, assignment_id), worker_id)
        await assignments.give_back(session, assignment, AssignmentStatus.RELEASED)


async def search(services: Services, worker_id: int, query: str) -> SearchScreen | None:
    """Categories under the batch root matching typed words; None when the worker has no open task."""
    async with services.db.read() as session:
        held = await assignments.open_for_worker(session, worker_id)
    if not held:
        return None
    assignment = held[0]
    batch = await services.batches.get(assignment.batch_id)
    loaded = await services.taxonomies.get(batch.taxonomy_id)
    found = loaded.index.search(query, under=batch.root_node_id, limit=SEARCH_RESULTS + 1)
    matches = tuple(
        Choice(node.id, _path_below(loaded.tree, node.id, batch.root_node_id), loaded.tree.is_leaf(node.id))
        for node in found
        if node.id != batch.root_node_id
    )[:SEARCH_RESULTS]
    return SearchScreen(assignment.id, query, matches, batch.leaf_only)


async def preview(services: Services, batch_id: int) -> TaskScreen:
    """The batch's first product exactly as a worker will see it (buttons lead nowhere)."""
    async with services.db.read() as session:
        item = (await session.scalars(select(Item).where(Item.batch_id == batch_id).order_by(Item.id).limit(1))).one()
    batch = await services.batches.get(batch_id)
    return _render(await services.taxonomies.get(batch.taxonomy_id), batch, 0, item, None, 0, first=False)


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


async def _claim_following(services: Services, session: AsyncSession, worker_id: int) -> _Next | None:
    claimed = await gold.claim(session, worker_id, services.clock.now(), services.assignment_ttl, services.random)
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
    session: AsyncSession, loaded: LoadedTaxonomy, batch: BatchFacts, confidence: float, item_id: int
) -> None:
    """Dynamic overlap: close the item once the crowd is confident enough (see aggregation.should_stop)."""
    rows = (
        await session.execute(
            select(Assignment.worker_id, Assignment.answer_node_id).where(
                Assignment.item_id == item_id,
                Assignment.status == AssignmentStatus.ANSWERED,
                Assignment.credit_state != CreditState.REJECTED,
            )
        )
    ).all()
    answers = [Answer(str(item_id), str(worker), str(node)) for worker, node in rows]
    accuracy = await _gold_record(session, batch.id, {worker for worker, _ in rows})
    labels = loaded.size_under(batch.root_node_id)
    if aggregation.should_stop(answers, accuracy, labels, confidence, batch.min_overlap, batch.overlap):
        await session.execute(update(Item).where(Item.id == item_id).values(settled=True, is_open=False))


async def _gold_record(session: AsyncSession, batch_id: int, workers: set[int]) -> dict[str, float]:
    """The workers' smoothed accuracy on this batch's gold items."""
    rows = (
        await session.execute(
            select(Assignment.item_id, Assignment.worker_id, Assignment.answer_node_id, Item.gold_node_id)
            .join(Item, Item.id == Assignment.item_id)
            .where(
                Assignment.batch_id == batch_id,
                Assignment.status == AssignmentStatus.ANSWERED,
                Assignment.worker_id.in_(workers),
                Item.gold_node_id.is_not(None),
            )
        )
    ).all()
    answers = [Answer(str(item), str(worker), str(node)) for item, worker, node, _ in rows]
    return aggregation.worker_accuracy(answers, {str(item): str(gold) for item, _, _, gold in rows})


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
    loaded = await services.taxonomies.get(batch.taxonomy_id)
    return replace(_render(loaded, batch, assignment.id, item, node, page, first), quiz=quiz)


def _render(
    loaded: LoadedTaxonomy, batch: BatchFacts, assignment_id: int, item: Item, node: int | None, page: int, first: bool
) -> TaskScreen:
    tree = loaded.tree
    root = batch.root_node_id
    here = root if node is None else node
    if here is not None and (here not in tree or not tree.is_within(here, root)):
        raise TaskUnavailable()
    if here is not None and tree.is_leaf(here):
        raise TaskUnavailable()
    listing = tree.page(here, page, PAGE_SIZE)
    return TaskScreen(
        assignment_id=assignment_id,
        batch_id=batch.id,
        batch_name=batch.name,
        card=Card(item.title, item.description, item.brand, item.price, item.image_url),
        reward_micros=batch.reward_micros,
        breadcrumb=tuple(n.name for n in tree.path(here)) if here is not None else (),
        here=here,
        parent=tree.node(here).parent_id if here is not None else None,
        choices=tuple(Choice(n.id, n.name, tree.is_leaf(n.id)) for n in listing.nodes),
        page=listing.page,
        pages=listing.pages,
        can_go_back=here != root,
        accept_here=not batch.leaf_only and here is not None and here != root,
        instructions=batch.instructions,
        first_in_batch=first and bool(batch.instructions),
    )


def _path_below(tree: Tree, node_id: int, root: int | None) -> str:
    names = [n.name for n in tree.path(node_id)]
    if root is not None:
        names = names[len(tree.path(root)) :]
    return " › ".join(names)
