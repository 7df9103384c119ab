"""A batch's results files: the aggregated labels and every raw answer."""

from bot import work
from bot.batches import results
from bot.wiring.services import Services
from storage.models import User
from tests.factories import SKILLETS, WOKS, load_batch, products, results_of

CHOSEN = {"Product 1": SKILLETS, "Product 2": WOKS}


async def label_all(services: Services, worker_id: int) -> None:
    async with services.db.write() as session:
        session.add(User(id=worker_id, first_name=f"W{worker_id}"))
    tree = (await services.taxonomies.get(1)).tree
    task = await work.next_task(services, worker_id)
    while task is not None:
        category = str(tree.find(CHOSEN[task.card.title]).id)
        task = (await work.answer(services, worker_id, task.assignment_id, 0, category)).next_task


async def test_categorize_keeps_the_classic_columns_and_full_paths(services: Services) -> None:
    """A categorize batch's files keep their columns; a category is given by its id and by its full path
    "A > B > C", the form a batch file's gold_category reads back."""
    await load_batch(services, products(2), overlap=2)
    for worker_id in (1, 2):
        await label_all(services, worker_id)
    tree = (await services.taxonomies.get(1)).tree
    skillets, woks = (str(tree.find(path).id) for path in (SKILLETS, WOKS))
    found = await results_of(services, 1)

    labels = found.labels
    assert labels.columns == ("item_id", "title", "label_id", "label_path", "confidence", "answers", "agreement")
    assert [{k: v for k, v in row.items() if k != "confidence"} for row in labels.rows] == [
        {"item_id": "sku-0001", "title": "Product 1", "label_id": skillets, "label_path": SKILLETS}
        | {"answers": 2, "agreement": "1.0000"},
        {"item_id": "sku-0002", "title": "Product 2", "label_id": woks, "label_path": WOKS}
        | {"answers": 2, "agreement": "1.0000"},
    ]
    assert all(0.5 < float(row["confidence"]) <= 1 for row in labels.rows)

    raw = found.raw
    assert raw.columns == ("item_id", "worker", "answer_id", "answer_path", *results.RAW_TAIL)
    assert [(r["item_id"], r["worker"], r["answer_id"], r["answer_path"]) for r in raw.rows] == [
        ("sku-0001", "worker 1", skillets, SKILLETS),
        ("sku-0002", "worker 1", woks, WOKS),
        ("sku-0001", "worker 2", skillets, SKILLETS),
        ("sku-0002", "worker 2", woks, WOKS),
    ]
    assert {(r["gold"], r["accepted"], r["worker_gold_accuracy"], r["worker_status"]) for r in raw.rows} == {
        ("", "yes", "", "active")
    }
    assert results.to_csv(labels).splitlines()[1].startswith(f"sku-0001,Product 1,{skillets},{SKILLETS},")
