"""Payout methods, payout requests and admins' decisions on them."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import users
from bot.batches.csv_files import csv_text
from bot.errors import DomainError, ErrorCode, InvalidInput, NotAllowed
from bot.money import ledger
from bot.money.amounts import MICROS
from bot.money.payout_methods import Method, normalise
from bot.reasons import Reason, ReasonCode, dumps, loads, loads_optional
from storage import assignments
from storage.models import Assignment, Payout, PayoutMethod, PayoutNotice, User
from storage.states import PayoutStatus

CENT = MICROS // 100
REASON_LIMIT = 512  # Payout.reason's length


class PayoutRefusal(ErrorCode):
    """Amounts in micros, with their {currency}."""

    SUSPENDED = "payout_suspended"  # {reason}: the suspension's
    WHOLE_CENTS = "payout_whole_cents"  # {suggested_micros}
    UNDER_THRESHOLD = "payout_under_threshold"  # {threshold_micros}: asked for less
    THRESHOLD_NOT_REACHED = "payout_threshold_not_reached"  # {threshold_micros, available_micros, missing_micros}
    NO_METHOD = "payout_no_method"
    NO_PAYOUT = "payout_unknown"  # {payout_id}
    ALREADY_DECIDED = "payout_already_decided"  # {payout_id, status}
    REFERENCE_NOT_APPROVED = "payout_reference_not_approved"


class PayoutReason(ReasonCode):
    """Why a payout was rejected, when no admin typed a reason."""

    NONE_GIVEN = "payout_no_reason_given"
    MOVED_NO_MONEY = "payout_moved_no_money"  # rejected by `crowdshelf db check --repair`


class AlreadyDecided(DomainError):
    pass


@dataclass(frozen=True)
class PayoutView:
    id: int
    worker_id: int
    worker_name: str
    amount_micros: int
    method: Method
    status: str
    requested_at: datetime
    decided_by: int | None
    reference: str | None
    reason: Reason | None


@dataclass(frozen=True)
class WorkerRecord:
    """What an admin wants to know before paying someone."""

    answers: int
    gold_answers: int  # one per question with gold of each graded answer
    gold_correct: int
    paid_before_micros: int
    payouts_before: int

    @property
    def accuracy(self) -> float | None:
        return self.gold_correct / self.gold_answers if self.gold_answers else None


async def current_method(session: AsyncSession, user_id: int) -> Method | None:
    row = await session.get(PayoutMethod, user_id)
    return Method(row.kind, row.address) if row else None


async def set_method(
    session: AsyncSession, user_id: int, kind: str, typed: str, now: datetime
) -> tuple[Method | None, Method]:
    """Validate and store the method; returns (previous, new)."""
    address = normalise(kind, typed)
    row = await session.get(PayoutMethod, user_id)
    previous = Method(row.kind, row.address) if row else None
    if row is None:
        session.add(PayoutMethod(user_id=user_id, kind=kind, address=address, updated_at=now))
    else:
        row.kind, row.address, row.updated_at = kind, address, now
    user = await session.get(User, user_id)
    if user is not None:
        user.reminded_method_at = None
    return previous, Method(kind, address)


async def request(
    session: AsyncSession, worker_id: int, threshold: int, currency: str, amount: int | None = None
) -> PayoutView:
    """Request a payout of `amount` (default: everything available), at or over the threshold."""
    user = await session.get(User, worker_id)
    if user is not None and user.suspended_reason:
        raise NotAllowed(PayoutRefusal.SUSPENDED, reason=loads(user.suspended_reason))
    available = (await ledger.worker_balance(session, worker_id)).available
    # Payment rails move whole cents; a sub-cent remainder stays available for next time.
    if amount is None:
        amount = available - available % CENT
    elif amount % CENT:
        raise InvalidInput(PayoutRefusal.WHOLE_CENTS, suggested_micros=amount - amount % CENT, currency=currency)
    elif amount < threshold:
        raise InvalidInput(PayoutRefusal.UNDER_THRESHOLD, threshold_micros=threshold, currency=currency)
    if amount < threshold or amount <= 0:
        raise InvalidInput(
            PayoutRefusal.THRESHOLD_NOT_REACHED,
            threshold_micros=threshold,
            available_micros=available,
            missing_micros=max(threshold - amount, 0),
            currency=currency,
        )
    method = await current_method(session, worker_id)
    if method is None:
        raise InvalidInput(PayoutRefusal.NO_METHOD)
    # The payout row and the money it holds, or neither: a caller that catches the refusal (the sweep)
    # and commits must not keep a payout without its money.
    async with session.begin_nested():
        payout = Payout(
            worker_id=worker_id,
            amount_micros=amount,
            method_kind=method.kind,
            method_address=method.address,
            status=PayoutStatus.REQUESTED,
        )
        session.add(payout)
        await session.flush()
        await ledger.hold_for_payout(session, payout.id, worker_id, amount, currency)
    return await view(session, payout.id)


async def decide(
    session: AsyncSession, payout_id: int, admin_id: int, approve: bool, now: datetime, note: str | None = None
) -> PayoutView:
    """Approve (note = external reference) or reject (note = the admin's reason, kept as typed). Exactly one
    decision ever counts."""
    payout = await session.scalar(select(Payout).where(Payout.id == payout_id).with_for_update())
    if payout is None:
        raise DomainError(PayoutRefusal.NO_PAYOUT, payout_id=payout_id)
    if payout.status != PayoutStatus.REQUESTED:
        raise AlreadyDecided(PayoutRefusal.ALREADY_DECIDED, payout_id=payout_id, status=payout.status)
    await ledger.settle_payout(session, payout.id, payout.worker_id, payout.amount_micros, approve)
    payout.status = PayoutStatus.APPROVED if approve else PayoutStatus.REJECTED
    payout.decided_at = now
    payout.decided_by = admin_id
    if approve:
        payout.reference = (note or None) and note[:256]
    else:
        reason = Reason.typed(note) if note else Reason.of(PayoutReason.NONE_GIVEN)
        payout.reason = dumps(reason, REASON_LIMIT)
    return await view(session, payout.id)


async def set_reference(session: AsyncSession, payout_id: int, reference: str) -> PayoutView:
    payout = await session.get(Payout, payout_id)
    if payout is None or payout.status != PayoutStatus.APPROVED:
        raise DomainError(PayoutRefusal.REFERENCE_NOT_APPROVED)
    payout.reference = reference.strip()[:256]
    return await view(session, payout_id)


async def view(session: AsyncSession, payout_id: int) -> PayoutView:
    row = (await session.execute(_with_worker().where(Payout.id == payout_id))).one()
    return _view(*row)


def _with_worker() -> Select[Payout, User | None]:
    return select(Payout, User).outerjoin(User, User.id == Payout.worker_id)


def _view(payout: Payout, user: User | None) -> PayoutView:
    name = users.display_name(payout.worker_id, user.username, user.first_name) if user else str(payout.worker_id)
    return PayoutView(
        id=payout.id,
        worker_id=payout.worker_id,
        worker_name=name,
        amount_micros=payout.amount_micros,
        method=Method(payout.method_kind, payout.method_address),
        status=payout.status,
        requested_at=payout.requested_at,
        decided_by=payout.decided_by,
        reference=payout.reference,
        reason=loads_optional(payout.reason),
    )


async def worker_record(session: AsyncSession, worker_id: int) -> WorkerRecord:
    counts = await assignments.answer_counts(session, Assignment.worker_id == worker_id)
    paid, count = (
        await session.execute(
            select(func.coalesce(func.sum(Payout.amount_micros), 0), func.count(Payout.id)).where(
                Payout.worker_id == worker_id, Payout.status == PayoutStatus.APPROVED
            )
        )
    ).one()
    return WorkerRecord(counts.answers, counts.gold, counts.gold_correct, int(paid), int(count))


async def queue(session: AsyncSession, status: str = PayoutStatus.REQUESTED, limit: int = 50) -> list[PayoutView]:
    """One query for the whole list, so an export of many payouts does not query per payout."""
    rows = await session.execute(_with_worker().where(Payout.status == status).order_by(Payout.id).limit(limit))
    return [_view(payout, user) for payout, user in rows]


async def record_notice(session: AsyncSession, payout_id: int, admin_id: int, message_id: int) -> None:
    """The admin's copy; a copy sent again (after a crash) replaces the first, whose buttons stay harmless."""
    await session.merge(PayoutNotice(payout_id=payout_id, admin_id=admin_id, message_id=message_id))


async def notices(session: AsyncSession, payout_id: int) -> list[tuple[int, int]]:
    rows = await session.execute(
        select(PayoutNotice.admin_id, PayoutNotice.message_id).where(PayoutNotice.payout_id == payout_id)
    )
    return [(admin, message) for admin, message in rows]


async def payout_of_notice(session: AsyncSession, admin_id: int, message_id: int) -> int | None:
    return await session.scalar(
        select(PayoutNotice.payout_id).where(PayoutNotice.admin_id == admin_id, PayoutNotice.message_id == message_id)
    )


def paypal_mass_payout_csv(payouts: list[PayoutView], currency: str, note: str) -> str:
    """PayPal's mass-payout upload: e-mail, amount, currency, reference id, `note` (the text layer's words
    to the payee); no header row."""
    lines: list[list[object]] = []
    for payout in payouts:
        if payout.method.kind != "paypal":
            continue
        amount = f"{Decimal(payout.amount_micros) / MICROS:.2f}"
        lines.append([payout.method.address, amount, currency.upper(), f"crowdshelf-{payout.id}", note])
    return csv_text(lines)
