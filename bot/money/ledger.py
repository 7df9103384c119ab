"""The money movements of the product, each one a balanced, idempotent ledger transaction."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import DomainError, ErrorCode
from storage import ledger
from storage.ledger import PLATFORM_OWNER, Leg, Overdraft

PLATFORM = "platform"
REQUESTER_AVAILABLE = "requester_available"
REQUESTER_RESERVED = "requester_reserved"
WORKER_PENDING = "worker_pending"
WORKER_AVAILABLE = "worker_available"
PAYOUT_IN_FLIGHT = "payout_in_flight"
PAYOUT_PAID = "payout_paid"


class FundsRefusal(ErrorCode):
    """Money that is not there; amounts in micros, with their {currency}."""

    FOR_BATCH = "funds_short_for_batch"  # {needed_micros, short_micros}
    FOR_RESTORE = "funds_short_for_restore"
    FOR_PAYOUT = "funds_short_for_payout"  # {available_micros, amount_micros}


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


async def reserve_for_batch(
    session: AsyncSession, batch_id: int, requester_id: int, amount: int, currency: str, top_up: str = ""
) -> bool:
    """Set aside a launched batch's whole cost so answers can always be paid; a `top_up` (naming
    the request, so a repeat of it posts nothing) adds to the reserve of a running batch."""
    try:
        return await ledger.post(
            session,
            f"batch:{batch_id}:reserve" + (f":{top_up}" if top_up else ""),
            "reserve",
            [Leg(REQUESTER_AVAILABLE, requester_id, -amount), Leg(REQUESTER_RESERVED, requester_id, amount)],
            f"batch {batch_id}",
        )
    except Overdraft as short:
        raise NotEnoughFunds(
            FundsRefusal.FOR_BATCH, needed_micros=amount, short_micros=short.shortfall, currency=currency
        ) from None


# An answer's credit: from the requester's reserve (the payer) to the worker's pending balance (the payee).
ANSWER_PAYER, ANSWER_PAYEE = REQUESTER_RESERVED, WORKER_PENDING


def answer_key(assignment_id: int) -> str:
    """The idempotency key of an answer's credit: a replayed answer never pays twice."""
    return f"answer:{assignment_id}"


async def credit_answer(
    session: AsyncSession, assignment_id: int, requester_id: int, worker_id: int, amount: int
) -> int | None:
    """Pay an accepted answer from the batch's reserve into the worker's pending balance, in a transaction
    that a refusal (Overdraft: a reserve that cannot pay) rolls back whole (storage.ledger.post_or_fail).

    Returns that pending balance after the credit, or None when this answer was credited before.
    """
    key = answer_key(assignment_id)
    legs = [Leg(ANSWER_PAYER, requester_id, -amount), Leg(ANSWER_PAYEE, worker_id, amount)]
    balances = await ledger.post_or_fail(session, key, "answer", legs)
    return balances[ANSWER_PAYEE, worker_id] if balances is not None else None


@dataclass(frozen=True)
class RequesterFunds:
    available: int
    reserved: int


async def requester_funds(session: AsyncSession, requester_id: int) -> RequesterFunds:
    found = await ledger.balances(session, requester_id, [REQUESTER_AVAILABLE, REQUESTER_RESERVED])
    return RequesterFunds(available=found[REQUESTER_AVAILABLE], reserved=found[REQUESTER_RESERVED])


async def worker_balance(session: AsyncSession, worker_id: int) -> WorkerBalance:
    found = await ledger.balances(session, worker_id, [WORKER_PENDING, WORKER_AVAILABLE, PAYOUT_IN_FLIGHT, PAYOUT_PAID])
    return WorkerBalance(
        pending=found[WORKER_PENDING],
        available=found[WORKER_AVAILABLE],
        in_flight=found[PAYOUT_IN_FLIGHT],
        paid=found[PAYOUT_PAID],
    )


async def release_credit(session: AsyncSession, answers: int | str, worker_id: int, amount: int) -> bool:
    """The review window passed: credits become available. `answers` names them: an id or a range."""
    return await ledger.post(
        session,
        f"answer:{answers}:release",
        "release",
        [Leg(WORKER_PENDING, worker_id, -amount), Leg(WORKER_AVAILABLE, worker_id, amount)],
    )


async def reject_credit(
    session: AsyncSession, assignment_id: int, worker_id: int, requester_id: int, amount: int, into_reserve: bool
) -> bool:
    """Quality control rejected the answer: its pending credit goes back to the requester, into the
    reserve of a batch still running (to pay for an answer in its place), else to available funds."""
    back_to = REQUESTER_RESERVED if into_reserve else REQUESTER_AVAILABLE
    return await ledger.post(
        session,
        f"answer:{assignment_id}:reject",
        "reject",
        [Leg(WORKER_PENDING, worker_id, -amount), Leg(back_to, requester_id, amount)],
    )


async def restore_credit(
    session: AsyncSession, assignment_id: int, worker_id: int, requester_id: int, amount: int, from_reserve: bool
) -> bool:
    """A rejection is undone (its gold was wrong): the credit goes back to the worker, available at
    once, out of the batch's reserve while it can pay, else out of the requester's available funds."""
    payer = REQUESTER_RESERVED if from_reserve else REQUESTER_AVAILABLE
    try:
        return await ledger.post(
            session,
            f"answer:{assignment_id}:restore",
            "restore",
            [Leg(payer, requester_id, -amount), Leg(WORKER_AVAILABLE, worker_id, amount)],
        )
    except Overdraft:
        raise NotEnoughFunds(FundsRefusal.FOR_RESTORE) from None


async def hold_for_payout(session: AsyncSession, payout_id: int, worker_id: int, amount: int, currency: str) -> bool:
    """A payout request takes the money out of reach, so it cannot be requested twice."""
    try:
        return await ledger.post(
            session,
            f"payout:{payout_id}:request",
            "payout_request",
            [Leg(WORKER_AVAILABLE, worker_id, -amount), Leg(PAYOUT_IN_FLIGHT, worker_id, amount)],
        )
    except Overdraft as short:
        available = amount - short.shortfall
        raise NotEnoughFunds(
            FundsRefusal.FOR_PAYOUT, available_micros=available, amount_micros=amount, currency=currency
        ) from None


async def settle_payout(session: AsyncSession, payout_id: int, worker_id: int, amount: int, approved: bool) -> bool:
    """Approval moves the money to paid; rejection returns it to the worker's available balance."""
    target = PAYOUT_PAID if approved else WORKER_AVAILABLE
    return await ledger.post(
        session,
        f"payout:{payout_id}:{'approve' if approved else 'reject'}",
        "payout_approve" if approved else "payout_reject",
        [Leg(PAYOUT_IN_FLIGHT, worker_id, -amount), Leg(target, worker_id, amount)],
    )


async def refund_batch(session: AsyncSession, batch_id: int, requester_id: int, amount: int) -> bool:
    """What a finished or cancelled batch did not spend goes back to the requester's available funds."""
    return await ledger.post(
        session,
        f"batch:{batch_id}:refund",
        "refund",
        [Leg(REQUESTER_RESERVED, requester_id, -amount), Leg(REQUESTER_AVAILABLE, requester_id, amount)],
    )
