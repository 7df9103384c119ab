"""Posting to the double-entry ledger: one transaction per movement, entries summing to zero.

Each transaction carries an idempotency key; posting the same key twice is a no-op.
Account balances are cached on the account row and updated in the same database transaction
with a guarded UPDATE, so a balance can never go below zero even under concurrency.
A posting is all or nothing by itself (a savepoint): whatever its caller does with a refusal,
no transaction row, leg or entry of it stays behind.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Account, LedgerEntry, LedgerTransaction
from storage.sql import PerDialect

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


# Built once: postings are the hottest writes (one per answer), and their shape never changes.
_accounts = Account.__table__
_transactions = LedgerTransaction.__table__
_insert_transaction = PerDialect(
    lambda dialect: dialect.insert(_transactions).on_conflict_do_nothing().returning(_transactions.c.id)
)
_insert_account = PerDialect(lambda dialect: dialect.insert(_accounts).on_conflict_do_nothing())
_insert_entries = LedgerEntry.__table__.insert()
_move = (
    update(_accounts)
    .where(_accounts.c.kind == bindparam("leg_kind"), _accounts.c.owner_id == bindparam("leg_owner"))
    .values(balance=_accounts.c.balance + bindparam("leg_amount"))
    .returning(_accounts.c.id, _accounts.c.balance)
)
_move_unless_overdrawn = _move.where(_accounts.c.balance + bindparam("leg_amount") >= 0)
_find_account = select(_accounts.c.balance).where(
    _accounts.c.kind == bindparam("leg_kind"), _accounts.c.owner_id == bindparam("leg_owner")
)


async def post(session: AsyncSession, key: str, kind: str, legs: Sequence[Leg], memo: str = "") -> bool:
    """Post a balanced transaction once per key. Returns False if the key was already posted.

    On Overdraft nothing of the posting is written, and the caller's transaction may go on.
    """
    return await post_with_balances(session, key, kind, legs, memo) is not None


async def post_with_balances(
    session: AsyncSession, key: str, kind: str, legs: Sequence[Leg], memo: str = ""
) -> dict[tuple[str, int], int] | None:
    """`post`, returning each leg's account balance after the posting by (kind, owner): a caller that
    shows a balance needs no second read. None if the key was already posted."""
    if sum(leg.amount for leg in legs) != 0 or not legs:
        raise ValueError(f"unbalanced transaction {key}: {legs}")
    # The refusal comes after the transaction row and the legs sorted before the refused one are
    # written: the savepoint takes them back, so a caller that catches it and commits keeps none.
    async with session.begin_nested():
        return await _post(session, key, kind, legs, memo)


async def _post(
    session: AsyncSession, key: str, kind: str, legs: Sequence[Leg], memo: str
) -> dict[tuple[str, int], int] | None:
    inserted = await session.execute(_insert_transaction(session), {"key": key, "kind": kind, "memo": memo[:512]})
    transaction_id = inserted.scalar_one_or_none()
    if transaction_id is None:
        return None
    balances: dict[tuple[str, int], int] = {}
    entries: list[dict[str, int]] = []
    # A fixed lock order keeps concurrent postings on PostgreSQL free of deadlocks.
    for leg in sorted(legs, key=lambda leg: (leg.kind, leg.owner_id)):
        account, balances[leg.kind, leg.owner_id] = await _apply(session, leg)
        entries.append({"transaction_id": transaction_id, "account_id": account, "amount": leg.amount})
    await session.execute(_insert_entries, entries)
    return balances


async def _apply(session: AsyncSession, leg: Leg) -> tuple[int, int]:
    """Move the leg's amount on its account in one guarded UPDATE; returns the account id and new balance."""
    moved = await _update_balance(session, leg)
    if moved is not None:
        return moved
    balance = (await session.execute(_find_account, _leg_parameters(leg))).scalar_one_or_none()
    if balance is not None:
        raise Overdraft(leg.kind, leg.owner_id, balance, leg.amount)
    # First use of this account: create it, then apply the leg (a concurrent creator is fine).
    await session.execute(_insert_account(session), {"kind": leg.kind, "owner_id": leg.owner_id, "balance": 0})
    moved = await _update_balance(session, leg)
    if moved is None:
        raise Overdraft(leg.kind, leg.owner_id, 0, leg.amount)
    return moved


async def _update_balance(session: AsyncSession, leg: Leg) -> tuple[int, int] | None:
    guarded = leg.kind not in MAY_GO_NEGATIVE and leg.amount < 0
    statement = _move_unless_overdrawn if guarded else _move
    row = (await session.execute(statement, _leg_parameters(leg))).first()
    return (row.id, row.balance) if row is not None else None


def _leg_parameters(leg: Leg) -> dict[str, object]:
    return {"leg_kind": leg.kind, "leg_owner": leg.owner_id, "leg_amount": leg.amount}


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
