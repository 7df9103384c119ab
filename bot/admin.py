"""Admin actions: funding requesters, roles, suspensions, platform stats; each one audited."""

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox, users
from bot.errors import ErrorCode, InvalidInput
from bot.money import ledger
from bot.money.amounts import as_decimal
from bot.outbox import Notice
from bot.quality import rules as quality
from bot.reasons import Reason, ReasonCode, dumps
from bot.wiring.config import Settings
from bot.wiring.services import Services
from storage import ledger as books
from storage.models import Assignment, AuditEntry, Payout, User
from storage.states import AssignmentStatus, PayoutStatus

ROLES = ("requester",)
REASON_LIMIT = 512  # User.suspended_reason's length


class AdminRefusal(ErrorCode):
    NOT_STOPPED = "admin_not_stopped"  # {user_id, batch_id}: not held or removed there
    NO_USER = "admin_no_user"  # {reference}
    AMOUNT_NOT_POSITIVE = "admin_amount_not_positive"
    NOT_A_REQUESTER = "admin_not_a_requester"  # {name, user_id}
    UNKNOWN_ROLE = "admin_unknown_role"  # {role, roles}


class SuspendReason(ReasonCode):
    BY_ADMIN = "suspended_by_admin"  # the admin gave no reason


@dataclass(frozen=True)
class Stats:
    active_workers_today: int
    answers_today: int
    money_by_account: dict[str, int]
    pending_payouts: int
    pending_payout_micros: int


@dataclass(frozen=True)
class AuditLine:
    at: datetime
    actor_id: int
    action: str
    target: str
    details: str


@dataclass(frozen=True)
class Named:
    """A user an admin named in a command."""

    id: int
    first_name: str | None


@dataclass(frozen=True)
class Funded:
    requester: Named
    posted: bool  # False: this very message funded them before


@dataclass(frozen=True)
class Suspended:
    user_id: int
    reason: Reason


async def refuse(services: Services, user_id: int, action: str, details: str) -> None:
    """Someone who is not an admin tried an admin action: the attempt is audited."""
    async with services.db.write() as session:
        await audit(session, user_id, "denied", action, details[:200])


async def fund_requester(services: Services, admin_id: int, reference: str, amount: int, key: str) -> Funded:
    """/fund: credit a requester once per `key` (derived from the admin's message)."""
    async with services.db.write() as session:
        user, posted = await fund(session, services.settings, admin_id, reference, amount, key)
        return Funded(Named(user.id, user.first_name), posted)


async def grant_role(services: Services, admin_id: int, reference: str, role: str, granted: bool) -> Named:
    """/grant and /revoke."""
    async with services.db.write() as session:
        user = await set_role(session, admin_id, reference, role, granted)
        return Named(user.id, user.first_name)


async def suspend_user(services: Services, admin_id: int, reference: str, reason: str) -> Suspended:
    async with services.db.write() as session:
        user, why = await suspend(session, admin_id, reference, reason, services.clock.now())
        return Suspended(user.id, why)


async def unsuspend_user(services: Services, admin_id: int, reference: str) -> int:
    """/unsuspend; returns the user's id."""
    async with services.db.write() as session:
        return (await unsuspend(session, admin_id, reference, services.clock.now())).id


async def reinstate_worker(services: Services, admin_id: int, reference: str, batch_id: int) -> int:
    """/reinstate: a worker held or removed in a batch may work on it again; returns their id."""
    now = services.clock.now()
    async with services.db.write() as session:
        user = await find_user(session, reference)
        if not await quality.reinstate(session, batch_id, user.id, now):
            raise InvalidInput(AdminRefusal.NOT_STOPPED, user_id=user.id, batch_id=batch_id)
        await audit(session, admin_id, "reinstate", str(user.id), f"batch {batch_id}")
        key = f"batch:{batch_id}:reopened:{user.id}:{now.isoformat()}"
        await outbox.owe(session, key, user.id, Notice.BATCH_REOPENED, batch_id=batch_id)
        return user.id


async def holds_waiting(services: Services, limit: int) -> list[quality.HeldWorker]:
    """/held: the holds waiting for an admin's look."""
    async with services.db.read() as session:
        return await quality.held_workers(session, limit)


async def decide_hold(
    services: Services, admin_id: int, batch_id: int, worker_id: int, remove: bool
) -> quality.Review | None:
    """An admin lets a held worker continue, or removes them; None when the hold was decided before."""
    now = services.clock.now()
    async with services.db.write() as session:
        review = await quality.review_hold(session, batch_id, worker_id, remove, now)
        if review is not None:
            details = f"batch {batch_id}" + (f", {review.rejected} rejected" if remove else "")
            await audit(session, admin_id, "hold_remove" if remove else "hold_continue", str(worker_id), details)
            key = f"hold:{batch_id}:{worker_id}:reviewed:{now.isoformat()}"
            await outbox.owe(session, key, worker_id, Notice.HOLD_OUTCOME, **asdict(review))
        return review


