"""What an operator's probes read: whether the database answers, and the work, money and messages waiting
in it."""

import asyncio
from dataclasses import dataclass

from sqlalchemy import func, select, text

from bot.wiring.services import Services
from storage.db import connection_lost
from storage.models import Assignment, OutboxMessage, Payout
from storage.states import AssignmentStatus, OutboxState, PayoutStatus

# A database that takes longer than this to say SELECT 1 is as good as down to a load balancer.
ANSWER_WITHIN_SECONDS = 5.0


@dataclass(frozen=True)
class Backlog:
    open_reservations: int  # products shown to a worker and not yet answered, skipped or expired
    payouts_waiting: int  # payout requests no admin has decided yet
    messages_owed: int  # outbox messages not yet delivered (retried until Telegram takes them)
    oldest_owed_seconds: float  # how long the oldest of them has waited; 0 when none is owed
    messages_given_up: int  # outbox messages given up: the person blocked the bot, or Telegram refused them


async def database_answers(services: Services) -> bool:
    try:
        async with asyncio.timeout(ANSWER_WITHIN_SECONDS), services.db.read() as session:
            await session.execute(text("SELECT 1"))
    except Exception:  # a refused connection, a timeout, a driver error: each means "no"
        return False
    return True


def database_away(error: BaseException) -> bool:
    """Whether a failure was the database going away (restarting, cut off) rather than a fault of the work."""
    return connection_lost(error)


async def backlog(services: Services) -> Backlog:
    async with services.db.read() as session:
        reserved = await session.scalar(
            select(func.count(Assignment.id)).where(Assignment.status == AssignmentStatus.RESERVED)
        )
        waiting = await session.scalar(select(func.count(Payout.id)).where(Payout.status == PayoutStatus.REQUESTED))
        state = OutboxMessage.state
        outbox = await session.execute(
            select(state, func.count(OutboxMessage.id), func.min(OutboxMessage.created_at))
            .where(state.in_([OutboxState.PENDING, OutboxState.GIVEN_UP]))
            .group_by(state)
        )
        by_state = {row_state: (count, oldest) for row_state, count, oldest in outbox}
    owed, oldest = by_state.get(OutboxState.PENDING, (0, None))
    waited = 0.0 if oldest is None else max((services.clock.now() - oldest).total_seconds(), 0.0)
    return Backlog(
        open_reservations=reserved or 0,
        payouts_waiting=waiting or 0,
        messages_owed=owed,
        oldest_owed_seconds=waited,
        messages_given_up=by_state.get(OutboxState.GIVEN_UP, (0, None))[0],
    )
