"""How long a big batch takes to upload and to export, and how long everyone else's buttons wait meanwhile.

The bot has one event loop for all its users: whatever part of a big job runs on it, every worker's next
button press waits for. Three such jobs, timed here as the bot runs them:

1. upload: a requester sends a product file; ``bot.batches.lifecycle.load_draft`` reads and checks it (in a
   worker thread) and stores the draft batch;
2. export: a requester's ``/results N``, or the end of a batch, runs ``bot.batches.results.collect`` (read every
   answer in slices, aggregate and lay out the rows in a worker thread), then writes the two CSV files in
   a worker thread as ``handlers.requester.send_files`` does;
3. chart: a requester's 📈 Chart runs ``bot.batches.chart.batch_chart`` (the same reading and aggregation)
   and draws the PNG in a worker thread, as ``handlers.requester.send_chart`` does; the first drawing
   also loads matplotlib, so a second one is timed too.

What runs: a fresh SQLite database (migrated with ``storage.migrate.upgrade``), a CSV of ``--items``
products (one in ten gold), uploaded, funded and launched; then ``--overlap`` answers per product from a
crowd of ``--workers``, bulk-inserted (random leaves under the batch root), and the export. During each
job a heartbeat task on the same loop sleeps 1 ms at a time: each longer gap is a stretch when no other
update could have run.

Run it from the repository root::

    python benchmarks/big_batch.py                 # 20,000 products, 3 answers each
    python benchmarks/big_batch.py --items 100000

Output is plain ``name: value`` lines; the exit status is 0 unless the script itself breaks.
"""

import argparse
import asyncio
import csv
import io
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select, update  # noqa: E402

from bot import taxonomies  # noqa: E402
from bot.batches import chart, results  # noqa: E402
from bot.batches import lifecycle as batches  # noqa: E402
from bot.batches.lifecycle import BatchSpec  # noqa: E402
from bot.batches.task import task_of  # noqa: E402
from bot.money import ledger  # noqa: E402
from bot.tasks.categorize import CATEGORY  # noqa: E402
from bot.wiring.config import Settings  # noqa: E402
from bot.wiring.services import Services, build_services  # noqa: E402
from handlers.chart import render_chart  # noqa: E402
from storage import migrate  # noqa: E402
from storage.clock import utcnow  # noqa: E402
from storage.db import connect  # noqa: E402
from storage.models import Assignment, Batch, Item, User  # noqa: E402
from storage.states import AssignmentStatus, CreditState  # noqa: E402
from taxonomy import Tree  # noqa: E402
from tests.factories import KITCHEN, REQUESTER, SKILLETS, products  # noqa: E402

FIRST_WORKER = 5_000_001
INSERT_CHUNK = 20_000
HEARTBEAT = 0.001
STALL = 0.05  # a wait a worker would notice after pressing a button


