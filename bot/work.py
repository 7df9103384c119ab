"""A worker's loop: get the next product, browse the taxonomy, answer, skip or stop.

Navigation state (current node and page) travels in the button data and is re-validated
here on every press, so browsing writes nothing; only answers, skips and stops do.
"""

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import credits, ledger
from bot.batches import BatchFacts
from bot.errors import AlreadyAnswered, NotAllowed, TaskUnavailable
from bot.services import Services
from storage import assignments
from storage.assignments import ANSWERED, RESERVED
from storage.clock import utcnow
from storage.models import Assignment, Item, User
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
    note: str = ""


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


async def next_task(services: Services, worker_id: int) -> TaskScreen | None:
    """The worker's open task if any (so a resend resumes it), else a newly claimed one."""
    async with services.db.write() as session:
        user = await session.get(User, worker_id)
        if user is not None and user.suspended_reason:
            raise NotAllowed(
                f"Your account is suspended: {user.suspended_reason}. "
                "Contact the admins if you think this is a mistake."
            )
        held = await assignments.open_for_worker(session, worker_id)
        assignment = held[0] if held else await _claim(services, session, worker_id)
        if assignment is None:
            return None
        item = await session.get(Item, assignment.item_id)
    return await _screen(services, assignment, item, node=None, page=0)


async def browse(services: Services, worker_id: int, assignment_id: int, node: int | None, page: int) -> TaskScreen:
    """The task with the children of `node` (None: the batch root) on `page`."""
    async with services.db.read() as session:
        assignment = await _owned_open(session, worker_id, assignment_id)
        item = await session.get(Item, assignment.item_id)
    return await _screen(services, assignment, item, node, page)


async def answer(services: Services, worker_id: int, assignment_id: int, node_id: int) -> Answered:
    """Record the answer, credit the worker, and claim the next product, all in one transaction."""
    async with services.db.write() as session:
        assignment = await assignments.lock(session, assignment_id)
        _check_open(assignment, worker_id)
        batch = await services.batches.get(assignment.batch_id)
        tree = (await services.taxonomies.get(batch.taxonomy_id)).tree
        if not _answerable(tree, batch, node_id):
            raise TaskUnavailable()
        item = await session.get(Item, assignment.item_id)
        _grade(tree, assignment, item, node_id)
        assignment.status = ANSWERED
        assignment.answered_at = utcnow()
        assignment.answer_node_id = node_id
        assignment.credit_state = credits.PENDING
        await session.execute(update(Item).where(Item.id == item.id).values(answers=Item.answers + 1))
        await ledger.credit_answer(session, assignment.id, batch.requester_id, worker_id, assignment.reward_micros)
        balance = await ledger.worker_balance(session, worker_id)
        following = await _claim(services, session, worker_id)
        next_item = await session.get(Item, following.item_id) if following else None
    screen = await _screen(services, following, next_item, None, 0) if following else None
    return Answered(assignment.reward_micros, balance.pending, screen)


async def skip(services: Services, worker_id: int, assignment_id: int) -> TaskScreen | None:
    """Give the product up without penalty; it goes back to the pool for others."""
    async with services.db.write() as session:
        assignment = await assignments.lock(session, assignment_id)
        _check_open(assignment, worker_id)
        await assignments.give_back(session, assignment, "skipped")
        following = await _claim(services, session, worker_id)
        next_item = await session.get(Item, following.item_id) if following else None
    return await _screen(services, following, next_item, None, 0) if following else None


async def stop(services: Services, worker_id: int, assignment_id: int) -> None:
    """End the session: the open product goes back to the pool."""
    async with services.db.write() as session:
        assignment = await assignments.lock(session, assignment_id)
        _check_open(assignment, worker_id)
        await assignments.give_back(session, assignment, "released")


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


async def reclaim_expired(services: Services) -> int:
    """Return expired reservations to the pool (run by a scheduled job)."""
    async with services.db.write() as session:
        return await assignments.reclaim_expired(session, utcnow())


async def _claim(services: Services, session: AsyncSession, worker_id: int) -> Assignment | None:
    user = await session.get(User, worker_id)
    if user is not None and user.suspended_reason:
        return None
    return await assignments.claim_next(session, worker_id, utcnow(), services.assignment_ttl)


async def _owned_open(session: AsyncSession, worker_id: int, assignment_id: int) -> Assignment:
    assignment = await session.scalar(select(Assignment).where(Assignment.id == assignment_id))
    _check_open(assignment, worker_id)
    return assignment


def _check_open(assignment: Assignment | None, worker_id: int) -> None:
    # The same refusal for "not yours" and "gone": nothing to learn by probing other ids.
    if assignment is None or assignment.worker_id != worker_id:
        raise TaskUnavailable()
    if assignment.status == ANSWERED:
        raise AlreadyAnswered()
    if assignment.status != RESERVED:
        raise TaskUnavailable()


def _answerable(tree: Tree, batch: BatchFacts, node_id: int) -> bool:
    if node_id not in tree or node_id == batch.root_node_id:
        return False
    if not tree.is_within(node_id, batch.root_node_id):
        return False
    return tree.is_leaf(node_id) or not batch.leaf_only


def _grade(tree: Tree, assignment: Assignment, item: Item, node_id: int) -> None:
    if item.gold_node_id is None:
        return
    assignment.gold_correct = node_id == item.gold_node_id
    assignment.gold_distance = tree.distance(node_id, item.gold_node_id) if item.gold_node_id in tree else None


async def _screen(services: Services, assignment: Assignment, item: Item, node: int | None, page: int) -> TaskScreen:
    batch = await services.batches.get(assignment.batch_id)
    tree = (await services.taxonomies.get(batch.taxonomy_id)).tree
    root = batch.root_node_id
    here = root if node is None else node
    if here is not None and (here not in tree or not tree.is_within(here, root)):
        raise TaskUnavailable()
    if here is not None and tree.is_leaf(here):
        raise TaskUnavailable()
    listing = tree.page(here, page, PAGE_SIZE)
    return TaskScreen(
        assignment_id=assignment.id,
        batch_name=batch.name,
        card=Card(item.title, item.description, item.brand, item.price, item.image_url),
        reward_micros=assignment.reward_micros,
        breadcrumb=tuple(n.name for n in tree.path(here)) if here is not None else (),
        here=here,
        parent=tree.node(here).parent_id if here is not None else None,
        choices=tuple(Choice(n.id, n.name, tree.is_leaf(n.id)) for n in listing.nodes),
        page=listing.page,
        pages=listing.pages,
        can_go_back=here != root,
        accept_here=not batch.leaf_only and here is not None and here != root,
    )


def _path_below(tree: Tree, node_id: int, root: int | None) -> str:
    names = [n.name for n in tree.path(node_id)]
    if root is not None:
        names = names[len(tree.path(root)) :]
    return " › ".join(names)
