"""The worker loop through the domain API, on every configured database."""

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot import jobs, work
from bot.errors import AlreadyAnswered, TaskUnavailable
from bot.money import ledger
from bot.tasks import registry
from bot.wiring.services import Services, build_services
from storage import assignments
from storage import ledger as books
from storage.clock import utcnow
from storage.db import connect
from storage.models import Assignment, Item, User
from tests.bot import two_questions
from tests.conftest import MovableClock
from tests.factories import SKILLETS, WOKS, load_batch, products
from tests.statements import recorded


async def add_worker(services: Services, user_id: int) -> None:
    async with services.db.write() as session:
        session.add(User(id=user_id, first_name=f"W{user_id}"))


async def test_answer_credits_pending_and_offers_next(services: Services) -> None:
    await load_batch(services, products(3), overlap=1)
    await add_worker(services, 1)
    first = await work.next_task(services, 1)
    assert first is not None and first.card.title == "Product 1"
    assert first.breadcrumb == ("Home & Garden", "Kitchen & Dining")
    skillets = (await services.taxonomies.get(1)).tree.find(SKILLETS)
    result = await work.answer(services, 1, first.assignment_id, 0, str(skillets.id))
    assert result.credited_micros == 20_000 and result.pending_micros == 20_000
    assert result.next_task is not None and result.next_task.card.title == "Product 2"
    async with services.db.read() as session:
        assert await ledger.worker_balance(session, 1) == ledger.WorkerBalance(20_000, 0, 0, 0)
        assert await books.inconsistencies(session) == []


async def test_same_answer_twice_posts_once(services: Services) -> None:
    await load_batch(services, products(2), overlap=1)
    await add_worker(services, 1)
    task = await work.next_task(services, 1)
    skillets = (await services.taxonomies.get(1)).tree.find(SKILLETS)
    await work.answer(services, 1, task.assignment_id, 0, str(skillets.id))
    with pytest.raises(AlreadyAnswered):
        await work.answer(services, 1, task.assignment_id, 0, str(skillets.id))
    async with services.db.read() as session:
        assert (await ledger.worker_balance(session, 1)).pending == 20_000


async def test_refuses_other_workers_and_outside_root(services: Services) -> None:
    await load_batch(services, products(2), overlap=1)
    await add_worker(services, 1)
    await add_worker(services, 2)
    task = await work.next_task(services, 1)
    tree = (await services.taxonomies.get(1)).tree
    with pytest.raises(TaskUnavailable):
        await work.answer(services, 2, task.assignment_id, 0, str(tree.find(SKILLETS).id))
    with pytest.raises(TaskUnavailable):  # a category outside the batch root
        await work.answer(services, 1, task.assignment_id, 0, str(tree.find("Animals & Pet Supplies").id))
    with pytest.raises(TaskUnavailable):  # not a leaf
        await work.answer(
            services,
            1,
            task.assignment_id,
            0,
            str(tree.find("Home & Garden > Kitchen & Dining > Cookware & Bakeware").id),
        )
    with pytest.raises(TaskUnavailable):
        await work.browse(services, 1, task.assignment_id, tree.find("Animals & Pet Supplies").id, 0)


async def test_gold_graded_with_tree_distance(services: Services, checks_first: None) -> None:
    await load_batch(services, products(2, gold={1: SKILLETS}), overlap=2)
    await add_worker(services, 1)
    await add_worker(services, 2)
    tree = (await services.taxonomies.get(1)).tree
    for worker, category in ((1, SKILLETS), (2, WOKS)):
        task = await work.next_task(services, worker)
        await work.answer(services, worker, task.assignment_id, 0, str(tree.find(category).id))
    async with services.db.read() as session:
        graded = (
            await session.execute(
                select(Assignment.worker_id, Assignment.gold_graded, Assignment.gold_right, Assignment.gold_distance)
                .where(Assignment.is_gold == True)  # noqa: E712
                .order_by(Assignment.worker_id)
            )
        ).all()
    assert [tuple(row) for row in graded] == [(1, 1, 1, 0), (2, 1, 0, 2)]


