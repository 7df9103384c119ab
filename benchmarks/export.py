"""How long a big batch's results take to make, and how long everyone else's buttons wait meanwhile.

A requester's ``/results N`` and the end of a batch both run ``bot.results.collect`` (read every answer,
aggregate, lay out the rows) and then write the two files (``bot.results.to_csv``, in a worker thread as
``handlers.requester.send_files`` does). The bot has one event loop for all its users, so whatever of that
work runs on the loop, every worker's next button press waits for.

What runs: a fresh SQLite database (migrated with ``storage.migrate.upgrade``), one batch of ``--items``
products loaded through ``bot.batches.load_funded_batch``, and ``--overlap`` answers per product from a
crowd of ``--workers``, bulk-inserted (random leaves under the batch root). Then the export, while a
heartbeat task on the same loop sleeps 1 ms at a time: each gap longer than that is a stretch when no other
update could have run.

Run it from the repository root::

    python benchmarks/export.py                 # 20,000 products, 3 answers each
    python benchmarks/export.py --items 100000

Output is plain ``name: value`` lines; the exit status is 0 unless the script itself breaks.
"""

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from bot import batch_files, batches, results, taxonomies  # noqa: E402
from bot.batches import BatchSpec  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.services import build_services  # noqa: E402
from storage import migrate  # noqa: E402
from storage.clock import utcnow  # noqa: E402
from storage.db import connect  # noqa: E402
from storage.models import Assignment, Item, User  # noqa: E402
from storage.states import AssignmentStatus, CreditState  # noqa: E402
from tests.factories import KITCHEN, REQUESTER, products  # noqa: E402

FIRST_WORKER = 5_000_001
INSERT_CHUNK = 20_000
HEARTBEAT = 0.001
STALL = 0.05  # a gap a worker would notice after pressing a button


async def measure(url: str, items: int, overlap: int, workers: int) -> None:
    db = connect(url)
    services = build_services(Settings(bot_token="", database_url=url, _env_file=None), db)
    started = time.perf_counter()
    taxonomy_id = await taxonomies.ensure_default(db)
    tree = (await services.taxonomies.get(taxonomy_id)).tree
    spec = BatchSpec(
        name="Export", reward_micros=20_000, overlap=overlap, root=KITCHEN, leaf_only=True, qualification=0
    )
    rows = batch_files.read_rows("\n".join(json.dumps(row) for row in products(items)).encode(), "products.jsonl")
    async with db.write() as session:
        batch = await batches.load_funded_batch(session, REQUESTER, taxonomy_id, tree, spec, rows, "USD")
        session.add_all(User(id=FIRST_WORKER + n, first_name=f"Worker {n}") for n in range(workers))
    root = tree.find(KITCHEN)
    assert root is not None
    leaves = [
        node.id for node in tree if node.id != root.id and tree.is_within(node.id, root.id) and tree.is_leaf(node.id)
    ]
    rng, now = random.Random(1), utcnow()
    async with db.write() as session:
        item_ids = list(await session.scalars(select(Item.id).where(Item.batch_id == batch.id)))
        answers = [
            {
                "item_id": item_id,
                "batch_id": batch.id,
                "worker_id": FIRST_WORKER + worker,
                "status": AssignmentStatus.ANSWERED,
                "created_at": now,
                "expires_at": now,
                "answered_at": now,
                "answer_node_id": rng.choice(leaves),
                "reward_micros": 20_000,
                "credit_state": CreditState.PENDING,
            }
            for item_id in item_ids
            for worker in rng.sample(range(workers), overlap)
        ]
        for start in range(0, len(answers), INSERT_CHUNK):
            await session.execute(insert(Assignment), answers[start : start + INSERT_CHUNK])
    print(f"setup s: {time.perf_counter() - started:.1f}")

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
    async with db.read() as session:
        labels, raw = await results.collect(session, batch.id, tree)
    collected = time.perf_counter()
    for rows_of_a_file, kind in ((labels, results.ResultRow), (raw, results.RawAnswer)):
        await asyncio.to_thread(results.to_csv, rows_of_a_file, kind)
    written = time.perf_counter()
    done.set()
    await beating
    await db.dispose()

    print(f"products: {items:,}")
    print(f"answers: {len(raw):,} ({overlap} per product, {workers} workers)")
    print(f"collect s (read, aggregate, rows): {collected - started:.2f}")
    print(f"files s (two CSVs): {written - collected:.2f}")
    print(f"event loop, longest stall ms: {max(gaps) * 1000:.0f}")
    print(f"event loop, p99 gap ms: {statistics.quantiles(gaps, n=100)[98] * 1000:.1f}")
    print(f"event loop, stalls over {STALL * 1000:.0f} ms: {sum(gap > STALL for gap in gaps)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20_000, help="products in the batch (default 20,000)")
    parser.add_argument("--overlap", type=int, default=3, help="answers per product (default 3)")
    parser.add_argument("--workers", type=int, default=100, help="workers the answers come from (default 100)")
    args = parser.parse_args(argv)
    print("benchmark: a big batch's results export against the bot's event loop (SQLite)")
    with tempfile.TemporaryDirectory(prefix="export-") as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'export.db'}"
        migrate.upgrade(url)  # runs its own event loop, so before ours
        asyncio.run(measure(url, args.items, args.overlap, args.workers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
