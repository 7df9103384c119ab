"""The books' invariants beyond the ledger's own, and `crowdshelf db check [--repair]` on sound books
and on books broken as half-written payout requests left them."""

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from bot import work
from bot.money import books, ledger, payouts
from bot.wiring import cli
from bot.wiring.services import Services
from storage.clock import utcnow
from storage.db import Database
from storage.models import Account, Base, Batch, LedgerTransaction, Payout, TaxonomyNode
from storage.states import PayoutStatus
from tests.bot.test_payouts import add_worker, make_available
from tests.factories import SKILLETS, load_batch, products

WORKER = 1001
ADMIN = 4242
EARNED = 150_000  # $0.15
THRESHOLD = 100_000
Command = Callable[..., Awaitable[tuple[int, str]]]
CONFIG_KEYS = ("BOT_TOKEN", "DATABASE_URL", "ADMIN_IDS", "REQUESTER_IDS", "CURRENCY", "PAYOUT_THRESHOLD", "LOG_LEVEL")


@pytest.fixture
def crowdshelf(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Command:
    """Runs the `crowdshelf` command on the test's database; returns its exit status and what it printed."""
    for key in CONFIG_KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)

    async def run(*argv: str) -> tuple[int, str]:
        capsys.readouterr()
        status = await asyncio.to_thread(cli.main, list(argv))  # the command runs its own event loop
        return status, capsys.readouterr().out

    return run


async def problems(db: Database) -> list[str]:
    async with db.read() as session:
        return await books.problems(session)