async def test_never_same_item_twice_and_overlap_respected(services: Services) -> None:
    await load_batch(services, products(2), overlap=2)
    tree = (await services.taxonomies.get(1)).tree
    leaf = tree.find(SKILLETS).id
    seen: dict[int, list[str]] = {}
    for worker in (1, 2, 3):
        await add_worker(services, worker)
        task = await work.next_task(services, worker)
        while task is not None:
            seen.setdefault(worker, []).append(task.card.title)
            task = (await work.answer(services, worker, task.assignment_id, 0, str(leaf))).next_task
    assert all(len(titles) == len(set(titles)) for titles in seen.values())
    assert sum(len(titles) for titles in seen.values()) == 4
    assert 3 not in seen


async def test_started_items_are_finished_first(services: Services) -> None:
    await load_batch(services, products(3), overlap=2)
    await add_worker(services, 1)
    await add_worker(services, 2)
    first = await work.next_task(services, 1)
    second = await work.next_task(services, 2)
    assert first.card.title == second.card.title == "Product 1"


async def test_a_worker_whose_answers_fill_the_started_window_gets_a_fresh_product(services: Services) -> None:
    """Alone in a batch of overlap 3, the worker's answered products stay open ahead of the fresh ones."""
    await load_batch(services, products(assignments.STARTED_WINDOW + 5), overlap=3)
    await add_worker(services, 1)
    leaf = str((await services.taxonomies.get(1)).tree.find(SKILLETS).id)
    task = await work.next_task(services, 1)
    titles = []
    for _ in range(assignments.STARTED_WINDOW + 3):
        titles.append(task.card.title)
        task = (await work.answer(services, 1, task.assignment_id, 0, leaf)).next_task
    assert titles == [f"Product {n}" for n in range(1, assignments.STARTED_WINDOW + 4)]
    assert task.card.title == f"Product {assignments.STARTED_WINDOW + 4}"


async def test_a_started_product_past_the_window_is_found_once_no_fresh_one_is_left(services: Services) -> None:
    """The claim looks at the first STARTED_WINDOW started products, then at fresh ones; with neither for
    the worker, it still walks on to a started product further down."""
    window = assignments.STARTED_WINDOW
    await load_batch(services, products(window + 1), overlap=3)
    await add_worker(services, 1)
    await add_worker(services, 2)
    leaf = str((await services.taxonomies.get(1)).tree.find(SKILLETS).id)
    task = await work.next_task(services, 1)
    for _ in range(window - 1):  # Products 1 to window - 1 answered, the last one shown
        task = (await work.answer(services, 1, task.assignment_id, 0, leaf)).next_task
    assert task.card.title == f"Product {window}"
    async with services.db.write() as session:  # the last product, started by worker 2
        last = (await session.execute(select(Item).where(Item.external_id == f"sku-{window + 1:04d}"))).scalar_one()
        last.slots_taken = 1
        await assignments.reserve(session, last, 2, services.clock.now(), timedelta(minutes=10), 0)

    following = (await work.answer(services, 1, task.assignment_id, 0, leaf)).next_task

    assert following is not None and following.card.title == f"Product {window + 1}"


async def test_a_claim_sends_only_the_worker_and_the_time_as_parameters(services: Services, database_url: str) -> None:
    """On PostgreSQL the claim's constants (statuses, its LIMITs, zeros) are written into its SQL. As
    parameters they made PostgreSQL plan the prepared claim anew at every call: three times what running it
    costs. (SQLite keeps a statement's plan with it whatever its parameters, and adds an OFFSET of its own.)"""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's plans of prepared statements")
    await load_batch(services, products(3), overlap=3)
    await add_worker(services, 1)
    now = services.clock.now()
    with recorded(services.db.engine) as recording:
        async with services.db.write() as session:
            assert await assignments.claim_and_reserve(session, 1, now, timedelta(minutes=5)) is not None
    (claim,) = (sent for sent in recording.statements if sent.purpose == "storage.assignments:claim_and_reserve")
    assert set(claim.parameters) <= {1, now, now + timedelta(minutes=5)}, claim.parameters


