"""Batches from launch to completion: dynamic overlap, refunds, progress, the digest."""

from sqlalchemy import select

from bot import jobs, taxonomies, work
from bot.batches import files as batch_files
from bot.batches import lifecycle as batches
from bot.batches.lifecycle import BatchSpec
from bot.money import ledger
from bot.wiring.services import Services
from storage import ledger as books
from storage.models import Batch, Item, User
from tests.factories import KITCHEN, REQUESTER, SKILLETS, WOKS, products, results_of

SETTINGS = f'reward=0.01 overlap=5 min_overlap=2 confidence=0.9 max_share=1 root="{KITCHEN}" name=Dynamic'


async def launch(services: Services, count: int, caption: str = SETTINGS) -> Batch:
    taxonomy_id = await taxonomies.ensure_default(services.db)
    tree = (await services.taxonomies.get(taxonomy_id)).tree
    rows = batch_files.read_rows(
        "\n".join(f'{{"item_id": "{r["item_id"]}", "title": "{r["title"]}"}}' for r in products(count)).encode(),
        "b.jsonl",
    )
    spec = batches.parse_settings(caption, "fallback")
    async with services.db.write() as session:
        await ledger.fund_requester(session, "test-fund", REQUESTER, 10_000_000)
        batch = await batches.create_draft(session, REQUESTER, taxonomy_id, tree, spec, rows, "b.jsonl")
        return await batches.launch(session, batch.id, REQUESTER, "USD", services.clock.now())


async def answer_all(services: Services, worker: int, category: str) -> int:
    async with services.db.write() as session:
        if await session.get(User, worker) is None:
            session.add(User(id=worker, first_name="w"))
    leaf = (await services.taxonomies.get(1)).tree.find(category).id
    done, task = 0, await work.next_task(services, worker)
    while task is not None:
        task = (await work.answer(services, worker, task.assignment_id, 0, str(leaf))).next_task
        done += 1
    return done


async def test_settings_from_a_caption() -> None:
    spec = batches.parse_settings(SETTINGS + ' leaf_only=false gold_rate=0.1 instructions="Be careful"', "x")
    assert spec == BatchSpec(
        name="Dynamic",
        reward_micros=10_000,
        overlap=5,
        min_overlap=2,
        confidence=0.9,
        root=KITCHEN,
        leaf_only=False,
        gold_rate=0.1,
        max_share=1.0,
        instructions="Be careful",
    )


async def test_dynamic_overlap_stops_agreeing_items_and_refunds(services: Services) -> None:
    """Two agreeing answers reach 0.9 confidence: items stop at 2 of 5 answers; the rest is refunded."""
    await launch(services, 3)
    assert await answer_all(services, 1, SKILLETS) == 3
    assert await answer_all(services, 2, SKILLETS) == 3
    assert await answer_all(services, 3, SKILLETS) == 0, "settled items take no more answers"
    async with services.db.read() as session:
        assert [(i.answers, i.settled, i.is_open) for i in await session.scalars(select(Item))] == [
            (2, True, False)
        ] * 3
    (report,) = await jobs.complete_batches(services)
    assert report.refund_micros == 3 * 5 * 10_000 - 6 * 10_000
    async with services.db.read() as session:
        assert (await session.get(Batch, 1)).status == "completed"
        assert (await ledger.requester_funds(session, REQUESTER)).reserved == 0
        assert await books.inconsistencies(session) == []
    labels = (await results_of(services, 1)).labels
    assert [row["answers"] for row in labels.rows] == [2, 2, 2]


async def test_disagreement_keeps_collecting(services: Services) -> None:
    await launch(services, 1)
    await answer_all(services, 1, SKILLETS)
    await answer_all(services, 2, WOKS)
    async with services.db.read() as session:
        item = await session.scalar(select(Item))
        assert (item.answers, item.settled, item.is_open) == (2, False, True)


async def test_slots_past_min_overlap_wait_for_the_answers(services: Services) -> None:
    """Workers holding the first min_overlap slots keep the rest closed until they answer, so an
    item the stop rule settles is not also handed to more workers who would be paid for nothing."""
    await launch(services, 1)
    leaf = {name: (await services.taxonomies.get(1)).tree.find(name).id for name in (SKILLETS, WOKS)}
    tasks = {}
    async with services.db.write() as session:
        session.add_all(User(id=worker, first_name="w") for worker in (1, 2, 3, 4))
    for worker in (1, 2):
        tasks[worker] = await work.next_task(services, worker)
        assert tasks[worker] is not None
    assert await work.next_task(services, 3) is None, "the third slot waits for the first two answers"

    await work.answer(services, 1, tasks[1].assignment_id, 0, str(leaf[SKILLETS]))
    assert await work.next_task(services, 3) is None, "one answer of two is not enough to judge"
    await work.answer(services, 2, tasks[2].assignment_id, 0, str(leaf[WOKS]))
    third = await work.next_task(services, 3)
    assert third is not None, "a split crowd needs a third answer"
    assert await work.next_task(services, 4) is None

    await work.answer(services, 3, third.assignment_id, 0, str(leaf[SKILLETS]))
    assert await work.next_task(services, 4) is None, "two of three agree: settled at 0.9 confidence"
    async with services.db.read() as session:
        item = await session.scalar(select(Item))
        assert (item.answers, item.slots_taken, item.settled) == (3, 3, True)


async def test_progress_and_digest(services: Services) -> None:
    await launch(services, 2, f'reward=0.01 overlap=2 max_share=1 root="{KITCHEN}" name=Plain')
    await answer_all(services, 1, SKILLETS)
    digest = await jobs.daily_digest(services)
    (progress,) = digest[REQUESTER]
    assert (progress.answers, progress.answers_needed, progress.spent_micros, progress.reserved_micros) == (
        2,
        4,
        20_000,
        40_000,
    )
    assert progress.eta is not None and progress.eta.total_seconds() > 0
    assert await jobs.complete_batches(services) == []
