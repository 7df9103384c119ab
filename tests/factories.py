"""Building blocks for tests: products, batches and workers made through the real domain code."""

import json

from bot import taxonomies
from bot.batches import files as batch_files
from bot.batches import lifecycle as batches
from bot.batches import results
from bot.batches.lifecycle import BatchSpec
from bot.batches.task import task_of
from bot.wiring.services import Services
from storage.models import Batch

KITCHEN = "Home & Garden > Kitchen & Dining"
SKILLETS = "Home & Garden > Kitchen & Dining > Cookware & Bakeware > Cookware > Skillets & Frying Pans"
WOKS = "Home & Garden > Kitchen & Dining > Cookware & Bakeware > Cookware > Woks"
REQUESTER = 9001


def products(count: int, gold: dict[int, str] | None = None, image: bool = False) -> list[dict[str, str]]:
    gold = gold or {}
    return [
        {
            "item_id": f"sku-{n:04d}",
            "title": f"Product {n}",
            "description": f"Description of product {n}",
            "brand": "Acme",
            "price": "9.99",
            "image_url": f"https://img.example.com/{n}.jpg" if image else "",
            "gold_category": gold.get(n, ""),
        }
        for n in range(1, count + 1)
    ]


async def load_batch(
    services: Services,
    rows: list[dict[str, str]],
    *,
    reward: int = 20_000,
    overlap: int = 3,
    root: str | None = KITCHEN,
    leaf_only: bool = True,
    name: str = "Kitchen",
    requester: int = REQUESTER,
    qualification: int = 0,
    gold_rate: float = 0.1,
    task_type: str = "categorize",
    max_share: float = 1.0,
    **settings: object,
) -> Batch:
    """A funded, running batch, as the operator's CLI would load it (no quiz unless asked for)."""
    taxonomy_id = await taxonomies.ensure_default(services.db)
    # No per-worker cap unless asked for: these small test batches are often labelled by one worker.
    spec = BatchSpec(
        max_share=max_share,
        name=name,
        task_type=task_type,
        reward_micros=reward,
        overlap=overlap,
        root=root,
        leaf_only=leaf_only,
        qualification=qualification,
        gold_rate=gold_rate,
        **settings,
    )
    data = "\n".join(json.dumps(row) for row in rows).encode()
    parsed = batch_files.read_rows(data, "batch.jsonl")
    tree = (await services.taxonomies.get(taxonomy_id)).tree
    async with services.db.write() as session:
        return await batches.load_funded_batch(
            session, requester, taxonomy_id, tree, spec, parsed, services.settings.currency, services.clock.now()
        )


async def results_of(services: Services, batch_id: int) -> results.BatchResults:
    """The batch's results files as its requester would get them."""
    async with services.db.read() as session:
        task = await task_of(await services.batches.get(batch_id, session), services.taxonomies, session)
        return await results.collect(session, batch_id, task)