async def test_skip_returns_item_to_others_and_stop_releases(services: Services) -> None:
    await load_batch(services, products(2), overlap=1)
    for worker in (1, 2):
        await add_worker(services, worker)
    task = await work.next_task(services, 1)
    following = await work.skip(services, 1, task.assignment_id)
    assert following.card.title == "Product 2"
    other = await work.next_task(services, 2)
    assert other.card.title == "Product 1"
    await work.stop(services, 1, following.assignment_id)
    with pytest.raises(TaskUnavailable):
        await work.stop(services, 1, following.assignment_id)


async def test_expired_reservation_returns_to_pool(services: Services) -> None:
    await load_batch(services, products(1), overlap=1)
    for worker in (1, 2):
        await add_worker(services, worker)
    await work.next_task(services, 1)
    assert await work.next_task(services, 2) is None
    async with services.db.write() as session:
        for assignment in await session.scalars(select(Assignment)):
            assignment.expires_at = utcnow() - timedelta(seconds=1)
    assert await work.reclaim_expired(services) == 1
    again = await work.next_task(services, 2)
    assert again is not None and again.card.title == "Product 1"


async def test_moving_the_clock_expires_a_reservation_and_ends_the_hold(
    services: Services, clock: MovableClock
) -> None:
    """Time moves through the services: past the reservation's lifetime the job returns the product
    to the pool, past the hold the job makes the answer's credit available."""
    clock.freeze()
    await load_batch(services, products(2), overlap=1)
    for worker in (1, 2):
        await add_worker(services, worker)
    first = await work.next_task(services, 1)
    skillets = (await services.taxonomies.get(1)).tree.find(SKILLETS).id
    await work.answer(services, 1, first.assignment_id, 0, str(skillets))  # and Product 2 is reserved for worker 1
    assert await work.next_task(services, 2) is None
    clock.advance(services.settings.assignment_ttl_seconds - 1)
    assert await jobs.reclaim_reservations(services) == 0
    clock.advance(2)
    assert await jobs.reclaim_reservations(services) == 1
    again = await work.next_task(services, 2)
    assert again is not None and again.card.title == "Product 2"
    hold = timedelta(hours=services.settings.hold_hours).total_seconds()
    clock.advance(hold - services.settings.assignment_ttl_seconds - 2)
    assert await jobs.release_holds(services) == 0
    clock.advance(2)
    assert await jobs.release_holds(services) == 1
    async with services.db.read() as session:
        assert await ledger.worker_balance(session, 1) == ledger.WorkerBalance(0, 20_000, 0, 0)


async def test_search_under_root_with_paths(services: Services) -> None:
    await load_batch(services, products(1))
    await add_worker(services, 1)
    task = await work.next_task(services, 1)
    found = await work.typed(services, 1, "skillet")
    assert isinstance(found, work.SearchScreen)
    assert (found.assignment_id, found.question_index) == (task.assignment_id, 0)
    assert found.matches[0].label == "Cookware & Bakeware › Cookware › Skillets & Frying Pans"
    assert await work.typed(services, 2, "skillet") is None


async def test_paging_lists_every_child_once(services: Services) -> None:
    await load_batch(services, products(1), root="Home & Garden")
    await add_worker(services, 1)
    task = await work.next_task(services, 1)
    names, page = [], 0
    while True:
        screen = await work.browse(services, 1, task.assignment_id, task.here, page)
        names += [choice.label for choice in screen.choices]
        if screen.page + 1 >= screen.pages:
            break
        page += 1
    tree = (await services.taxonomies.get(1)).tree
    assert names == [node.name for node in tree.children(task.here)] and screen.pages > 1


