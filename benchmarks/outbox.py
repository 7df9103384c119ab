"""How the outbox delivers owed messages when Telegram fails half of all sends.

What runs: ``handlers.outbox.deliver`` (the delivery job's body) over a real ``telegram.Bot`` against the
fake Bot API server of the end-to-end tests (``tests/e2e/fake_telegram.py``) on loopback HTTP, on a fresh
SQLite file migrated with ``storage.migrate.upgrade`` (or ``--scratch-database-url``, which is emptied first).

Owed are ``--messages`` payout-method reminders to as many people, and ``--requesters`` completed batches,
each owing its requester the completion message and two results files (rendered from the database at
delivery): sendMessage and sendDocument. The fake server fails each of those calls with a 502 with
probability ``--failure-share`` (default 0.5), drawn from a generator seeded with ``--seed``.

``--runners`` delivery loops (default 2) run at once, each with a database engine of its own, as two bot
processes would; each loop runs delivery, then sleeps until the next retry is due, until nothing is pending.
The backoff (5 s doubling to 10 min) is scaled by ``--time-scale`` (default 0.01) so a run takes seconds.
The same is run once without failures for the baseline.

Printed: messages owed and delivered, attempts per message (mean/max), duplicates (Telegram took a message
more often than it was owed; must be 0), and the time until all were delivered, with the ratio to the run
without failures. Run it from the repository root::

    python benchmarks/outbox.py
    python benchmarks/outbox.py --messages 2000 --runners 4 --seed 7
    python benchmarks/outbox.py --scratch-database-url postgresql+asyncpg://127.0.0.1/scratch  # emptied!
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alembic import command  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from telegram import Bot  # noqa: E402
from telegram.request import HTTPXRequest  # noqa: E402

from bot import jobs, outbox, taxonomies, work  # noqa: E402
from bot.outbox import Notice  # noqa: E402
from bot.wiring.config import Settings  # noqa: E402
from bot.wiring.services import Services, build_services  # noqa: E402
from handlers import outbox as delivery  # noqa: E402
from sandbox.telegram_server import FakeTelegram  # noqa: E402
from storage import migrate  # noqa: E402
from storage.clock import utcnow  # noqa: E402
from storage.db import connect  # noqa: E402
from storage.models import OutboxMessage, User  # noqa: E402
from storage.states import OutboxState  # noqa: E402
from tests.factories import SKILLETS, load_batch, products  # noqa: E402

PEOPLE_FROM = 10_000
REQUESTERS_FROM = 9_000
LABELLER = 8_000
SENDS = ("sendMessage", "sendDocument")


@dataclass(frozen=True)
class Figures:
    owed: int
    delivered: int
    attempts_mean: float
    attempts_max: int
    duplicates: int
    failed_requests: int
    seconds: float


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000, help="reminders owed, one person each")
    parser.add_argument("--requesters", type=int, default=10, help="completed batches, 3 messages each")
    parser.add_argument("--failure-share", type=float, default=0.5, help="share of sends that get a 502")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runners", type=int, default=2, help="delivery loops at once, one engine each")
    parser.add_argument("--time-scale", type=float, default=0.01, help="factor on the retry backoff")
    parser.add_argument(
        "--scratch-database-url",
        default="",
        help="a database to empty (Alembic downgrade to base) before each run; default: fresh SQLite files",
    )
    return parser.parse_args()


async def owe_everything(services: Services, messages: int, requesters: int) -> int:
    async with services.db.write() as session:
        for person in range(PEOPLE_FROM, PEOPLE_FROM + messages):
            await outbox.owe(session, f"bench:{person}", person, Notice.PAYOUT_METHOD_REMINDER)
        session.add(User(id=LABELLER, first_name="Labeller"))
    taxonomy_id = await taxonomies.ensure_default(services.db)
    leaf = (await services.taxonomies.get(taxonomy_id)).tree.find(SKILLETS).id
    for requester in range(REQUESTERS_FROM, REQUESTERS_FROM + requesters):
        await load_batch(services, products(3), overlap=1, gold_rate=0, requester=requester)
        task = await work.next_task(services, LABELLER)
        while task is not None:
            task = (await work.answer(services, LABELLER, task.assignment_id, 0, str(leaf))).next_task
    assert len(await jobs.complete_batches(services)) == requesters
    return messages + 3 * requesters


async def deliver_until_done(bot: Bot, services: Services) -> None:
    """The delivery job as a loop that wakes exactly when the next retry is due."""
    while True:
        await delivery.deliver(bot, services)
        async with services.db.read() as session:
            pending, due = (
                await session.execute(
                    select(func.count(OutboxMessage.id), func.min(OutboxMessage.next_attempt_at)).where(
                        OutboxMessage.state == OutboxState.PENDING
                    )
                )
            ).one()
        if not pending:
            return
        # Another loop may hold the due ones: look again soon rather than spin.
        await asyncio.sleep(max((due - utcnow()).total_seconds(), 0.01))


async def measure(args: argparse.Namespace, failure_share: float, url: str) -> Figures:
    await asyncio.to_thread(migrate.upgrade, url)
    fake = FakeTelegram()
    await fake.start()
    api = fake.base_url.removesuffix("/bot")
    settings = Settings(bot_token=fake.token, telegram_api_url=api, database_url=url, _env_file=None)
    engines = [connect(url) for _ in range(args.runners)]
    runners = [build_services(settings, db) for db in engines]
    try:
        for chat in [
            *range(PEOPLE_FROM, PEOPLE_FROM + args.messages),
            *range(REQUESTERS_FROM, REQUESTERS_FROM + args.requesters),
        ]:
            fake.user(chat, f"P{chat}")
        owed = await owe_everything(runners[0], args.messages, args.requesters)
        fake.fail_at_random(SENDS, failure_share, random.Random(args.seed))
        # The pool an Application gives its bot (ApplicationBuilder's default), not Bot's own single connection.
        request = HTTPXRequest(connection_pool_size=256)
        bot = Bot(fake.token, base_url=f"{api}/bot", base_file_url=f"{api}/file/bot", request=request)
        async with bot:
            started = time.perf_counter()
            await asyncio.gather(*(deliver_until_done(bot, services) for services in runners))
            seconds = time.perf_counter() - started
        async with runners[0].db.read() as session:
            rows = (
                await session.execute(select(OutboxMessage.chat_id, OutboxMessage.state, OutboxMessage.attempts))
            ).all()
    finally:
        for db in engines:
            await db.dispose()
        await fake.stop()
    sends = [call for method in SENDS for call in fake.calls(method)]
    taken = collections.Counter(int(call.params["chat_id"]) for call in sends if call.ok)
    owed_to = collections.Counter(chat for chat, _, _ in rows)
    attempts = [tries for _, state, tries in rows if state == OutboxState.SENT]
    return Figures(
        owed=owed,
        delivered=len(attempts),
        attempts_mean=sum(attempts) / max(len(attempts), 1),
        attempts_max=max(attempts, default=0),
        duplicates=sum(max(taken[chat] - owed_to[chat], 0) for chat in taken),
        failed_requests=sum(not call.ok for call in sends),
        seconds=seconds,
    )


async def main() -> None:
    args = parse()
    logging.basicConfig(level=logging.ERROR)
    scale = args.time_scale
    outbox.FIRST_RETRY, outbox.LAST_RETRY = outbox.FIRST_RETRY * scale, outbox.LAST_RETRY * scale
    with tempfile.TemporaryDirectory() as folder:
        figures = {}
        runs = (
            ("no failures", 0.0, args.scratch_database_url or f"sqlite+aiosqlite:///{folder}/baseline.db"),
            (
                f"{args.failure_share:.0%} of sends failing",
                args.failure_share,
                args.scratch_database_url or f"sqlite+aiosqlite:///{folder}/failing.db",
            ),
        )
        for name, share, url in runs:
            if args.scratch_database_url:
                await asyncio.to_thread(command.downgrade, migrate.alembic_config(url), "base")
            figures[name] = await measure(args, share, url)
    baseline = next(iter(figures.values()))
    print(
        f"runners: {args.runners}  seed: {args.seed}  backoff scaled by {scale} (first retry {outbox.FIRST_RETRY.total_seconds():g} s, cap {outbox.LAST_RETRY.total_seconds():g} s)"
    )
    for name, f in figures.items():
        print(
            f"{name}: owed {f.owed}, delivered {f.delivered}, attempts per message mean {f.attempts_mean:.2f} "
            f"max {f.attempts_max}, duplicates {f.duplicates}, failed requests {f.failed_requests}, "
            f"all delivered after {f.seconds:.2f} s ({f.seconds / baseline.seconds:.1f}x the run without failures)"
        )


if __name__ == "__main__":
    asyncio.run(main())
