"""The books' invariants: the ledger's own, and the product's on top of them (every payout holds its
money, in flight or paid, and no worker gives more answers than a batch's cap allows), with the
repair of what a posting cut short by a refusal left behind before postings were atomic.

`crowdshelf db check` reports them; the test suite checks them after every test.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, String, cast, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.money.ledger import PAYOUT_IN_FLIGHT, PAYOUT_PAID
from bot.money.payouts import REASON_LIMIT, PayoutReason
from bot.reasons import Reason, dumps
from storage import ledger
from storage.ledger import AccountTotal
from storage.models import Account, Assignment, Batch, LedgerEntry, LedgerTransaction, Payout
from storage.states import AssignmentStatus, PayoutStatus

# The reason a repaired phantom payout carries: no admin rejected it, the books did.
PHANTOM_REASON = dumps(Reason.of(PayoutReason.MOVED_NO_MONEY), REASON_LIMIT)


@dataclass(frozen=True)
class Phantom:
    """A requested payout whose money never went in flight: paying it would pay the same money twice."""

    payout_id: int
    worker_id: int
    amount_micros: int


@dataclass(frozen=True)
class Repair:
    """What `repair` changes: phantom payouts rejected, empty transactions deleted, caches set to the entries."""

    phantoms: list[Phantom]
    empty_transactions: list[tuple[int, str]]
    balances: list[AccountTotal]

    def __bool__(self) -> bool:
        return bool(self.phantoms or self.empty_transactions or self.balances)


async def problems(session: AsyncSession) -> list[str]:
    """Everything that breaks an invariant of the books; empty when they are sound."""
    return [
        *await ledger.inconsistencies(session),
        *await _payouts_without_their_money(session),
        *await _payouts_against_balances(session),
        *await _over_cap(session),
    ]


async def plan_repair(session: AsyncSession) -> Repair:
    """What `repair` would change, with the rows it changes locked (call it in a write transaction)."""
    phantoms = [
        Phantom(payout_id, worker_id, amount)
        for payout_id, worker_id, _, amount, moved in await session.execute(
            _request_moved().where(Payout.status == PayoutStatus.REQUESTED).with_for_update(of=Payout)
        )
        if moved == 0
    ]
    # A half-written posting only ever left a cache above its entries. Entries below zero are money
    # paid twice, for a person to settle: a cache set to them would refuse the worker's next payouts.
    balances = [
        account
        for account in await ledger.stale_balances(session)
        if account.total >= 0 or account.kind in ledger.MAY_GO_NEGATIVE
    ]
    return Repair(phantoms, await ledger.empty_transactions(session), balances)


async def repair(session: AsyncSession, plan: Repair, now: datetime) -> None:
    """Mend what `plan_repair` found, without moving money: a phantom payout is rejected (its request
    never took the money, so nothing goes back), empty transactions go, caches become their entries."""
    if plan.phantoms:
        await session.execute(
            update(Payout)
            .where(Payout.id.in_([phantom.payout_id for phantom in plan.phantoms]))
            .values(status=PayoutStatus.REJECTED, decided_at=now, reason=PHANTOM_REASON)
            .execution_options(synchronize_session=False)
        )
    await ledger.delete_empty_transactions(session, [tid for tid, _ in plan.empty_transactions])
    await ledger.set_balances_to_entries(session, [account.id for account in plan.balances])


def _request_moved() -> Select[int, int, str, int, int]:
    """Each payout beside what its request transaction put in flight (0 when it has no entries)."""
    request_key = literal("payout:") + cast(Payout.id, String) + literal(":request")
    moved = (
        select(func.coalesce(func.sum(LedgerEntry.amount), 0))
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .join(Account, Account.id == LedgerEntry.account_id)
        .where(LedgerTransaction.key == request_key, Account.kind == PAYOUT_IN_FLIGHT)
        .scalar_subquery()
    )
    return select(Payout.id, Payout.worker_id, Payout.status, Payout.amount_micros, moved).order_by(Payout.id)


async def _payouts_without_their_money(session: AsyncSession) -> list[str]:
    """A payout waiting or paid took its money out of the worker's reach when it was requested (a
    rejected one gave it back; a repaired phantom never had any)."""
    held = _request_moved().where(Payout.status.in_((PayoutStatus.REQUESTED, PayoutStatus.APPROVED)))
    return [
        f"payout {payout_id} of worker {worker} ({status}) is for {amount} but its request put {int(moved)} in flight"
        for payout_id, worker, status, amount, moved in await session.execute(held)
        if moved != amount
    ]


async def _payouts_against_balances(session: AsyncSession) -> list[str]:
    """Requested payouts add up to the worker's money in flight, approved ones to what was paid."""
    owed: dict[tuple[str, int], int] = defaultdict(int)
    rows = await session.execute(
        select(Payout.status, Payout.worker_id, func.sum(Payout.amount_micros))
        .where(Payout.status.in_((PayoutStatus.REQUESTED, PayoutStatus.APPROVED)))
        .group_by(Payout.status, Payout.worker_id)
    )
    for status, worker_id, total in rows:
        owed[PAYOUT_IN_FLIGHT if status == PayoutStatus.REQUESTED else PAYOUT_PAID, worker_id] = int(total)
    held = {
        (account.kind, account.owner_id): account.total
        for account in await ledger.account_totals(session)
        if account.kind in (PAYOUT_IN_FLIGHT, PAYOUT_PAID)
    }
    problems = []
    for kind, worker_id in sorted(owed.keys() | held.keys()):
        payouts, balance = owed.get((kind, worker_id), 0), held.get((kind, worker_id), 0)
        if payouts != balance:
            which = "requested" if kind == PAYOUT_IN_FLIGHT else "approved"
            problems.append(f"worker {worker_id} has {payouts} in {which} payouts but {balance} in {kind}")
    return problems


async def _over_cap(session: AsyncSession) -> list[str]:
    """No worker answers more of a batch's items than its cap (max_share of them; checks and quiz not counted)."""
    answers = func.count(Assignment.id)
    rows = await session.execute(
        select(Assignment.batch_id, Assignment.worker_id, answers, Batch.max_answers)
        .join(Batch, Batch.id == Assignment.batch_id)
        .where(
            Batch.max_answers.is_not(None),
            Assignment.status == AssignmentStatus.ANSWERED,
            Assignment.is_gold == False,  # noqa: E712
        )
        .group_by(Assignment.batch_id, Assignment.worker_id, Batch.max_answers)
        .having(answers > Batch.max_answers)
    )
    return [
        f"worker {worker_id} gave {count} answers in batch {batch_id}, over its cap of {cap}"
        for batch_id, worker_id, count, cap in rows
    ]