@pytest.mark.parametrize("workers", [20])
async def test_race_for_last_items(services: Services, workers: int) -> None:
    """20 workers claim and answer the last items at once: nothing over overlap, no double credit."""
    await load_batch(services, products(4), overlap=3)
    leaf = (await services.taxonomies.get(1)).tree.find(SKILLETS).id
    for worker in range(1, workers + 1):
        await add_worker(services, worker)

    async def labour(worker: int) -> int:
        done = 0
        task = await work.next_task(services, worker)
        while task is not None:
            result = await work.answer(services, worker, task.assignment_id, 0, str(leaf))
            done += 1
            task = result.next_task
        return done

    done = await asyncio.gather(*(labour(worker) for worker in range(1, workers + 1)))
    assert sum(done) == 12
    async with services.db.read() as session:
        answers = (await session.execute(select(Item.answers, Item.slots_taken))).all()
        assert all(a == 3 and s == 3 for a, s in answers)
        totals = await books.totals_by_kind(session)
        assert await books.inconsistencies(session) == []
    assert totals[ledger.WORKER_PENDING] == 12 * 20_000
    assert totals[ledger.REQUESTER_RESERVED] == 0


async def test_race_across_two_processes(services: Services, database_url: str) -> None:
    """Two bot processes (two engines, no shared in-process lock) claim the last items at once."""
    await load_batch(services, products(3), overlap=2)
    leaf = (await services.taxonomies.get(1)).tree.find(SKILLETS).id
    other = build_services(services.settings, connect(database_url))
    for worker in range(1, 21):
        await add_worker(services, worker)

    async def labour(process: Services, worker: int) -> int:
        done, task = 0, await work.next_task(process, worker)
        while task is not None:
            task = (await work.answer(process, worker, task.assignment_id, 0, str(leaf))).next_task
            done += 1
        return done

    try:
        done = await asyncio.gather(*(labour(services if worker % 2 else other, worker) for worker in range(1, 21)))
    finally:
        await other.db.dispose()
    assert sum(done) == 6
    async with services.db.read() as session:
        assert all(
            tuple(row) == (2, 2) for row in (await session.execute(select(Item.answers, Item.slots_taken))).all()
        )
        assert (await books.totals_by_kind(session))[ledger.WORKER_PENDING] == 6 * 20_000
        assert await books.inconsistencies(session) == []


# --- a card of several questions (a type registered for these tests only) ----------------------


@pytest.fixture
def registered(services: Services, monkeypatch: pytest.MonkeyPatch) -> Services:
    """The services, with the test type registered for this test only."""
    monkeypatch.setitem(registry.TYPES, two_questions.TYPE.name, two_questions.TYPE)
    return services


async def answers_of(services: Services, assignment_id: int) -> tuple[str, dict[str, str] | None]:
    async with services.db.read() as session:
        assignment = await session.get_one(Assignment, assignment_id)
        return assignment.status, assignment.answer


async def test_a_card_keeps_its_first_answer_on_the_reservation(registered: Services) -> None:
    """The first of two answers is kept on the reservation, unpaid, and the same card asks the second,
    after a resend too; the second answer records both, pays once, and serves the next product."""
    services = registered
    await load_batch(services, products(2), overlap=1, task_type=two_questions.TYPE.name)
    await add_worker(services, 1)
    card = await work.next_task(services, 1)
    assert (card.question, card.question_index, card.question_count, card.answered) == (two_questions.COLOR, 0, 2, ())
    assert card.choices == ()  # a choice, not a page of the tree

    first = await work.answer(services, 1, card.assignment_id, 0, "1")  # the second option
    assert first.partial and (first.credited_micros, first.pending_micros) == (0, 0)
    following = first.next_task
    assert following is not None and following.assignment_id == card.assignment_id
    assert (following.question, following.question_index, following.answered) == (
        two_questions.CATEGORY,
        1,
        (("color", "blue"),),
    )
    assert following.breadcrumb == ("Home & Garden", "Kitchen & Dining") and following.choices
    assert await answers_of(services, card.assignment_id) == ("reserved", {"color": "blue"})
    async with services.db.read() as session:
        assert (await session.get_one(Item, 1)).answers == 0
        assert (await ledger.worker_balance(session, 1)).pending == 0

    resent = await work.next_task(services, 1)
    assert resent == following

    skillets = str((await services.taxonomies.get(1)).tree.find(SKILLETS).id)
    done = await work.answer(services, 1, card.assignment_id, 1, skillets)
    assert not done.partial and done.credited_micros == 20_000
    assert done.next_task is not None and done.next_task.card.title == "Product 2"
    assert await answers_of(services, card.assignment_id) == ("answered", {"color": "blue", "category": skillets})
    async with services.db.read() as session:
        assert (await session.get_one(Item, 1)).answers == 1
        assert (await ledger.worker_balance(session, 1)).pending == 20_000
        assert await books.inconsistencies(session) == []


