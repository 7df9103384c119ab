"""Random sequences of money movements, checked against a model after every step.

A hypothesis state machine funds requesters, reserves for batches, credits answers, rejects and
releases credits, requests payouts and decides them, replays earlier postings and tries to
overdraw. After each step the database must hold sound books (every transaction balanced, the
whole ledger summing to zero, nothing but the platform negative, every key posted once, cached
balances equal to their entries) and exactly the balances and payouts the Python model expects.
"""

import asyncio
import itertools
import os
import shutil
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import InvalidInput, NotAllowed
from bot.money import ledger, payouts
from bot.money.amounts import MICROS
from bot.money.ledger import (
    PAYOUT_IN_FLIGHT,
    PAYOUT_PAID,
    PLATFORM,
    REQUESTER_AVAILABLE,
    REQUESTER_RESERVED,
    WORKER_AVAILABLE,
    WORKER_PENDING,
    NotEnoughFunds,
)
from bot.reasons import Reason, dumps
from storage import ledger as books
from storage.clock import utcnow
from storage.db import Database, connect
from storage.ledger import PLATFORM_OWNER, Overdraft
from storage.models import Account, Base, LedgerEntry, LedgerTransaction, Payout, User
from storage.states import PayoutStatus

T = TypeVar("T")
Legs = list[tuple[str, int, int]]

REQUESTERS = (101, 102)
WORKERS = (1, 2, 3)
WITH_METHOD = (1, 2)  # worker 3 starts without a payout method
SUSPENDABLE = (2, 3)  # worker 1 is never suspended, so payouts stay reachable
ADMIN = 500
CURRENCY = "USD"
CENT = MICROS // 100
THRESHOLD = 10 * CENT
# Whole currency units plus a random number of micros, so sub-cent remainders are common.
AMOUNT = st.tuples(st.integers(0, 10), st.integers(0, MICROS - 1)).map(lambda pair: max(pair[0] * MICROS + pair[1], 1))
# Amounts taken from a balance, in percent of it: mostly affordable, sometimes an overdraft.
SHARE = st.integers(1, 115)
RUN_SETTINGS = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@dataclass(frozen=True)
class Posting:
    """A movement that was posted once, and how to post it again under the same key."""

    key: str
    amount: int
    post: Callable[[AsyncSession, int], Awaitable[bool]]


@dataclass(frozen=True)
class Credit:
    """An answer's credit still pending with the worker."""

    assignment_id: int
    requester_id: int
    worker_id: int
    amount: int


@dataclass(frozen=True)
class Books:
    """What the database says, read in one session."""

    unbalanced: list[tuple[int, int]]
    thin_transactions: list[int]
    balance_total: int
    entry_total: int
    key_rows: int
    distinct_keys: int
    keys: set[str]
    balances: dict[tuple[str, int], int]
    payouts: dict[int, tuple[int, int, str]]
    problems: list[str]


async def read_books(session: AsyncSession) -> Books:
    """Everything the invariants look at, straight from the tables."""
    unbalanced = await session.execute(
        select(LedgerEntry.transaction_id, func.sum(LedgerEntry.amount))
        .group_by(LedgerEntry.transaction_id)
        .having(func.sum(LedgerEntry.amount) != 0)
    )
    entry_counts = (
        select(LedgerEntry.transaction_id, func.count().label("legs")).group_by(LedgerEntry.transaction_id).subquery()
    )
    thin = await session.scalars(
        select(LedgerTransaction.id)
        .outerjoin(entry_counts, entry_counts.c.transaction_id == LedgerTransaction.id)
        .where(func.coalesce(entry_counts.c.legs, 0) < 2)
    )
    accounts = await session.execute(select(Account.kind, Account.owner_id, Account.balance))
    payout_rows = await session.execute(select(Payout.id, Payout.worker_id, Payout.amount_micros, Payout.status))
    return Books(
        unbalanced=[(tid, int(total)) for tid, total in unbalanced],
        thin_transactions=list(thin),
        balance_total=int(await session.scalar(select(func.coalesce(func.sum(Account.balance), 0)))),
        entry_total=int(await session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0)))),
        key_rows=await session.scalar(select(func.count(LedgerTransaction.key))),
        distinct_keys=await session.scalar(select(func.count(func.distinct(LedgerTransaction.key)))),
        keys=set(await session.scalars(select(LedgerTransaction.key))),
        balances={(kind, owner): balance for kind, owner, balance in accounts},
        payouts={pid: (worker, amount, status) for pid, worker, amount, status in payout_rows},
        problems=await books.inconsistencies(session),
    )


