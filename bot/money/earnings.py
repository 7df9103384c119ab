"""What a worker earned: totals by period and a yearly statement for taxes."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.batches.csv_files import csv_text
from bot.money.amounts import MICROS
from bot.wiring.services import Services
from storage.models import Assignment, Batch, Payout
from storage.states import AssignmentStatus, CreditState


@dataclass(frozen=True)
class Earnings:
    today: int
    week: int
    month: int
    lifetime: int


@dataclass(frozen=True)
class Overview:
    """/earnings: the totals, and the years a statement can be asked for (none: nothing earned yet)."""

    totals: Earnings
    years: list[int]


async def overview(services: Services, worker_id: int) -> Overview:
    async with services.db.read() as session:
        return Overview(await summary(session, worker_id, services.clock.now()), await years(session, worker_id))


async def statement(services: Services, worker_id: int, year: int) -> str:
    """The worker's earnings statement for a year, as CSV."""
    async with services.db.read() as session:
        return await statement_csv(session, worker_id, year, services.settings.currency)


def earned(worker_id: int) -> tuple[ColumnElement[bool], ...]:
    """The worker's answers that were paid and not taken back by quality control."""
    return (
        Assignment.worker_id == worker_id,
        Assignment.status == AssignmentStatus.ANSWERED,
        Assignment.credit_state != CreditState.REJECTED,
    )


def day_start(now: datetime) -> datetime:
    """Midnight UTC of `now`'s day: where "today" begins for every figure a worker sees."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


async def sum_rewards(session: AsyncSession, *where: ColumnElement[bool]) -> int:
    total = await session.execute(select(func.coalesce(func.sum(Assignment.reward_micros), 0)).where(*where))
    return int(total.scalar_one())


async def summary(session: AsyncSession, worker_id: int, now: datetime) -> Earnings:
    day, mine = day_start(now), earned(worker_id)
    week, month = day - timedelta(days=day.weekday()), day.replace(day=1)
    return Earnings(
        today=await sum_rewards(session, *mine, Assignment.answered_at >= day),
        week=await sum_rewards(session, *mine, Assignment.answered_at >= week),
        month=await sum_rewards(session, *mine, Assignment.answered_at >= month),
        lifetime=await sum_rewards(session, *mine),
    )


async def years(session: AsyncSession, worker_id: int) -> list[int]:
    """Years with any earnings, newest first."""
    stamps = await session.scalars(
        select(Assignment.answered_at).where(*earned(worker_id)).order_by(Assignment.answered_at)
    )
    return sorted({stamp.year for stamp in stamps if stamp is not None}, reverse=True)  # (all are answered)


async def statement_csv(session: AsyncSession, worker_id: int, year: int, currency: str) -> str:
    """One line per day and batch (date, batch, tasks, amount), then the year's payouts."""
    start, end = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    answers = await session.execute(
        select(Assignment.answered_at, Batch.name, Assignment.reward_micros)
        .join(Batch, Batch.id == Assignment.batch_id)
        .where(*earned(worker_id), Assignment.answered_at >= start, Assignment.answered_at < end)
        .order_by(Assignment.answered_at)
    )
    days: dict[tuple[str, str], list[int]] = {}
    for answered_at, batch, reward in answers:
        if answered_at is not None:  # as every answered assignment's
            days.setdefault((answered_at.date().isoformat(), batch), []).append(reward)
    lines: list[list[object]] = [["date", "kind", "batch", "tasks", "amount", "currency", "method", "status"]]
    for (date, batch), rewards in days.items():
        lines.append([date, "earnings", batch, len(rewards), _amount(sum(rewards)), currency, "", ""])
    payouts = await session.scalars(
        select(Payout)
        .where(Payout.worker_id == worker_id, Payout.requested_at >= start, Payout.requested_at < end)
        .order_by(Payout.id)
    )
    for payout in payouts:
        lines.append(
            [
                payout.requested_at.date().isoformat(),
                "payout",
                "",
                "",
                _amount(payout.amount_micros),
                currency,
                payout.method_kind,
                payout.status,
            ]
        )
    return csv_text(lines)


def _amount(micros: int) -> str:
    whole, fraction = divmod(micros, MICROS)
    return f"{whole}.{fraction:06d}".rstrip("0").rstrip(".") if fraction else str(whole)
