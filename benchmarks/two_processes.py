"""Two `crowdshelf run` processes on one database, sweeping payouts every second: is money requested once?

What runs: the local Bot API server (``sandbox/telegram_server.py``, which the end-to-end tests use too) in this
script's event loop on 127.0.0.1, and two real ``python -m bot.cli run`` processes polling it, both on
the database given by ``--database-url`` (default: a fresh SQLite file; the interesting run is
PostgreSQL), with ``PAYOUT_THRESHOLD=0.10`` and ``PAYOUT_SWEEP_SECONDS=1``.

The database is emptied first (PostgreSQL: the ``public`` schema is dropped and created again; SQLite:
the file is deleted) and migrated with ``storage.migrate.upgrade``. ``--workers`` workers then have
$0.15 available each, put there by the ledger postings real money takes (fund, reserve, credit,
release), and a PayPal address. Two admins are in ``ADMIN_IDS``; everyone is a user of the fake server.

The first sweep runs 30 s after a process starts (then every second), so ``--seconds`` must be longer
than that. As soon as the first payout request appears, ``--typers`` workers (the last ones, which
a sweep reaches last) type ``/payout``, racing the sweeps. With ``--kill`` one process is killed
(SIGKILL) ``--kill-after`` seconds after the start; at the end the others get SIGTERM.

Printed: payout requests created; workers with more than one payout for the same $0.15; ledger
transactions without entries; ``payout_in_flight`` accounts whose cached balance differs from their
entries; the output and exit status of ``crowdshelf db check`` (code without that command:
``storage.ledger.inconsistencies``); payout notices delivered to workers and admins (sendMessage calls
the fake server took, per chat and payout), with duplicates and the ones missing.

Run it from the repository root; the bot processes run the code this script imports, so
``PYTHONPATH=<another checkout>`` measures that checkout::

    python benchmarks/two_processes.py
    python benchmarks/two_processes.py --database-url postgresql+asyncpg://127.0.0.1/scratch  # emptied!
    python benchmarks/two_processes.py --workers 1000 --kill
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import re
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Appended, so that a PYTHONPATH naming another checkout wins over this one.
sys.path.append(str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

import bot  # noqa: E402
from bot import taxonomies  # noqa: E402
from bot.money import ledger, payouts  # noqa: E402
from sandbox.telegram_server import FakeTelegram  # noqa: E402
from storage import ledger as books  # noqa: E402
from storage import migrate  # noqa: E402
from storage.clock import utcnow  # noqa: E402
from storage.db import Database, connect  # noqa: E402
from storage.models import Account, LedgerEntry, LedgerTransaction, Payout, User  # noqa: E402

try:  # code from before the outbox sends at once and keeps nothing owed
    from storage.models import OutboxMessage
    from storage.states import OutboxState
except ImportError:
    OutboxMessage = OutboxState = None

CODE = Path(bot.__file__).resolve().parents[1]
WORKERS_FROM = 10_000
REQUESTER = 9_000
ADMINS = (4242, 4343)
AVAILABLE = 150_000  # $0.15 in micros
FIRST_SWEEP_SECONDS = 30  # bot/wiring/app.py schedules the first sweep this long after the start
WORKER_NOTICE = re.compile(r"requested \(#(\d+)\)")
ADMIN_NOTICE = re.compile(r"Payout #(\d+)")
LOG_LEVEL = re.compile(r" (WARNING|ERROR|CRITICAL) ")
EXCEPTION = re.compile(r"[\w.]+(Error|Exception|Conflict): ")  # the last line of a traceback


@dataclass(frozen=True)
class Notices:
    delivered: int
    duplicates: int
    missing: int


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default="", help="database to EMPTY and use; default: a temporary SQLite file"
    )
    parser.add_argument("--workers", type=int, default=300, help="workers with $0.15 available each")
    parser.add_argument("--typers", type=int, default=50, help="workers who type /payout once the sweeps run")
    parser.add_argument(
        "--seconds", type=float, default=60, help=f"how long both processes run (first sweep: {FIRST_SWEEP_SECONDS} s)"
    )
    parser.add_argument("--logs", type=Path, help="keep the processes' logs in this directory (default: not kept)")
    parser.add_argument("--kill", action="store_true", help="SIGKILL one process mid-run")
    parser.add_argument("--kill-after", type=float, default=FIRST_SWEEP_SECONDS + 2, help="seconds, with --kill")
    return parser.parse_args()


async def empty_database(url: str) -> None:
    """The given database, and only it, without any table; then migrated to the newest schema."""
    if url.startswith("postgresql"):
        db = connect(url)
        async with db.engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
        await db.dispose()
    elif make_url(url).database:
        Path(make_url(url).database).unlink(missing_ok=True)
    await asyncio.to_thread(migrate.upgrade, url)


async def make_available(db: Database, worker_id: int, amount: int) -> None:
    """A worker with `amount` available and a PayPal address, the way real money gets there:
    the requester funds, reserves it for a batch, an answer is credited, its hold ends."""
    async with db.write() as session:
        session.add(User(id=worker_id, first_name=f"Worker {worker_id}"))
        await session.flush()
        await payouts.set_method(session, worker_id, "paypal", f"worker{worker_id}@example.com", utcnow())
        await ledger.fund_requester(session, f"bench-fund:{worker_id}", REQUESTER, amount)
        await ledger.reserve_for_batch(session, worker_id, REQUESTER, amount, "USD")
        await ledger.credit_answer(session, worker_id, REQUESTER, worker_id, amount)
        await ledger.release_credit(session, worker_id, worker_id, amount)


async def prepare(db: Database, workers: list[int]) -> None:
    # Stored before the start: two processes starting on a database without it both try to store it.
    await taxonomies.ensure_default(db)
    async with db.write() as session:
        session.add(User(id=REQUESTER, first_name="Requester"))
    for worker_id in workers:
        await make_available(db, worker_id, AVAILABLE)


def child_env(**settings: str) -> dict[str, str]:
    """The environment of a `crowdshelf` process: the code this script runs, and `settings`."""
    code = os.pathsep.join(filter(None, [str(CODE), os.environ.get("PYTHONPATH", "")]))
    return {**os.environ, "PYTHONPATH": code, **settings}


async def start_bot(fake: FakeTelegram, url: str, workdir: Path, name: str) -> asyncio.subprocess.Process:
    env = child_env(
        BOT_TOKEN=fake.token,
        TELEGRAM_API_URL=fake.base_url.removesuffix("/bot"),
        DATABASE_URL=url,
        ADMIN_IDS=",".join(map(str, ADMINS)),
        PAYOUT_THRESHOLD="0.10",
        PAYOUT_SWEEP_SECONDS="1",
        LOG_LEVEL="WARNING",
    )
    with (workdir / f"{name}.log").open("wb") as log:  # the process writes to its own copy
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.wiring.cli", "run", env=env, cwd=workdir, stdout=log, stderr=log
        )


async def payouts_so_far(db: Database) -> int:
    async with db.read() as session:
        return await session.scalar(select(func.count(Payout.id)))


async def race_the_sweeps(fake: FakeTelegram, db: Database, typers: list[int], until: float) -> bool:
    """Once the first payout request exists (a sweep is running), the typers type /payout."""
    while time.monotonic() < until:
        if await payouts_so_far(db):
            await asyncio.gather(*(fake.user(worker_id).send("/payout") for worker_id in typers))
            return True
        await asyncio.sleep(0.05)
    return False


async def stop(process: asyncio.subprocess.Process) -> int:
    """SIGTERM, as an operator stops the bot; a process still running 20 s later is killed (status -9)."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    try:
        return await asyncio.wait_for(process.wait(), 20)
    except TimeoutError:
        process.kill()
        return await process.wait()