@asynccontextmanager
async def watching_the_loop(job: str) -> AsyncIterator[None]:
    """Time the job and print how long the event loop was unavailable during it."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def heartbeat() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(HEARTBEAT)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    beating = asyncio.create_task(heartbeat())
    started = time.perf_counter()
    yield
    elapsed = time.perf_counter() - started
    done.set()
    await beating
    print(f"{job} s: {elapsed:.2f}")
    print(f"{job}, event loop, longest stall ms: {max(gaps) * 1000:.0f}")
    print(f"{job}, event loop, p99 gap ms: {statistics.quantiles(gaps, n=100)[98] * 1000:.1f}")
    print(f"{job}, event loop, stalls over {STALL * 1000:.0f} ms: {sum(gap > STALL for gap in gaps)}")


def product_file(items: int) -> bytes:
    rows = products(items, gold={n: SKILLETS for n in range(1, items + 1, 10)})
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


async def fund_and_launch(services: Services, batch_id: int) -> None:
    async with services.db.write() as session:
        cost = await batches.cost_of(session, await session.get_one(Batch, batch_id))
        await ledger.fund_requester(session, f"batch:{batch_id}:fund", REQUESTER, cost.total, "benchmark funding")
        await batches.launch(session, batch_id, REQUESTER, services.settings.currency, services.clock.now())


async def answer_everything(services: Services, tree: Tree, batch_id: int, overlap: int, workers: int) -> int:
    """``overlap`` answers per product, random leaves under the root, inserted in bulk; returns their number."""
    root = tree.find(KITCHEN)
    assert root is not None
    leaves = [n.id for n in tree if n.id != root.id and tree.is_within(n.id, root.id) and tree.is_leaf(n.id)]
    rng, now = random.Random(1), utcnow()
    async with services.db.write() as session:
        session.add_all(User(id=FIRST_WORKER + n, first_name=f"Worker {n}") for n in range(workers))
        await session.flush()
        item_ids = list(await session.scalars(select(Item.id).where(Item.batch_id == batch_id)))
        answers = [
            {
                "item_id": item_id,
                "batch_id": batch_id,
                "worker_id": FIRST_WORKER + worker,
                "status": AssignmentStatus.ANSWERED,
                "created_at": now,
                "expires_at": now,
                "answered_at": now,
                "answer": {CATEGORY.key: str(rng.choice(leaves))},
                "reward_micros": 20_000,
                "credit_state": CreditState.PENDING,
            }
            for item_id in item_ids
            for worker in rng.sample(range(workers), overlap)
        ]
        for start in range(0, len(answers), INSERT_CHUNK):
            await session.execute(insert(Assignment), answers[start : start + INSERT_CHUNK])
        # Every product has its answers: finished, as the chart counts them.
        await session.execute(
            update(Item).where(Item.batch_id == batch_id).values(answers=overlap, slots_taken=overlap, is_open=False)
        )
    return len(answers)


async def measure(url: str, items: int, overlap: int, workers: int) -> None:
    db = connect(url)
    services = build_services(Settings(bot_token="", database_url=url, _env_file=None), db)
    tree = (await services.taxonomies.get(await taxonomies.ensure_default(db))).tree
    data = product_file(items)
    spec = BatchSpec(name="Big", reward_micros=20_000, overlap=overlap, root=KITCHEN, qualification=0)
    print(f"products: {items:,} ({len(data) / 1e6:.1f} MB of CSV, one in ten gold)")
    async with watching_the_loop("upload"):
        batch_id = await batches.load_draft(services, REQUESTER, spec, data, "products.csv")
    await fund_and_launch(services, batch_id)
    answers = await answer_everything(services, tree, batch_id, overlap, workers)
    print(f"answers: {answers:,} ({overlap} per product, {workers} workers)")
    async with watching_the_loop("export"):
        async with db.read() as session:
            batch = batches.facts_of(await session.get_one(Batch, batch_id))
            found = await results.collect(session, batch_id, await task_of(batch, services.taxonomies, session))
        for table in (found.labels, found.raw):
            await asyncio.to_thread(results.to_csv, table)
    labelled = sum(1 for row in found.labels.rows if row["label_id"])
    print(f"exported: {labelled:,} of {len(found.labels.rows):,} products labelled, {len(found.raw.rows):,} answers")
    async with watching_the_loop("chart"):
        figures = await chart.batch_chart(services, batch_id, REQUESTER)
        started = time.perf_counter()
        png = await asyncio.to_thread(render_chart, figures)
        first = time.perf_counter() - started
    started = time.perf_counter()
    await asyncio.to_thread(render_chart, figures)
    print(
        f"chart: {len(figures.confidences):,} confidences, {len(figures.workers)} workers, {len(png) / 1e3:.0f} kB PNG"
    )
    print(
        f"chart, drawing s: {first:.2f} the first time (matplotlib loaded), {time.perf_counter() - started:.2f} after"
    )
    await db.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20_000, help="products in the batch (default 20,000)")
    parser.add_argument("--overlap", type=int, default=3, help="answers per product (default 3)")
    parser.add_argument("--workers", type=int, default=100, help="workers the answers come from (default 100)")
    args = parser.parse_args(argv)
    print("benchmark: a big batch's upload, results export and chart against the bot's event loop (SQLite)")
    with tempfile.TemporaryDirectory(prefix="big-batch-") as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'big.db'}"
        migrate.upgrade(url)  # runs its own event loop, so before ours
        asyncio.run(measure(url, args.items, args.overlap, args.workers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
