"""Posting to the double-entry ledger: one transaction per movement, entries summing to zero.

Each transaction carries an idempotency key; posting the same key twice is a no-op.
Account balances are cached on the account row and moved in the same statements as the entries are
written, after a check that nothing goes below zero, made on rows no one else can change meanwhile
(locked on PostgreSQL; SQLite has one writer at a time).
A posting is all or nothing by itself (one statement on PostgreSQL, a savepoint on SQLite): whatever
its caller does with a refusal, no transaction row, leg or entry of it stays behind. An answer's credit
(`post_or_fail`, in a transaction that a refusal rolls back whole) is checked after it is written: one
statement on PostgreSQL, three on SQLite.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Integer,
    Row,
    String,
    TextClause,
    TextualSelect,
    bindparam,
    delete,
    exists,
    func,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

from storage.clock import utcnow
from storage.models import Account, LedgerEntry, LedgerTransaction, UTCDateTime

PLATFORM_OWNER = 0
# Only the platform's own account may go negative: it is the world outside the ledger.
MAY_GO_NEGATIVE = frozenset({"platform"})


@dataclass(frozen=True)
class Leg:
    kind: str
    owner_id: int
    amount: int


class Overdraft(Exception):
    """A posting would take an account below zero; nothing of it was written."""

    def __init__(self, kind: str, owner_id: int, balance: int, amount: int) -> None:
        super().__init__(f"{kind} of {owner_id} holds {balance}, cannot take {-amount}")
        self.kind = kind
        self.owner_id = owner_id
        self.shortfall = -amount - balance


async def post(session: AsyncSession, key: str, kind: str, legs: Sequence[Leg], memo: str = "") -> bool:
    """Post a balanced transaction once per key. Returns False if the key was already posted.

    On Overdraft nothing of the posting is written, and the caller's transaction may go on.
    """
    return await post_with_balances(session, key, kind, legs, memo) is not None


async def post_with_balances(
    session: AsyncSession, key: str, kind: str, legs: Sequence[Leg], memo: str = ""
) -> dict[tuple[str, int], int] | None:
    """`post`, returning each leg's account balance after the posting by (kind, owner): a caller that
    shows a balance needs no second read. None if the key was already posted.

    A fixed lock order, (kind, owner), keeps concurrent postings on PostgreSQL free of deadlocks."""
    merged, values = _prepared(key, kind, legs, memo)
    if session.get_bind().dialect.name == "postgresql":
        return await _post_in_one_statement(session, merged, values)
    # SQLite runs one writer at a time, but has no writing WITH: three statements, made all or nothing
    # by a savepoint. The refusal comes after the transaction row is written, so the savepoint takes it back.
    async with session.begin_nested():
        return await _post_in_three_statements(session, merged, values)


async def post_or_fail(
    session: AsyncSession, key: str, kind: str, legs: Sequence[Leg], memo: str = ""
) -> dict[tuple[str, int], int] | None:
    """`post_with_balances` for a caller whose transaction ends at any error: the posting is written first
    and checked on the balances it returns, with no lock taken before it and no savepoint. On Overdraft it
    stays written, for the caller's rollback to take back.

    Its accounts are locked only from its own statement to the end of the transaction: an account that
    many transactions post to (a requester's reserve pays every answer to their batches) is then held for
    the end of each, not all of it. One statement on PostgreSQL, three on SQLite."""
    merged, values = _prepared(key, kind, legs, memo)
    if session.get_bind().dialect.name == "postgresql":
        balances = await _write(session, merged, values)
        if balances is not None:
            _check(merged, balances, after=True)
        return balances
    return await _post_in_three_statements(session, merged, values)


def _prepared(
    key: str, kind: str, legs: Sequence[Leg], memo: str
) -> tuple[dict[tuple[str, int], int], dict[str, object]]:
    """The legs by account, and the parameters of the posting's statements."""
    if sum(leg.amount for leg in legs) != 0 or not legs:
        raise ValueError(f"unbalanced transaction {key}: {legs}")
    merged = _by_account(legs)
    values: dict[str, object] = {"key": key, "kind": kind, "memo": memo[:512], "now": utcnow()}
    for number, (account, amount) in enumerate(merged.items()):
        values |= {f"kind_{number}": account[0], f"owner_{number}": account[1], f"amount_{number}": amount}
    return merged, values


def _by_account(legs: Sequence[Leg]) -> dict[tuple[str, int], int]:
    """The legs' amounts by account (kind, owner) in lock order; two legs on one account are one move."""
    merged: dict[tuple[str, int], int] = {}
    for leg in sorted(legs, key=lambda leg: (leg.kind, leg.owner_id)):
        merged[leg.kind, leg.owner_id] = merged.get((leg.kind, leg.owner_id), 0) + leg.amount
    return merged


def _guarded(account: tuple[str, int], amount: int) -> bool:
    """Whether this move may take the account below zero, and so must be checked."""
    return amount < 0 and account[0] not in MAY_GO_NEGATIVE


def _check(merged: dict[tuple[str, int], int], balances: dict[tuple[str, int], int], after: bool) -> None:
    """Raise Overdraft for the first move that leaves its account below zero (`balances` are before the
    posting, or with `after` once it is applied); a missing account holds nothing."""
    for account, amount in merged.items():
        if _guarded(account, amount):
            before = balances.get(account, 0) - (amount if after and account in balances else 0)
            if before + amount < 0:
                raise Overdraft(account[0], account[1], before, amount)


_statements: dict[tuple[str, int], TextualSelect | TextClause] = {}  # built once per shape: (which, number of accounts)


def _statement(which: str, accounts: int) -> TextualSelect | TextClause:
    if (which, accounts) not in _statements:
        _statements[which, accounts] = _BUILDERS[which](accounts)
    return _statements[which, accounts]


def _pairs(accounts: int) -> str:
    return ", ".join(f"(:kind_{n}, CAST(:owner_{n} AS BIGINT))" for n in range(accounts))


def _legs(accounts: int) -> str:
    return ", ".join(f"(:kind_{n}, CAST(:owner_{n} AS BIGINT), CAST(:amount_{n} AS BIGINT))" for n in range(accounts))


_INSERT_TRANSACTION = (
    "INSERT INTO ledger_transactions (key, kind, memo, created_at) VALUES (:key, :kind, :memo, :now) "
    "ON CONFLICT (key) DO NOTHING RETURNING id"
)
_UPSERT_ACCOUNTS = (
    "INSERT INTO accounts (kind, owner_id, balance) SELECT kind, owner_id, amount FROM legs {where} "
    "ORDER BY kind, owner_id ON CONFLICT (kind, owner_id) DO UPDATE SET balance = accounts.balance + excluded.balance "
    "RETURNING id, kind, owner_id, balance"
)
_RESULT_COLUMNS: dict[str, TypeEngine[Any]] = {"kind": String(), "owner_id": BigInteger(), "balance": BigInteger()}


def _lock_accounts(accounts: int) -> TextualSelect | TextClause:
    """PostgreSQL: the posting's accounts, locked in lock order, and whether the key was posted; no row
    (and no lock) unless every account exists. Locking those that exist would take them out of order
    (a new one sorts anywhere), and two postings that each hold what the other waits for deadlock."""
    pairs = _pairs(accounts)
    return text(
        "SELECT kind, owner_id, balance, EXISTS (SELECT 1 FROM ledger_transactions WHERE key = :key) AS posted "
        f"FROM accounts WHERE (kind, owner_id) IN ({pairs}) "
        f"AND (SELECT count(*) FROM accounts WHERE (kind, owner_id) IN ({pairs})) = {accounts} "
        "ORDER BY kind, owner_id FOR UPDATE"
    ).columns(**_RESULT_COLUMNS, posted=Boolean())


def _create_accounts(accounts: int) -> TextClause:
    """PostgreSQL: the posting's accounts that do not exist yet, empty (waiting for a concurrent creator)."""
    return text(
        "INSERT INTO accounts (kind, owner_id, balance) SELECT kind, owner_id, 0 "
        f"FROM (VALUES {_legs(accounts)}) AS legs (kind, owner_id, amount) ORDER BY kind, owner_id "
        "ON CONFLICT (kind, owner_id) DO NOTHING"
    )


def _post_all(accounts: int) -> TextualSelect | TextClause:
    """PostgreSQL: the whole posting in one statement, so all of it or none; nothing once the key is posted."""
    return (
        text(
            f"WITH tx AS ({_INSERT_TRANSACTION}), legs (kind, owner_id, amount) AS (VALUES {_legs(accounts)}), "
            f"moved AS ({_UPSERT_ACCOUNTS.format(where='WHERE EXISTS (SELECT 1 FROM tx)')}), "
            "entries AS (INSERT INTO ledger_entries (transaction_id, account_id, amount) "
            "SELECT tx.id, moved.id, legs.amount FROM tx, moved JOIN legs USING (kind, owner_id)) "
            "SELECT kind, owner_id, balance FROM moved"
        )
        .bindparams(bindparam("now", type_=UTCDateTime()))
        .columns(**_RESULT_COLUMNS)
    )


def _insert_transaction(accounts: int) -> TextualSelect | TextClause:
    return text(_INSERT_TRANSACTION).bindparams(bindparam("now", type_=UTCDateTime())).columns(id=Integer())


def _move(accounts: int) -> TextualSelect | TextClause:
    """SQLite: every leg on its account, created with the leg's amount when it is new."""
    # SQLite needs a WHERE before ON CONFLICT in an INSERT … SELECT, to tell it from a join's ON.
    upsert = _UPSERT_ACCOUNTS.format(where="WHERE true")
    return text(f"WITH legs (kind, owner_id, amount) AS (VALUES {_legs(accounts)}) {upsert}").columns(
        id=Integer(), **_RESULT_COLUMNS
    )


def _insert_entries(accounts: int) -> TextualSelect | TextClause:
    """SQLite: the entries, on the accounts the legs name."""
    return text(
        f"WITH legs (kind, owner_id, amount) AS (VALUES {_legs(accounts)}) "
        "INSERT INTO ledger_entries (transaction_id, account_id, amount) "
        "SELECT :transaction, accounts.id, legs.amount FROM legs JOIN accounts USING (kind, owner_id)"
    )


def _balances_of(rows: Sequence[Row[Any]]) -> dict[tuple[str, int], int]:
    """The accounts' balances a posting's statement returned, by (kind, owner), once the legs are moved."""
    return {(row.kind, row.owner_id): row.balance for row in rows}


_BUILDERS = {
    "lock": _lock_accounts,
    "create": _create_accounts,
    "post": _post_all,
    "transaction": _insert_transaction,
    "move": _move,
    "entries": _insert_entries,
}


async def _post_in_one_statement(
    session: AsyncSession, merged: dict[tuple[str, int], int], values: dict[str, object]
) -> dict[tuple[str, int], int] | None:
    """PostgreSQL: lock the accounts of a posting that may overdraw one (all of them, in lock order, so that
    no two postings wait on each other), check, then write everything in one statement. The first posting
    on a new account creates it first, in a savepoint, so a refusal leaves no empty account behind."""
    if not any(_guarded(account, amount) for account, amount in merged.items()):
        return await _write(session, merged, values)
    rows = (await session.execute(_statement("lock", len(merged)), values)).all()
    if rows:
        return await _check_and_write(session, merged, values, rows)
    async with session.begin_nested():
        await session.execute(_statement("create", len(merged)), values)
        rows = (await session.execute(_statement("lock", len(merged)), values)).all()
        return await _check_and_write(session, merged, values, rows)


async def _check_and_write(
    session: AsyncSession, merged: dict[tuple[str, int], int], values: dict[str, object], locked: Sequence[Row[Any]]
) -> dict[tuple[str, int], int] | None:
    if any(row.posted for row in locked):
        return None
    _check(merged, {(row.kind, row.owner_id): row.balance for row in locked}, after=False)
    return await _write(session, merged, values)


async def _write(
    session: AsyncSession, merged: dict[tuple[str, int], int], values: dict[str, object]
) -> dict[tuple[str, int], int] | None:
    rows = (await session.execute(_statement("post", len(merged)), values)).all()
    if not rows:  # the key was posted meanwhile (the transaction row's insert did nothing)
        return None
    return _balances_of(rows)


async def _post_in_three_statements(
    session: AsyncSession, merged: dict[tuple[str, int], int], values: dict[str, object]
) -> dict[tuple[str, int], int] | None:
    transaction = (await session.execute(_statement("transaction", 0), values)).scalar_one_or_none()
    if transaction is None:
        return None
    balances = _balances_of((await session.execute(_statement("move", len(merged)), values)).all())
    _check(merged, balances, after=True)
    await session.execute(_statement("entries", len(merged)), {**values, "transaction": transaction})
    return balances


async def balances(session: AsyncSession, owner_id: int, kinds: Iterable[str]) -> dict[str, int]:
    """Cached balances of one owner's accounts; absent accounts count as zero."""
    kinds = list(kinds)
    rows = await session.execute(
        select(Account.kind, Account.balance).where(Account.owner_id == owner_id, Account.kind.in_(kinds))
    )
    found = dict(rows.all())
    return {kind: found.get(kind, 0) for kind in kinds}


async def totals_by_kind(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(Account.kind, func.sum(Account.balance)).group_by(Account.kind))
    return {kind: int(total) for kind, total in rows}


async def inconsistencies(session: AsyncSession) -> list[str]:
    """Everything that breaks the ledger's invariants; empty when the books are sound."""
    problems = []
    unbalanced = await session.execute(
        select(LedgerEntry.transaction_id, func.sum(LedgerEntry.amount))
        .group_by(LedgerEntry.transaction_id)
        .having(func.sum(LedgerEntry.amount) != 0)
    )
    problems += [f"transaction {tid} sums to {total}" for tid, total in unbalanced]
    problems += [f"transaction {tid} ({key}) has no entries" for tid, key in await empty_transactions(session)]
    for account in await account_totals(session):
        name = f"account {account.kind}/{account.owner_id}"
        if account.cached != account.total:
            problems.append(f"{name} caches {account.cached} but its entries sum to {account.total}")
        if account.cached < 0 and account.kind not in MAY_GO_NEGATIVE:
            problems.append(f"{name} is negative: {account.cached}")
    return problems


@dataclass(frozen=True)
class AccountTotal:
    id: int
    kind: str
    owner_id: int
    cached: int  # the balance kept on the account row
    total: int  # the sum of its entries: the balance itself


_has_entries = exists().where(LedgerEntry.transaction_id == LedgerTransaction.id)


async def empty_transactions(session: AsyncSession) -> list[tuple[int, str]]:
    """Transactions (id, key) without entries: a posting cut short, whose key blocks the real one."""
    rows = await session.execute(
        select(LedgerTransaction.id, LedgerTransaction.key).where(~_has_entries).order_by(LedgerTransaction.id)
    )
    return [(tid, key) for tid, key in rows]


async def account_totals(session: AsyncSession, ids: Sequence[int] | None = None) -> list[AccountTotal]:
    """Each account's cached balance beside the sum of its entries (of the accounts `ids`, else all)."""
    entry_sums = select(LedgerEntry.account_id, func.sum(LedgerEntry.amount).label("total")).group_by(
        LedgerEntry.account_id
    )
    if ids is not None:
        entry_sums = entry_sums.where(LedgerEntry.account_id.in_(ids))
    totals = entry_sums.subquery()
    query = (
        select(Account.id, Account.kind, Account.owner_id, Account.balance, func.coalesce(totals.c.total, 0))
        .outerjoin(totals, totals.c.account_id == Account.id)
        .order_by(Account.kind, Account.owner_id)
    )
    if ids is not None:
        query = query.where(Account.id.in_(ids))
    # PostgreSQL sums BIGINTs as NUMERIC: back to int, as every amount is.
    return [
        AccountTotal(id_, kind, owner, cached, int(total))
        for id_, kind, owner, cached, total in await session.execute(query)
    ]


async def stale_balances(session: AsyncSession) -> list[AccountTotal]:
    """Accounts whose cached balance is not the sum of their entries, their rows locked and read again
    under the lock: a posting that commits meanwhile on PostgreSQL is counted, and none can follow."""
    stale = [account.id for account in await account_totals(session) if account.cached != account.total]
    if not stale:
        return []
    # In the postings' lock order (kind, owner), so a repair cannot deadlock with them.
    await session.execute(
        select(Account.id).where(Account.id.in_(stale)).order_by(Account.kind, Account.owner_id).with_for_update()
    )
    return [account for account in await account_totals(session, stale) if account.cached != account.total]


async def delete_empty_transactions(session: AsyncSession, ids: Sequence[int]) -> None:
    """Delete these transactions if they still have no entries: their keys become free for real postings."""
    await session.execute(delete(LedgerTransaction).where(LedgerTransaction.id.in_(ids), ~_has_entries))


async def set_balances_to_entries(session: AsyncSession, ids: Sequence[int]) -> None:
    """Set the cached balance of these accounts to the sum of their entries (lock them first)."""
    total = select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(LedgerEntry.account_id == Account.id)
    await session.execute(
        update(Account)
        .where(Account.id.in_(ids))
        .values(balance=total.scalar_subquery())
        .execution_options(synchronize_session=False)
    )