async def test_a_press_for_an_answered_question_is_a_replay(registered: Services) -> None:
    """A second press for the first question, once it is answered, is AlreadyAnswered (a double tap),
    and changes nothing: the first answer stands."""
    services = registered
    await load_batch(services, products(1), overlap=1, task_type=two_questions.TYPE.name)
    await add_worker(services, 1)
    card = await work.next_task(services, 1)
    await work.answer(services, 1, card.assignment_id, 0, "0")
    for value in ("0", "1"):
        with pytest.raises(AlreadyAnswered):
            await work.answer(services, 1, card.assignment_id, 0, value)
    assert await answers_of(services, card.assignment_id) == ("reserved", {"color": "red"})


@pytest.mark.parametrize(
    ("question", "value"),
    [
        (0, "2"),  # past the last option
        (0, "-1"),
        (0, "red"),  # a button carries the option's place, never its label
        (0, ""),
        (1, "1"),  # a later question, not asked yet
        (2, "0"),  # no such question
    ],
)
async def test_a_press_the_card_did_not_offer_is_unavailable(registered: Services, question: int, value: str) -> None:
    services = registered
    await load_batch(services, products(1), overlap=1, task_type=two_questions.TYPE.name)
    await add_worker(services, 1)
    card = await work.next_task(services, 1)
    with pytest.raises(TaskUnavailable):
        await work.answer(services, 1, card.assignment_id, question, value)
    assert await answers_of(services, card.assignment_id) == ("reserved", None)


async def test_typed_words_on_a_choice_point_at_the_buttons_then_search_the_tree(registered: Services) -> None:
    services = registered
    await load_batch(services, products(1), overlap=1, task_type=two_questions.TYPE.name)
    await add_worker(services, 1)
    card = await work.next_task(services, 1)
    assert await work.typed(services, 1, "red") == work.ButtonsOnly(card.assignment_id)
    assert await answers_of(services, card.assignment_id) == ("reserved", None)
    await work.answer(services, 1, card.assignment_id, 0, "0")
    found = await work.typed(services, 1, "skillet")
    assert isinstance(found, work.SearchScreen) and (found.assignment_id, found.question_index) == (
        card.assignment_id,
        1,
    )


async def test_a_gold_card_is_right_only_when_every_question_is(registered: Services, checks_first: None) -> None:
    """A check of two questions: the right colour and a wrong category is a miss, graded by the category's distance."""
    services = registered
    rows = products(2, gold={1: SKILLETS})
    rows[0]["gold_color"] = "red"
    await load_batch(services, rows, overlap=3, task_type=two_questions.TYPE.name)
    tree = (await services.taxonomies.get(1)).tree
    for worker, (color, category) in {1: ("0", SKILLETS), 2: ("0", WOKS), 3: ("1", SKILLETS)}.items():
        await add_worker(services, worker)
        card = await work.next_task(services, worker)
        await work.answer(services, worker, card.assignment_id, 0, color)
        await work.answer(services, worker, card.assignment_id, 1, str(tree.find(category).id))
    async with services.db.read() as session:
        graded = (
            await session.execute(
                select(Assignment.worker_id, Assignment.gold_graded, Assignment.gold_right, Assignment.gold_distance)
                .where(Assignment.is_gold == True)  # noqa: E712
                .order_by(Assignment.worker_id)
            )
        ).all()
    # Each question with gold is one gold answer: the wrong color of worker 3 is one of two.
    assert [tuple(row) for row in graded] == [(1, 2, 2, 0), (2, 2, 1, 2), (3, 2, 1, 0)]
