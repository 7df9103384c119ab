"""The double-entry ledger: idempotent, balanced postings that never overdraw, even under concurrency."""

import asyncio

import pytest
from sqlalchemy import func, select, update

from storage import ledger
from storage.db import Database, connect
from storage.ledger import PLATFORM_OWNER, Leg, Overdraft
from storage.models import Account, LedgerEntry, LedgerTransaction
from tests.statements import recorded

PLATFORM = "platform"
FUNDS = "requester_available"
EARNED = "worker_pending"
HELD = "escrow"  # sorts before EARNED


def fund(owner: int, amount: int) -> list[Leg]:
    return [Leg(PLATFORM, PLATFORM_OWNER, -amount), Leg(FUNDS, owner, amount)]


def spend(owner: int, worker: int, amount: int) -> list[Leg]:
    return [Leg(FUNDS, owner, -amount), Leg(EARNED, worker, amount)]


async def post(db: Database, key: str, legs: list[Leg]) -> bool:
    async with db.write() as session:
        return await ledger.post(session, key, "test", legs)


async def balance(db: Database, kind: str, owner: int) -> int:
    async with db.read() as session:
        return (await ledger.balances(session, owner, [kind]))[kind]


async def counts(db: Database) -> tuple[int, int]:
    async with db.read() as session:
        transactions = await session.scalar(select(func.count()).select_from(LedgerTransaction))
        entries = await session.scalar(select(func.count()).select_from(LedgerEntry))
    return transactions, entries


async def problems(db: Database) -> list[str]:
    async with db.read() as session:
        return await ledger.inconsistencies(session)


async def test_post_moves_money_and_keeps_books_balanced(db: Database) -> None:
    """A posting changes both balances by its legs and the books stay consistent."""
    assert await post(db, "fund:1", fund(1, 100))
    assert await post(db, "spend:1", spend(1, 2, 30))
    assert await balance(db, FUNDS, 1) == 70
    assert await balance(db, EARNED, 2) == 30
    assert await balance(db, PLATFORM, PLATFORM_OWNER) == -100
    assert await counts(db) == (2, 4)
    assert await problems(db) == []


async def test_post_is_idempotent_per_key(db: Database) -> None:
    """Posting the same key again returns False and changes nothing, even with different legs."""
    assert await post(db, "fund:1", fund(1, 100)) is True
    assert await post(db, "fund:1", fund(1, 100)) is False
    assert await post(db, "fund:1", fund(1, 5)) is False
    async with db.write() as session:  # twice inside one transaction, too
        assert await ledger.post(session, "fund:2", "test", fund(1, 1)) is True
        assert await ledger.post(session, "fund:2", "test", fund(1, 1)) is False
    assert await balance(db, FUNDS, 1) == 101
    assert await counts(db) == (2, 4)
    assert await problems(db) == []


@pytest.mark.parametrize(
    "legs",
    [
        [Leg(PLATFORM, PLATFORM_OWNER, -100), Leg(FUNDS, 1, 99)],
        [Leg(FUNDS, 1, 1)],
        [],
    ],
    ids=["off-by-one", "single-leg", "no-legs"],
)
async def test_unbalanced_postings_are_refused(db: Database, legs: list[Leg]) -> None:
    """Legs that do not sum to zero (or no legs at all) raise ValueError and write nothing."""
    with pytest.raises(ValueError):
        await post(db, "bad", legs)
    assert await counts(db) == (0, 0)
    assert await post(db, "bad", fund(1, 1)), "a refused posting must not burn its key"


async def test_overdraft_raises_and_leaves_nothing(db: Database) -> None:
    """Spending more than an account holds raises Overdraft with the shortfall; the rolled-back write
    leaves no transaction row, no entries and unchanged balances — also for earlier postings in the same write."""
    await post(db, "fund:1", fund(1, 100))
    before = await counts(db)
    with pytest.raises(Overdraft) as raised:
        async with db.write() as session:
            assert await ledger.post(session, "spend:ok", "test", spend(1, 2, 60))
            await ledger.post(session, "spend:too-much", "test", spend(1, 2, 50))
    assert raised.value.shortfall == 10
    assert raised.value.kind == FUNDS and raised.value.owner_id == 1
    assert await counts(db) == before
    assert await balance(db, FUNDS, 1) == 100
    assert await balance(db, EARNED, 2) == 0
    async with db.read() as session:
        keys = set(await session.scalars(select(LedgerTransaction.key)))
    assert keys == {"fund:1"}
    assert await problems(db) == []
    # The keys were not used up: the same postings go through once funds allow.
    await post(db, "fund:2", fund(1, 10))
    assert await post(db, "spend:too-much", spend(1, 2, 110))
    assert await balance(db, FUNDS, 1) == 0


