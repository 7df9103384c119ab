"""How many answers per second the answer use case takes when many workers answer at once, without Telegram.

`benchmarks/answers.py` measures the whole bot; this measures `bot.work.answer` alone, so that what the
database makes answers wait for shows apart from HTTP and the handlers. One process, one batch of one
requester (every credit moves that requester's reserve), `--workers` coroutines each answering its next
product as soon as it has it, for `--seconds`. It prints answers per second, CPU per answer, and for each
kind of statement how long it took on average from being sent to its result: on PostgreSQL a long wait
on one statement is a lock others hold.

    python benchmarks/concurrent_answers.py                          # SQLite, 1 and 50 workers
    python benchmarks/concurrent_answers.py --database-url postgresql+asyncpg://…   # the database is emptied
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event

from benchmarks.two_processes import empty_database
from bot import work
from bot.wiring.config import Settings
from bot.wiring.services import Services, build_services
from storage.db import Database, connect
from storage.models import User
from tests.factories import SKILLETS, load_batch, products

FIRST_WORKER = 1_000
PRODUCTS = 5_000
OVERLAP = 3


async def one_batch(url: str, items: int, workers: int) -> tuple[Database, Services, str]:
    """The (migrated) database at `url` with one launched batch of `items` products at overlap 3 and no
    gold, and `workers` workers from FIRST_WORKER on; with the services on it and the category to answer."""
    db = connect(url)
    services = build_services(Settings(bot_token="1:x", database_url=url, _env_file=None), db)
    await load_batch(services, products(items), overlap=OVERLAP, gold_rate=0.0)
    async with db.write() as session:
        session.add_all(User(id=FIRST_WORKER + n, first_name=f"W{n}") for n in range(workers))
    await db.analyze()  # PostgreSQL's statistics of the new batch, as a launch through the bot gathers them
    return db, services, str((await services.taxonomies.get(1)).tree.find(SKILLETS).id)


def time_statements(db: Database, took: Callable[[str, float], None]) -> None:
    """Call `took(statement, seconds)` for every statement `db` sends, with how long it took to its result."""

    @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        context.sent_at = time.perf_counter()

    @event.listens_for(db.engine.sync_engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        took(statement, time.perf_counter() - context.sent_at)


async def measure(url: str, workers: int, seconds: float, items: int) -> None:
    db, services, category = await one_batch(url, items, workers)
    took: collections.Counter[str] = collections.Counter()
    sent: collections.Counter[str] = collections.Counter()

    def count(statement: str, seconds: float) -> None:
        kind = " ".join(statement.split())[:48]
        took[kind] += seconds
        sent[kind] += 1

    time_statements(db, count)

    answered = 0
    deadline = time.perf_counter() + seconds

    async def worker(worker_id: int) -> None:
        nonlocal answered
        task = await work.next_task(services, worker_id)
        while task is not None and time.perf_counter() < deadline:
            task = (await work.answer(services, worker_id, task.assignment_id, 0, category)).next_task
            answered += 1

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker(FIRST_WORKER + n) for n in range(workers)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    await db.dispose()
    print(f"workers: {workers}, products: {items:,}")
    print(f"answers/s: {answered / elapsed:.1f}")
    print(f"CPU ms/answer: {cpu / max(answered, 1) * 1000:.2f}")
    for kind, total in took.most_common(6):
        print(f"statement ms (sent to result): {total / sent[kind] * 1000:7.2f} x{sent[kind]:<6} {kind}")


def run(url: str, workers: int, seconds: float, items: int) -> None:
    asyncio.run(empty_database(url))  # emptied and migrated, as two_processes.py starts from
    asyncio.run(measure(url, workers, seconds, items))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="", help="PostgreSQL's async URL (emptied); default: SQLite")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 50], help="runs, by workers (default 1 50)")
    parser.add_argument("--seconds", type=float, default=8.0, help="each run's length (default 8)")
    parser.add_argument("--products", type=int, default=PRODUCTS, help=f"the batch's products (default {PRODUCTS:,})")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="crowdshelf-concurrent-") as scratch:
        for number, workers in enumerate(args.workers):
            url = args.database_url or f"sqlite+aiosqlite:///{Path(scratch) / f'run{number}.db'}"
            print(f"database: {url.split('://')[0]}")
            run(url, workers, args.seconds, args.products)


if __name__ == "__main__":
    main()