async def everything(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    async with db.read() as session:
        return {
            table.name: sorted(tuple(row) for row in (await session.execute(select(table))).all())
            for table in Base.metadata.sorted_tables
            if table.name != TaxonomyNode.__tablename__
        }


async def broken_as_in_the_issue(db: Database) -> tuple[int, int]:
    """The worker earned $0.15 and has two payout requests for it, as two processes' sweeps left them
    before postings were atomic: the second request's transaction has no entries, yet its first leg
    doubled the in-flight cache. Returns (the real payout, the phantom)."""
    async with db.write() as session:
        await add_worker(session, WORKER, method=("paypal", "worker@example.com"))
        await make_available(session, WORKER, EARNED)
        real = await payouts.request(session, WORKER, THRESHOLD, "USD")
        phantom = Payout(
            worker_id=WORKER,
            amount_micros=EARNED,
            method_kind="paypal",
            method_address="worker@example.com",
            status=PayoutStatus.REQUESTED,
        )
        session.add(phantom)
        await session.flush()
        session.add(LedgerTransaction(key=f"payout:{phantom.id}:request", kind="payout_request"))
        await session.execute(
            update(Account)
            .where(Account.kind == ledger.PAYOUT_IN_FLIGHT, Account.owner_id == WORKER)
            .values(balance=Account.balance + EARNED)
        )
    return real.id, phantom.id


async def empty_transaction_id(db: Database, phantom: int) -> int:
    async with db.read() as session:
        return await session.scalar(
            select(LedgerTransaction.id).where(LedgerTransaction.key == f"payout:{phantom}:request")
        )


@pytest.mark.unsound_books
async def test_db_check_reports_the_books_broken_as_in_the_issue(db: Database, crowdshelf: Command) -> None:
    """Each broken invariant is one line, then a count and the way to mend them; exit 1; nothing written."""
    _, phantom = await broken_as_in_the_issue(db)
    empty = await empty_transaction_id(db, phantom)
    before = await everything(db)
    status, out = await crowdshelf("db", "check")
    assert status == 1
    assert out.splitlines() == [
        f"transaction {empty} (payout:{phantom}:request) has no entries",
        f"account payout_in_flight/{WORKER} caches 300000 but its entries sum to 150000",
        f"payout {phantom} of worker {WORKER} (requested) is for 150000 but its request put 0 in flight",
        f"worker {WORKER} has 300000 in requested payouts but 150000 in payout_in_flight",
        "4 broken invariants; `crowdshelf db check --repair` mends phantom payouts, "
        "transactions without entries and cached balances.",
    ]
    assert await everything(db) == before, "a check writes nothing"


async def test_db_check_repair_mends_the_books_without_moving_money(db: Database, crowdshelf: Command) -> None:
    """--repair shows its changes, then rejects the phantom, deletes the empty transaction and sets the
    cache to its entries, in one transaction; the real payout can then be paid, once."""
    real, phantom = await broken_as_in_the_issue(db)
    empty = await empty_transaction_id(db, phantom)
    status, out = await crowdshelf("db", "check", "--repair")
    assert status == 0
    assert out.splitlines() == [
        "Repairing, in one transaction:",
        f"  reject payout {phantom} of worker {WORKER} ($0.15): its request moved no money",
        f"  delete ledger transaction {empty} (payout:{phantom}:request): it has no entries",
        f"  set account payout_in_flight/{WORKER} from $0.30 to $0.15, the sum of its entries",
        "The books are sound.",
    ]
    assert await crowdshelf("db", "check") == (0, "The books are sound.\n")
    async with db.read() as session:
        statuses = dict((await session.execute(select(Payout.id, Payout.status))).all())
        balance = await ledger.worker_balance(session, WORKER)
    assert statuses == {real: PayoutStatus.REQUESTED, phantom: PayoutStatus.REJECTED}
    assert balance == ledger.WorkerBalance(pending=0, available=0, in_flight=EARNED, paid=0)
    async with db.write() as session:
        await payouts.decide(session, real, ADMIN, True, utcnow())
    async with db.read() as session:
        assert (await ledger.worker_balance(session, WORKER)).paid == EARNED


@pytest.mark.unsound_books
async def test_db_check_repair_leaves_money_paid_twice_to_a_person(db: Database, crowdshelf: Command) -> None:
    """An admin approved the phantom too: the worker was paid twice. --repair deletes the empty
    transaction but moves no money and leaves the in-flight cache above its negative entries, so the
    loss stays reported (exit 1) and the worker's next payouts are not refused for it."""
    real, phantom = await broken_as_in_the_issue(db)
    empty = await empty_transaction_id(db, phantom)
    for payout_id in (real, phantom):
        async with db.write() as session:
            await payouts.decide(session, payout_id, ADMIN, True, utcnow())
    left = [
        f"account payout_in_flight/{WORKER} caches 0 but its entries sum to -150000",
        f"payout {phantom} of worker {WORKER} (approved) is for 150000 but its request put 0 in flight",
        f"worker {WORKER} has 0 in requested payouts but -150000 in payout_in_flight",
    ]
    status, out = await crowdshelf("db", "check", "--repair")
    assert status == 1
    assert out.splitlines() == [
        "Repairing, in one transaction:",
        f"  delete ledger transaction {empty} (payout:{phantom}:request): it has no entries",
        *left,
        "3 broken invariants left that --repair does not mend: they need a person.",
    ]
    assert await problems(db) == left


async def test_db_check_on_sound_books(services: Services, db: Database, crowdshelf: Command) -> None:
    """Answers, a paid payout and a waiting one: one line saying the books are sound, exit 0; and
    --repair finds nothing to change."""
    await load_batch(services, products(4), overlap=1)
    async with db.write() as session:
        await add_worker(session, WORKER)
    skillets = (await services.taxonomies.get(1)).tree.find(SKILLETS).id
    task = await work.next_task(services, WORKER)
    await work.answer(services, WORKER, task.assignment_id, 0, str(skillets))
    async with db.write() as session:
        await make_available(session, WORKER, 2 * EARNED)
        first = await payouts.request(session, WORKER, THRESHOLD, "USD", EARNED)
        await payouts.decide(session, first.id, ADMIN, True, services.clock.now())
        await payouts.request(session, WORKER, THRESHOLD, "USD", EARNED)
    before = await everything(db)
    assert await crowdshelf("db", "check") == (0, "The books are sound.\n")
    assert await crowdshelf("db", "check", "--repair") == (0, "Nothing to repair.\nThe books are sound.\n")
    assert await everything(db) == before


@pytest.mark.unsound_books
async def test_payouts_must_hold_their_money(db: Database) -> None:
    """An approved payout that never took money from the worker shows as unpaid-for, twice over: its
    request moved nothing, and approved payouts exceed what was paid out."""
    async with db.write() as session:
        await add_worker(session, WORKER)
        session.add(
            Payout(worker_id=WORKER, amount_micros=EARNED, method_kind="paypal", method_address="w@example.com")
        )
        await session.flush()
        await session.execute(update(Payout).values(status=PayoutStatus.APPROVED))
        payout_id = await session.scalar(select(Payout.id))
    assert await problems(db) == [
        f"payout {payout_id} of worker {WORKER} (approved) is for {EARNED} but its request put 0 in flight",
        f"worker {WORKER} has {EARNED} in approved payouts but 0 in payout_paid",
    ]


@pytest.mark.unsound_books
async def test_answers_over_the_per_worker_cap_are_reported(services: Services, db: Database) -> None:
    """A worker with more answers in a batch than its cap (max_share of the items) is reported."""
    batch = await load_batch(services, products(4), overlap=1)
    async with db.write() as session:
        await add_worker(session, WORKER)
    skillets = (await services.taxonomies.get(1)).tree.find(SKILLETS).id
    task = await work.next_task(services, WORKER)
    for _ in range(2):
        task = (await work.answer(services, WORKER, task.assignment_id, 0, str(skillets))).next_task
    assert await problems(db) == []
    async with db.write() as session:
        await session.execute(update(Batch).values(max_answers=1))
    assert await problems(db) == [f"worker {WORKER} gave 2 answers in batch {batch.id}, over its cap of 1"]


def test_db_check_on_a_database_never_migrated_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in CONFIG_KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    assert cli.main(["db", "check"]) == 2
    printed = capsys.readouterr()
    assert printed.out == ""
    assert printed.err.splitlines() == [
        "DATABASE_URL holds no crowdshelf tables yet: run `crowdshelf db upgrade` first."
    ]