async def test_a_refused_posting_leaves_nothing_when_its_caller_goes_on(db: Database) -> None:
    """A caller that catches Overdraft and commits keeps nothing of the refused posting: no transaction
    row, no entry, and no leg applied before the refused one (HELD sorts before EARNED, so its
    credit comes first), while the rest of the caller's work is kept."""
    await post(db, "fund:1", fund(1, 100))
    await post(db, "spend:1", spend(1, 2, 100))
    before = await counts(db)
    async with db.write() as session:
        with pytest.raises(Overdraft):
            await ledger.post(session, "hold:1", "test", [Leg(EARNED, 2, -150), Leg(HELD, 2, 150)])
        assert await ledger.post(session, "hold:2", "test", [Leg(EARNED, 2, -60), Leg(HELD, 2, 60)])
    assert await counts(db) == (before[0] + 1, before[1] + 2)
    assert await balance(db, HELD, 2) == 60
    assert await balance(db, EARNED, 2) == 40
    async with db.read() as session:
        keys = set(await session.scalars(select(LedgerTransaction.key)))
    assert "hold:1" not in keys
    assert await problems(db) == []
    # The refused key is not used up either.
    await post(db, "spend:2", [Leg(PLATFORM, PLATFORM_OWNER, -110), Leg(EARNED, 2, 110)])
    assert await post(db, "hold:1", [Leg(EARNED, 2, -150), Leg(HELD, 2, 150)])


async def test_only_platform_may_go_negative(db: Database) -> None:
    """The platform account may go below zero; any other account kind may not, not even by one micro."""
    await post(db, "fund:1", fund(1, 5))
    assert await balance(db, PLATFORM, PLATFORM_OWNER) == -5
    for kind in (FUNDS, EARNED, "worker_available", "requester_reserved", "payout_in_flight", "payout_paid"):
        with pytest.raises(Overdraft):
            await post(db, f"overdraw:{kind}", [Leg(kind, 7, -1), Leg(PLATFORM, PLATFORM_OWNER, 1)])
    with pytest.raises(Overdraft):
        await post(db, "overdraw:by-one", spend(1, 2, 6))
    assert await post(db, "exact", spend(1, 2, 5))
    assert await balance(db, FUNDS, 1) == 0
    assert await problems(db) == []


@pytest.mark.unsound_books
async def test_inconsistencies_detect_tampered_cached_balance(db: Database) -> None:
    """Changing a cached balance behind the ledger's back is reported, naming the account."""
    await post(db, "fund:1", fund(1, 100))
    async with db.write() as session:
        await session.execute(
            update(Account).where(Account.kind == FUNDS, Account.owner_id == 1).values(balance=Account.balance + 1)
        )
    found = await problems(db)
    assert len(found) == 1
    assert f"{FUNDS}/1" in found[0] and "101" in found[0] and "100" in found[0]


@pytest.mark.unsound_books
async def test_inconsistencies_detect_negative_and_unbalanced(db: Database) -> None:
    """A non-platform account below zero and a transaction whose entries do not sum to zero are both reported."""
    await post(db, "fund:1", fund(1, 100))
    async with db.write() as session:
        account = await session.scalar(select(Account.id).where(Account.kind == FUNDS, Account.owner_id == 1))
        transaction = await session.scalar(select(LedgerTransaction.id))
        session.add(LedgerEntry(transaction_id=transaction, account_id=account, amount=-150))
        await session.execute(update(Account).where(Account.id == account).values(balance=-50))
    found = await problems(db)
    assert any("sums to -150" in problem for problem in found)
    assert any("negative" in problem and f"{FUNDS}/1" in problem for problem in found)