async def run_bots(args: argparse.Namespace, fake: FakeTelegram, db: Database, url: str, workdir: Path) -> None:
    started = time.monotonic()
    bots = [await start_bot(fake, url, workdir, name) for name in ("a", "b")]
    tasks = [race_the_sweeps(fake, db, typers(args), started + args.seconds)]
    if args.kill:
        tasks.append(kill_later(bots[1], started, args.kill_after))
    results = await asyncio.gather(asyncio.sleep(max(0, started + args.seconds - time.monotonic())), *tasks)
    if not results[1]:
        print(f"no payout request within {args.seconds:g} s: nobody typed /payout (is --seconds long enough?)")
    early = [name for name, process in zip("ab", bots, strict=True) if process.returncode is not None]
    if early:
        print(f"ended before they were stopped: process {', '.join(early)}")
    statuses = await asyncio.gather(*(stop(process) for process in bots))
    print(f"processes ended with exit statuses {statuses}")
    for name in ("a", "b"):
        summarise_log(workdir / f"{name}.log", name)


def summarise_log(path: Path, name: str) -> None:
    """What a process logged (at WARNING and above): how many lines of each level, the commonest messages."""
    lines = path.read_text(errors="replace").splitlines()
    levels = collections.Counter(match.group(1) for line in lines if (match := LOG_LEVEL.search(line)))
    # Numbers (times, ids) masked, so that repeats of one message count together.
    messages = collections.Counter(
        re.sub(r"\d+", "N", LOG_LEVEL.split(line, 1)[-1])[:120] for line in lines if LOG_LEVEL.search(line)
    )
    errors = collections.Counter(line[:160] for line in lines if EXCEPTION.match(line))
    print(f"process {name} logged {dict(levels) or 'nothing'}; its last line: {lines[-1] if lines else '-'}")
    show([f"{count} x {message}" for message, count in [*messages.most_common(3), *errors.most_common(3)]])


async def kill_later(process: asyncio.subprocess.Process, started: float, after: float) -> None:
    await asyncio.sleep(max(0, started + after - time.monotonic()))
    process.kill()
    print(f"killed process b (SIGKILL) {after:g} s after the start")


def workers(args: argparse.Namespace) -> list[int]:
    return list(range(WORKERS_FROM, WORKERS_FROM + args.workers))


def typers(args: argparse.Namespace) -> list[int]:
    return workers(args)[-args.typers :] if args.typers else []


