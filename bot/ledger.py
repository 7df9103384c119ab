"""The money movements of the product, each one a balanced, idempotent ledger transaction."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import DomainError
from bot.money import format_money
from storage import ledger
from storage.ledger import PLATFORM_OWNER, Leg, Overdraft

PLATFORM = "platform"
REQUESTER_AVAILABLE = "requester_available"
REQUESTER_RESERVED = "requester_reserved"
WORKER_PENDING = "worker_pending"
WORKER_AVAILABLE = "worker_available"
PAYOUT_IN_FLIGHT = "payout_in_flight"
PAYOUT_PAID = "payout_paid"


class NotEnoughFunds(DomainError):
    pass


@dataclass(frozen=True)
class WorkerBalance:
    pending: int
    available: int
    in_flight: int
    paid: int


async def fund_requester(session: AsyncSession, key: str, requester_id: int, amount: int, memo: str = "") -> bool:
    """Money paid in from outside the platform lands in the requester's available funds."""
    return await ledger.post(
        session,
        key,
        "fund",
        [Leg(PLATFORM, PLATFORM_OWNER, -amount), Leg(REQUESTER_AVAILABLE, requester_id, amount)],
        memo,
    )


async def reserve_for_batch(session: AsyncSession, batch_id: int, requester_id: int, amount: int, currency: str) -> bool:
    """Set aside a launched batch's whole cost so answers can always be paid."""
    try:
        return await ledger.post(
            session,
            f"batch:{batch_id}:reserve",
            "reserve",
            [Leg(REQUESTER_AVAILABLE, requester_id, -amount), Leg(REQUESTER_RESERVED, requester_id, amount)],
            f"batch {batch_id}",
        )
    except Overdraft as short:
        raise NotEnoughFunds(
            f"Not enough funds: this batch needs {format_money(amount, currency)}, "
            f"{format_money(short.shortfall, currency)} more than you have available."
        ) from None


async def credit_answer(session: AsyncSession, assignment_id: int, requester_id: int, worker_id: int, amount: int) -> bool:
    """Pay an accepted answer from the batch's reserve into the worker's pending balance."""
    return await ledger.post(
        session,
        f"answer:{assignment_id}",
        "answer",
        [Leg(REQUESTER_RESERVED, requester_id, -amount), Leg(WORKER_PENDING, worker_id, amount)],
    )


async def worker_balance(session: AsyncSession, worker_id: int) -> WorkerBalance:
    found = await ledger.balances(session, worker_id, [WORKER_PENDING, WORKER_AVAILABLE, PAYOUT_IN_FLIGHT, PAYOUT_PAID])
    return WorkerBalance(
        pending=found[WORKER_PENDING],
        available=found[WORKER_AVAILABLE],
        in_flight=found[PAYOUT_IN_FLIGHT],
        paid=found[PAYOUT_PAID],
    )