async def platform_stats(services: Services) -> Stats:
    async with services.db.read() as session:
        return await stats(session, services.clock.now())


async def audit_log(services: Services) -> list[AuditLine]:
    async with services.db.read() as session:
        return await recent_audit(session)


async def audit(session: AsyncSession, actor_id: int, action: str, target: str = "", details: str = "") -> None:
    session.add(AuditEntry(actor_id=actor_id, action=action[:64], target=target[:128], details=details[:1024]))


async def find_user(session: AsyncSession, reference: str) -> User:
    """A user by numeric id or @username, or a message saying who was not found."""
    reference = reference.strip()
    if reference.lstrip("-").isdigit():
        user = await session.get(User, int(reference))
    else:
        user = await session.scalar(select(User).where(func.lower(User.username) == reference.lstrip("@").lower()))
    if user is None:
        raise InvalidInput(AdminRefusal.NO_USER, reference=reference)
    return user


async def fund(
    session: AsyncSession, settings: Settings, admin_id: int, reference: str, amount: int, key: str
) -> tuple[User, bool]:
    """Credit a requester's available funds once per `key` (derived from the admin's message)."""
    if amount <= 0:
        raise InvalidInput(AdminRefusal.AMOUNT_NOT_POSITIVE)
    user = await find_user(session, reference)
    if not (user.is_requester or user.id in settings.requester_ids):
        name = users.display_name(user.id, user.username, user.first_name)
        raise InvalidInput(AdminRefusal.NOT_A_REQUESTER, name=name, user_id=user.id)
    posted = await ledger.fund_requester(session, key, user.id, amount, f"funded by admin {admin_id}")
    if posted:
        await audit(session, admin_id, "fund", str(user.id), f"{as_decimal(amount):f} {settings.currency}")
    return user, posted


async def set_role(session: AsyncSession, admin_id: int, reference: str, role: str, granted: bool) -> User:
    if role not in ROLES:
        raise InvalidInput(AdminRefusal.UNKNOWN_ROLE, role=role, roles=list(ROLES))
    user = await find_user(session, reference)
    user.is_requester = granted
    await audit(session, admin_id, "grant" if granted else "revoke", str(user.id), role)
    return user


async def suspend(
    session: AsyncSession, admin_id: int, reference: str, typed: str, now: datetime
) -> tuple[User, Reason]:
    """Suspend the user for the reason the admin typed (kept as typed), or for no reason given."""
    user = await find_user(session, reference)
    reason = Reason.typed(typed.strip()) if typed.strip() else Reason.of(SuspendReason.BY_ADMIN)
    user.suspended_reason = dumps(reason, REASON_LIMIT)
    await users.release_reservations(session, user.id)
    await audit(session, admin_id, "suspend", str(user.id), typed.strip())
    key = f"account:{user.id}:suspended:{now.isoformat()}"
    await outbox.owe(session, key, user.id, Notice.ACCOUNT_SUSPENDED, reason=reason.as_dict())
    return user, reason


async def unsuspend(session: AsyncSession, admin_id: int, reference: str, now: datetime) -> User:
    user = await find_user(session, reference)
    user.suspended_reason = None
    await audit(session, admin_id, "unsuspend", str(user.id))
    await outbox.owe(session, f"account:{user.id}:active:{now.isoformat()}", user.id, Notice.ACCOUNT_ACTIVE)
    return user


async def stats(session: AsyncSession, now: datetime) -> Stats:
    since = now - timedelta(days=1)
    answered_today = (Assignment.status == AssignmentStatus.ANSWERED, Assignment.answered_at >= since)
    workers, answers = (
        await session.execute(
            select(func.count(func.distinct(Assignment.worker_id)), func.count(Assignment.id)).where(*answered_today)
        )
    ).one()
    pending, pending_amount = (
        await session.execute(
            select(func.count(Payout.id), func.coalesce(func.sum(Payout.amount_micros), 0)).where(
                Payout.status == PayoutStatus.REQUESTED
            )
        )
    ).one()
    return Stats(int(workers), int(answers), await books.totals_by_kind(session), int(pending), int(pending_amount))


async def recent_audit(session: AsyncSession, limit: int = 20) -> list[AuditLine]:
    rows = await session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit))
    return [AuditLine(row.created_at, row.actor_id, row.action, row.target, row.details) for row in rows]