async def books_figures(db: Database) -> dict[str, int]:
    async with db.read() as session:
        per_worker = select(Payout.worker_id).group_by(Payout.worker_id).having(func.count(Payout.id) > 1).subquery()
        entries = select(LedgerEntry.id).where(LedgerEntry.transaction_id == LedgerTransaction.id).exists()
        sums = (
            select(LedgerEntry.account_id, func.sum(LedgerEntry.amount).label("total"))
            .group_by(LedgerEntry.account_id)
            .subquery()
        )
        return {
            "payout requests created": await session.scalar(select(func.count(Payout.id))),
            "workers with more than one payout for the same money": await session.scalar(
                select(func.count()).select_from(per_worker)
            ),
            "ledger transactions without entries": await session.scalar(
                select(func.count(LedgerTransaction.id)).where(~entries)
            ),
            "payout_in_flight balances that differ from their entries": await session.scalar(
                select(func.count(Account.id))
                .outerjoin(sums, sums.c.account_id == Account.id)
                .where(Account.kind == ledger.PAYOUT_IN_FLIGHT, Account.balance != func.coalesce(sums.c.total, 0))
            ),
        }


async def db_check(db: Database, url: str, workdir: Path) -> None:
    """`crowdshelf db check` as an operator runs it; code without that command: the ledger's own check."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.wiring.cli",
        "db",
        "check",
        env=child_env(DATABASE_URL=url),
        cwd=workdir,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = (await process.communicate())[0].decode()
    if "invalid choice: 'check'" in output:
        async with db.read() as session:
            found = await books.inconsistencies(session)
        print(f"no `crowdshelf db check` in this code; storage.ledger.inconsistencies found {len(found)}:")
        show(found)
        return
    lines = output.splitlines()
    print(f"crowdshelf db check: exit status {process.returncode}, {len(lines)} line(s):")
    show(lines)


def show(lines: list[str], most: int = 8) -> None:
    for line in lines[:most]:
        print(f"    {line}")
    if len(lines) > most:
        print(f"    ... and {len(lines) - most} more")


def notices(fake: FakeTelegram, chats: list[int], pattern: re.Pattern[str], owed: set[int]) -> Notices:
    """Payout notices Telegram took, counted per (chat, payout); `owed`: the payouts each chat must hear of."""
    taken = collections.Counter(
        (int(call.params["chat_id"]), int(match.group(1)))
        for call in fake.calls("sendMessage")
        if call.ok and int(call.params["chat_id"]) in chats and (match := pattern.search(call.params.get("text", "")))
    )
    return Notices(
        delivered=sum(taken.values()),
        duplicates=sum(count - 1 for count in taken.values()),
        missing=sum(1 for chat in chats for payout in owed if (chat, payout) not in taken),
    )


async def notice_figures(fake: FakeTelegram, db: Database) -> None:
    async with db.read() as session:
        made = list(await session.execute(select(Payout.id, Payout.worker_id)))
    admins = notices(fake, list(ADMINS), ADMIN_NOTICE, {payout for payout, _ in made})
    by_worker: dict[int, set[int]] = collections.defaultdict(set)
    for payout, worker_id in made:
        by_worker[worker_id].add(payout)
    told = [notices(fake, [worker_id], WORKER_NOTICE, owed) for worker_id, owed in by_worker.items()]
    print(
        f"payout notices to workers: {sum(n.delivered for n in told)} delivered, "
        f"{sum(n.duplicates for n in told)} duplicates, {sum(n.missing for n in told)} missing"
    )
    print(
        f"payout notices to the {len(ADMINS)} admins: {admins.delivered} delivered, "
        f"{admins.duplicates} duplicates, {admins.missing} missing"
    )
    if OutboxMessage is not None:
        async with db.read() as session:
            owed = await session.scalar(
                select(func.count(OutboxMessage.id)).where(OutboxMessage.state == OutboxState.PENDING)
            )
        print(f"messages still owed in the outbox (delivered at the next start): {owed}")
    failed = [call for call in fake.errors if call.method != "getUpdates"]
    print(f"Bot API calls refused (getUpdates conflicts aside): {len(failed)}")


async def main() -> None:
    args = parse()
    with tempfile.TemporaryDirectory(prefix="two-processes-") as scratch:
        workdir = args.logs or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        url = args.database_url or f"sqlite+aiosqlite:///{Path(scratch) / 'bench.db'}"
        await empty_database(url)
        db = connect(url)
        fake = FakeTelegram()
        await fake.start()
        try:
            for person in [*workers(args), *ADMINS]:
                fake.user(person, f"P{person}")
            await prepare(db, workers(args))
            print(f"code: {CODE}; database: {make_url(url).render_as_string(hide_password=True)}")
            print(f"{args.workers} workers with $0.15 available, threshold $0.10, 2 processes sweeping every 1 s")
            await run_bots(args, fake, db, url, workdir)
            for name, value in (await books_figures(db)).items():
                print(f"{name}: {value}")
            await db_check(db, url, workdir)
            await notice_figures(fake, db)
        finally:
            await fake.stop()
            await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