class MoneyMachine(RuleBasedStateMachine):
    """The ledger and payout flow driven by random steps, mirrored by a model in Python."""

    async def open_database(self) -> Database:
        """A fresh, migrated, empty database for one example."""
        raise NotImplementedError  # each backend's subclass provides a fresh, migrated database

    async def close_database(self) -> None:
        await self.db.dispose()

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.db = self.loop.run_until_complete(self.open_database())
        self.ids = itertools.count(1)
        self.balances: Counter[tuple[str, int]] = Counter()
        self.keys: set[str] = set()
        self.postings: list[Posting] = []
        self.credits: list[Credit] = []
        self.requested: list[int] = []
        self.decided: list[int] = []
        self.payouts: dict[int, tuple[int, int, str]] = {}
        self.methods: set[int] = set(WITH_METHOD)
        self.suspended: set[int] = set()

        async def people(session: AsyncSession) -> None:
            session.add_all(User(id=worker, first_name=f"Worker {worker}") for worker in WORKERS)
            await session.flush()
            for worker in WITH_METHOD:
                await payouts.set_method(session, worker, "paypal", f"worker{worker}@example.com", utcnow())

        self.write(people)

    def teardown(self) -> None:
        try:
            self.loop.run_until_complete(self.close_database())
        finally:
            self.loop.close()

    # -- plumbing ---------------------------------------------------------------------------

    def write(self, action: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async def run() -> T:
            async with self.db.write() as session:
                return await action(session)

        return self.loop.run_until_complete(run())

    def read(self, action: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async def run() -> T:
            async with self.db.read() as session:
                return await action(session)

        return self.loop.run_until_complete(run())

    def portion(self, kind: str, owner: int, share: int) -> int:
        """`share` percent of the model's balance (over 100: an overdraft), at least one micro."""
        return max(self.balances[(kind, owner)] * share // 100, 1)

    def fits(self, legs: Legs) -> bool:
        return all(kind == PLATFORM or self.balances[(kind, owner)] + amount >= 0 for kind, owner, amount in legs)

    def apply(self, legs: Legs) -> None:
        assert self.fits(legs) and sum(amount for _, _, amount in legs) == 0
        for kind, owner, amount in legs:
            self.balances[(kind, owner)] += amount

    def attempt(
        self,
        key: str,
        amount: int,
        post: Callable[[AsyncSession, int], Awaitable[bool]],
        legs: Legs,
        refusal: type[Exception],
    ) -> bool:
        """Post if the model says it fits (it must succeed), else it must be refused."""
        if not self.fits(legs):
            with pytest.raises(refusal):
                self.write(lambda session: post(session, amount))
            return False
        assert self.write(lambda session: post(session, amount)) is True
        self.apply(legs)
        self.keys.add(key)
        self.postings.append(Posting(key, amount, post))
        return True

    def post_fund(self, requester: int, amount: int) -> None:
        key = f"fund:{next(self.ids)}"

        async def post(session: AsyncSession, value: int) -> bool:
            return await ledger.fund_requester(session, key, requester, value)

        legs = [(PLATFORM, PLATFORM_OWNER, -amount), (REQUESTER_AVAILABLE, requester, amount)]
        assert self.attempt(key, amount, post, legs, Overdraft)  # only the platform's side goes down

    def post_reserve(self, requester: int, share: int) -> None:
        amount = self.portion(REQUESTER_AVAILABLE, requester, share)
        batch_id = next(self.ids)

        async def post(session: AsyncSession, value: int) -> bool:
            return await ledger.reserve_for_batch(session, batch_id, requester, value, CURRENCY)

        legs = [(REQUESTER_AVAILABLE, requester, -amount), (REQUESTER_RESERVED, requester, amount)]
        self.attempt(f"batch:{batch_id}:reserve", amount, post, legs, NotEnoughFunds)

    def post_answer(self, requester: int, worker: int, share: int) -> None:
        amount = self.portion(REQUESTER_RESERVED, requester, share)
        assignment_id = next(self.ids)

        async def post(session: AsyncSession, value: int) -> bool:
            return await ledger.credit_answer(session, assignment_id, requester, worker, value) is not None

        legs = [(REQUESTER_RESERVED, requester, -amount), (WORKER_PENDING, worker, amount)]
        if self.attempt(f"answer:{assignment_id}", amount, post, legs, Overdraft):
            self.credits.append(Credit(assignment_id, requester, worker, amount))

    def post_reject(self, credit: Credit, into_reserve: bool) -> None:
        self.credits.remove(credit)

        async def post(session: AsyncSession, value: int) -> bool:
            return await ledger.reject_credit(
                session, credit.assignment_id, credit.worker_id, credit.requester_id, value, into_reserve
            )

        legs = [
            (WORKER_PENDING, credit.worker_id, -credit.amount),
            (REQUESTER_RESERVED if into_reserve else REQUESTER_AVAILABLE, credit.requester_id, credit.amount),
        ]
        assert self.attempt(f"answer:{credit.assignment_id}:reject", credit.amount, post, legs, Overdraft)

    def post_release(self, credit: Credit) -> None:
        self.credits.remove(credit)

        async def post(session: AsyncSession, value: int) -> bool:
            return await ledger.release_credit(session, credit.assignment_id, credit.worker_id, value)

        legs = [(WORKER_PENDING, credit.worker_id, -credit.amount), (WORKER_AVAILABLE, credit.worker_id, credit.amount)]
        assert self.attempt(f"answer:{credit.assignment_id}:release", credit.amount, post, legs, Overdraft)

    # -- rules ------------------------------------------------------------------------------

    @initialize(
        funding=st.lists(AMOUNT, min_size=len(REQUESTERS), max_size=len(REQUESTERS)),
        reserving=st.lists(st.integers(50, 100), min_size=len(REQUESTERS), max_size=len(REQUESTERS)),
        answers=st.lists(
            st.tuples(st.sampled_from(REQUESTERS), st.sampled_from(WORKERS), st.integers(5, 50)), max_size=8
        ),
        released=st.lists(st.booleans(), min_size=8, max_size=8),
    )
    def opening_balances(
        self, funding: list[int], reserving: list[int], answers: list[tuple[int, int, int]], released: list[bool]
    ) -> None:
        """Start from some funding, reserves, pending and available credits, all posted the ordinary way."""
        for requester, amount, share in zip(REQUESTERS, funding, reserving, strict=True):
            self.post_fund(requester, amount)
            self.post_reserve(requester, share)
        for requester, worker, share in answers:
            self.post_answer(requester, worker, share)
        for credit, release in zip(list(self.credits), released, strict=False):
            if release:
                self.post_release(credit)

    @rule(requester=st.sampled_from(REQUESTERS), amount=AMOUNT)
    def fund(self, requester: int, amount: int) -> None:
        """Money paid in always posts: the platform account is the only one allowed below zero."""
        self.post_fund(requester, amount)

    @rule(requester=st.sampled_from(REQUESTERS), share=SHARE)
    def reserve(self, requester: int, share: int) -> None:
        """A reservation posts if the requester can afford it, else NotEnoughFunds and nothing moves."""
        self.post_reserve(requester, share)

    @rule(requester=st.sampled_from(REQUESTERS), worker=st.sampled_from(WORKERS), share=SHARE)
    def answer(self, requester: int, worker: int, share: int) -> None:
        """An answer's credit posts from the reserve if it covers it, else Overdraft and nothing moves."""
        self.post_answer(requester, worker, share)

    @precondition(lambda self: self.credits)
    @rule(data=st.data(), into_reserve=st.booleans())
    def reject_credit(self, data: st.DataObject, into_reserve: bool) -> None:
        """Rejecting a pending credit returns it to the requester: into the reserve of a running
        batch, or to available funds."""
        self.post_reject(data.draw(st.sampled_from(self.credits)), into_reserve)

    @precondition(lambda self: self.credits)
    @rule(data=st.data())
    def release_credit(self, data: st.DataObject) -> None:
        """Releasing a pending credit makes it available to the worker."""
        self.post_release(data.draw(st.sampled_from(self.credits)))

    @rule(worker=st.sampled_from(WORKERS), extra=st.integers(1, MICROS))
    def overdraw_pending(self, worker: int, extra: int) -> None:
        """Releasing more than the worker's whole pending balance is refused."""
        amount = self.balances[(WORKER_PENDING, worker)] + extra
        assignment_id = next(self.ids)
        with pytest.raises(Overdraft):
            self.write(lambda session: ledger.release_credit(session, assignment_id, worker, amount))

    @rule(worker=st.sampled_from(WORKERS), share=st.none() | SHARE | st.just(0), cents=st.booleans())
    def request_payout(self, worker: int, share: int | None, cents: bool) -> None:
        """Everything available in whole cents (share None), or `share` percent of it as an explicit
        amount: rounded down to whole cents, or as it comes (refused unless it is whole cents)."""
        available = self.balances[(WORKER_AVAILABLE, worker)]
        amount = None if share is None else available * share // 100
        if amount is not None and cents:
            amount -= amount % CENT
        wanted = available - available % CENT if amount is None else amount

        def request() -> payouts.PayoutView:
            return self.write(lambda session: payouts.request(session, worker, THRESHOLD, CURRENCY, amount))

        refusal: type[Exception] | None = None
        if worker in self.suspended:
            refusal = NotAllowed
        elif worker not in self.methods or wanted < THRESHOLD or wanted <= 0 or wanted % CENT:
            refusal = InvalidInput
        elif wanted > available:
            refusal = NotEnoughFunds
        if refusal is not None:
            with pytest.raises(refusal):
                request()
            return
        view = request()
        assert (view.worker_id, view.amount_micros, view.status) == (worker, wanted, PayoutStatus.REQUESTED)
        assert view.id not in self.payouts
        self.apply([(WORKER_AVAILABLE, worker, -wanted), (PAYOUT_IN_FLIGHT, worker, wanted)])
        key = f"payout:{view.id}:request"
        self.keys.add(key)

        async def post(session: AsyncSession, value: int) -> bool:
            return await ledger.hold_for_payout(session, view.id, worker, value, CURRENCY)

        self.postings.append(Posting(key, wanted, post))
        self.payouts[view.id] = (worker, wanted, PayoutStatus.REQUESTED)
        self.requested.append(view.id)

    @precondition(lambda self: self.requested)
    @rule(data=st.data(), approve=st.booleans())
    def decide(self, data: st.DataObject, approve: bool) -> None:
        """Approval moves the in-flight money to paid, rejection back to available."""
        payout_id = data.draw(st.sampled_from(self.requested))
        worker, amount, _ = self.payouts[payout_id]
        view = self.write(lambda session: payouts.decide(session, payout_id, ADMIN, approve, utcnow(), "note"))
        status = PayoutStatus.APPROVED if approve else PayoutStatus.REJECTED
        assert (view.id, view.status, view.decided_by) == (payout_id, status, ADMIN)
        self.apply(
            [(PAYOUT_IN_FLIGHT, worker, -amount), (PAYOUT_PAID if approve else WORKER_AVAILABLE, worker, amount)]
        )
        key = f"payout:{payout_id}:{'approve' if approve else 'reject'}"
        self.keys.add(key)

        async def post(session: AsyncSession, value: int) -> bool:
            return await ledger.settle_payout(session, payout_id, worker, value, approve)

        self.postings.append(Posting(key, amount, post))
        self.payouts[payout_id] = (worker, amount, status)
        self.requested.remove(payout_id)
        self.decided.append(payout_id)

    @precondition(lambda self: self.decided)
    @rule(data=st.data(), approve=st.booleans())
    def decide_again(self, data: st.DataObject, approve: bool) -> None:
        """A second decision on a decided payout is refused and moves nothing."""
        payout_id = data.draw(st.sampled_from(self.decided))
        with pytest.raises(payouts.AlreadyDecided):
            self.write(lambda session: payouts.decide(session, payout_id, ADMIN + 1, approve, utcnow(), "late"))

    @precondition(lambda self: self.postings)
    @rule(data=st.data(), change=st.integers(-CENT, CENT))
    def replay(self, data: st.DataObject, change: int) -> None:
        """Posting an earlier key again, even with another amount, posts nothing."""
        posting = data.draw(st.sampled_from(self.postings))
        assert self.write(lambda session: posting.post(session, max(posting.amount + change, 1))) is False

    @rule(worker=st.sampled_from(WORKERS), kind=st.sampled_from(["paypal", "giftcard"]))
    def set_method(self, worker: int, kind: str) -> None:
        """Setting a payout method returns the previous one (None the first time) and moves no money."""
        previous, current = self.write(
            lambda session: payouts.set_method(session, worker, kind, f"w{worker}.{kind}@example.com", utcnow())
        )
        assert (previous is None) == (worker not in self.methods)
        assert current.kind == kind
        self.methods.add(worker)

    @rule(worker=st.sampled_from(SUSPENDABLE), suspend=st.booleans())
    def suspend(self, worker: int, suspend: bool) -> None:
        """An admin suspends or reinstates a worker; a suspended worker's payout requests are refused."""
        reason = dumps(Reason.typed("testing"), 512) if suspend else None

        async def change(session: AsyncSession) -> None:
            await session.execute(update(User).where(User.id == worker).values(suspended_reason=reason))

        self.write(change)
        if suspend:
            self.suspended.add(worker)
        else:
            self.suspended.discard(worker)

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def books_are_sound_and_match_the_model(self) -> None:
        """Sound books (balanced, zero-sum, keys once, caches right, nothing negative) equal to the model."""
        found = self.read(read_books)
        assert found.unbalanced == []
        assert found.thin_transactions == []
        assert found.balance_total == 0
        assert found.entry_total == 0
        assert found.key_rows == found.distinct_keys
        assert found.keys == self.keys
        assert found.problems == []
        negative = {account: balance for account, balance in found.balances.items() if balance < 0}
        assert set(negative) <= {(PLATFORM, PLATFORM_OWNER)}
        assert {a: b for a, b in found.balances.items() if b} == {a: b for a, b in self.balances.items() if b}
        assert found.payouts == self.payouts


def sqlite_machine(template: Path, directory: Path) -> type[MoneyMachine]:
    files = itertools.count()

    class SQLiteMoneyMachine(MoneyMachine):
        async def open_database(self) -> Database:
            self.path = directory / f"money-{next(files)}.db"
            shutil.copy(template, self.path)
            return connect(f"sqlite+aiosqlite:///{self.path}")

        async def close_database(self) -> None:
            await self.db.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    return SQLiteMoneyMachine


def postgres_machine(url: str) -> type[MoneyMachine]:
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)

    class PostgresMoneyMachine(MoneyMachine):
        async def open_database(self) -> Database:
            database = connect(url)
            async with database.engine.begin() as connection:
                await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            return database

    return PostgresMoneyMachine


def test_money_invariants_sqlite(sqlite_template: Path, tmp_path: Path) -> None:
    """On SQLite, every random sequence of money movements keeps the books sound and equal to the model."""
    run_state_machine_as_test(sqlite_machine(sqlite_template, tmp_path), settings=RUN_SETTINGS)


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="set TEST_DATABASE_URL to run on PostgreSQL")
def test_money_invariants_postgresql(request: pytest.FixtureRequest) -> None:
    """On PostgreSQL, every random sequence of money movements keeps the books sound and equal to the model."""
    url: str = request.getfixturevalue("postgres_migrated")
    run_state_machine_as_test(postgres_machine(url), settings=RUN_SETTINGS)
