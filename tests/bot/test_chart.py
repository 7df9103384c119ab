"""A batch's chart as numbers: answers over time, confidence on finished products, workers' accuracy on gold."""

import pytest

from bot import work
from bot.batches import chart
from bot.batches.chart import WorkerAccuracy
from bot.batches.lifecycle import BatchRefusal
from bot.errors import NotAllowed
from bot.wiring.services import Services
from storage.models import User
from tests.factories import REQUESTER, SKILLETS, WOKS, load_batch, products, results_of


async def label_all(services: Services, worker_id: int, gold_answer: str) -> None:
    """Everything the worker is given: the gold Product 1 answered `gold_answer`, Product 2 Skillets, the rest Woks."""
    async with services.db.write() as session:
        session.add(User(id=worker_id, first_name=f"W{worker_id}"))
    tree = (await services.taxonomies.get(1)).tree
    chosen = {"Product 1": gold_answer, "Product 2": SKILLETS}
    task = await work.next_task(services, worker_id)
    while task is not None:
        category = str(tree.find(chosen.get(task.card.title, WOKS)).id)
        task = (await work.answer(services, worker_id, task.assignment_id, 0, category)).next_task


async def test_the_figures_of_a_finished_batch(services: Services, checks_first: None) -> None:
    """Two workers label the two products (overlap 2), each after a check on the gold product: four answers
    on products in time order, one confidence per finished product (the results file's), and each worker's
    gold answers under the pseudonym the answers file gives them."""
    await load_batch(services, products(3, gold={1: SKILLETS}), overlap=2)
    await label_all(services, 101, gold_answer=SKILLETS)
    await label_all(services, 102, gold_answer=WOKS)

    found = await chart.batch_chart(services, 1, REQUESTER)

    assert (found.batch_id, found.name, found.answers, found.answers_needed) == (1, "Kitchen", 6, 4)
    assert len(found.answered_at) == 4 and list(found.answered_at) == sorted(found.answered_at)
    labels = (await results_of(services, 1)).labels.rows
    assert [f"{confidence:.4f}" for confidence in found.confidences] == [
        row["confidence"] for row in labels if row["item_id"] != "sku-0001"
    ], "the gold product is not one of the batch's products to label"
    assert found.workers == (WorkerAccuracy("worker 1", 1, 1), WorkerAccuracy("worker 2", 1, 0))
    assert found.min_accuracy == 0.7


async def test_a_product_still_collecting_answers_has_no_confidence_yet(services: Services) -> None:
    await load_batch(services, products(2), overlap=3)
    await label_all(services, 101, gold_answer=SKILLETS)
    await label_all(services, 102, gold_answer=SKILLETS)

    found = await chart.batch_chart(services, 1, REQUESTER)

    assert (found.answers, len(found.answered_at), found.answers_needed) == (4, 4, 6)
    assert found.confidences == () and found.workers == ()


async def test_a_batch_nobody_answered_has_no_answers(services: Services) -> None:
    await load_batch(services, products(2), overlap=3)
    found = await chart.batch_chart(services, 1, REQUESTER)
    assert (found.answers, found.answered_at, found.confidences, found.workers) == (0, (), (), ())


async def test_only_the_batch_owner_gets_its_chart(services: Services) -> None:
    await load_batch(services, products(2), overlap=1)
    with pytest.raises(NotAllowed) as refused:
        await chart.batch_chart(services, 1, REQUESTER + 1)
    assert refused.value.code == BatchRefusal.NOT_YOURS
    with pytest.raises(NotAllowed):
        await chart.batch_chart(services, 99, REQUESTER)