async def spend_concurrently(databases: list[Database], attempts: int, amount: int, one_worker: bool) -> list[bool]:
    """Each attempt spends `amount` in its own write, spread over the databases; True where it went through.
    With `one_worker` every attempt pays the same, not yet existing, account (a race to create it)."""

    async def attempt(number: int) -> bool:
        worker = 100 if one_worker else 100 + number
        try:
            return await post(databases[number % len(databases)], f"spend:{number}", spend(1, worker, amount))
        except Overdraft:
            return False

    return await asyncio.wait_for(asyncio.gather(*(attempt(n) for n in range(attempts))), 60)


async def check_spent_exactly(db: Database, results: list[bool]) -> None:
    assert results.count(True) == 10
    assert await balance(db, FUNDS, 1) == 0
    async with db.read() as session:
        paid = await session.scalar(select(func.sum(Account.balance)).where(Account.kind == EARNED))
        lowest = await session.scalar(select(func.min(Account.balance)).where(Account.kind != PLATFORM))
    assert paid == 100
    assert lowest >= 0
    assert await counts(db) == (11, 22)
    assert await problems(db) == []


@pytest.mark.parametrize("one_worker", [False, True], ids=["many-workers", "one-worker"])
async def test_concurrent_spending_never_overdraws(db: Database, one_worker: bool) -> None:
    """50 concurrent postings of 10 each from a balance of 100: exactly 10 succeed and the balance ends at 0."""
    await post(db, "fund", fund(1, 100))
    results = await spend_concurrently([db], 50, 10, one_worker)
    await check_spent_exactly(db, results)


@pytest.mark.parametrize("one_worker", [False, True], ids=["many-workers", "one-worker"])
async def test_concurrent_spending_from_two_processes(db: Database, database_url: str, one_worker: bool) -> None:
    """The same race through two separate Database objects sharing the database (two bot processes):
    exactly 10 of 50 postings succeed and nothing goes negative."""
    await post(db, "fund", fund(1, 100))
    other = connect(database_url)
    try:
        results = await spend_concurrently([db, other], 50, 10, one_worker)
    finally:
        await other.dispose()
    await check_spent_exactly(db, results)


async def test_a_posting_costs_few_statements(db: Database) -> None:
    """PostgreSQL: one writing statement, after a locking read when a leg could overdraw (the first posting
    on a new account creates it in a savepoint first); SQLite: three statements in a savepoint, whatever
    accounts are new."""
    postgresql = db.engine.dialect.name == "postgresql"
    for key, legs in (("fund:1", fund(1, 100)), ("spend:new", spend(1, 2, 30)), ("spend:old", spend(1, 2, 30))):
        async with db.write() as session:
            with recorded(db.engine) as posting:
                assert await ledger.post(session, key, "test", legs)
        kinds = [statement.kind for statement in posting.statements]
        if postgresql:
            expected = {
                "fund:1": ["WITH"],  # nothing to overdraw: no lock needed
                "spend:new": ["SELECT", "SAVEPOINT", "INSERT", "SELECT", "WITH", "RELEASE"],
                "spend:old": ["SELECT", "WITH"],
            }
            assert kinds == expected[key], posting.listing()
        else:
            assert kinds == ["SAVEPOINT", "INSERT", "WITH", "WITH", "RELEASE"], posting.listing()
    assert await balance(db, EARNED, 2) == 60
    assert await problems(db) == []


async def test_a_posting_checked_after_it_is_written_posts_once_and_an_overdraft_fails_its_transaction(
    db: Database,
) -> None:
    """post_or_fail writes first and checks the balances it returns: a posted key is a no-op, and an
    overdraft raises with the posting written, which the transaction's rollback takes back whole."""
    assert await post(db, "fund:1", fund(1, 100))
    async with db.write() as session:
        posted = await ledger.post_or_fail(session, "spend:1", "test", spend(1, 2, 9))
        assert await ledger.post_or_fail(session, "spend:1", "test", spend(1, 2, 9)) is None
    assert posted == {(FUNDS, 1): 91, (EARNED, 2): 9}
    with pytest.raises(Overdraft):
        async with db.write() as session:
            await ledger.post_or_fail(session, "spend:2", "test", spend(1, 2, 92))
    assert await balance(db, FUNDS, 1) == 91 and await balance(db, EARNED, 2) == 9
    assert await counts(db) == (2, 4)
    assert await problems(db) == []
