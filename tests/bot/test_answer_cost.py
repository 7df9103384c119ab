"""What one answer costs the database: the statements of a steady-state answer (the worker's accounts
exist, the batch's facts are cached), counted so that a regression shows, and listed by purpose."""

from bot import work
from bot.wiring.services import Services
from tests.bot.test_work import add_worker
from tests.factories import SKILLETS, load_batch, products
from tests.statements import recorded


async def test_an_answer_and_the_next_claim_cost_few_statements(services: Services) -> None:
    await load_batch(services, products(6), overlap=1, gold_rate=0.0)
    await add_worker(services, 1)
    task = await work.next_task(services, 1)
    skillets = str((await services.taxonomies.get(1)).tree.find(SKILLETS).id)
    task = (await work.answer(services, 1, task.assignment_id, 0, skillets)).next_task  # accounts now exist
    with recorded(services.db.engine) as answer:
        result = await work.answer(services, 1, task.assignment_id, 0, skillets)
    assert result.next_task is not None and result.credited_micros == 20_000
    print(answer.listing())
    # Both lock the assignment in one SELECT. PostgreSQL then records and counts the answer in one writing
    # WITH, claims and reserves the next product in another, reads the worker's recent answers for quality
    # control, posts the credit in a third WITH, and commits. SQLite cannot write in a WITH: four statements
    # for the answer, two for the claim, three for the credit.
    budget = {"postgresql": 6, "sqlite": 12}[services.db.engine.dialect.name]
    assert len(answer) <= budget, answer.listing()
