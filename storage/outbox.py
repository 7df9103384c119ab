"""The outbox's queries: add an owed message once, claim due ones under a lease, record how delivery went."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import OutboxMessage
from storage.sql import insert_ignoring_conflicts
from storage.states import OutboxState

ERROR_LENGTH = 256


@dataclass(frozen=True)
class Claimed:
    id: int
    chat_id: int
    kind: str
    params: dict[str, Any]
    attempts: int  # including the one this claim starts


async def add(session: AsyncSession, dedupe_key: str, chat_id: int, kind: str, params: dict[str, Any]) -> None:
    """One row per key: a change that runs again (a replayed update, a second process) owes nothing more."""
    await session.execute(
        insert_ignoring_conflicts(
            session,
            OutboxMessage.__table__,
            dedupe_key=dedupe_key,
            chat_id=chat_id,
            kind=kind,
            params=params,
            state=OutboxState.PENDING,
            attempts=0,
        )
    )


async def claim(session: AsyncSession, now: datetime, lease_until: datetime, limit: int) -> list[Claimed]:
    """Due messages no other run holds, each the oldest pending one of its chat, leased until `lease_until`.

    PostgreSQL: FOR UPDATE SKIP LOCKED, so a run never waits for, nor takes, rows another run is
    claiming; the lease then keeps them out of every other run's claim until this run has sent them.
    SQLite: the write transaction's lock serialises claims, and the lease does the rest.
    Only the head of each chat is taken: a message waiting for a retry holds back the later ones
    to the same person (a batch's files never arrive before the message announcing them).
    """
    rows = list(
        await session.scalars(
            select(OutboxMessage)
            .where(
                *_due_heads(now),
                or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until <= now),
            )
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    for row in rows:
        row.claimed_until = lease_until
        row.attempts += 1
    return [Claimed(row.id, row.chat_id, row.kind, dict(row.params), row.attempts) for row in rows]


async def count_due(session: AsyncSession, now: datetime) -> int:
    """Owed messages due now at the head of their chat, claimed by a delivery run or not: what is still to
    be sent before nothing is owed but retries to come."""
    return await session.scalar(select(func.count(OutboxMessage.id)).where(*_due_heads(now))) or 0


def _due_heads(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """Pending messages due at `now` with no earlier pending one to the same chat (see `claim`)."""
    earlier = aliased(OutboxMessage)
    behind = exists().where(
        earlier.chat_id == OutboxMessage.chat_id,
        earlier.state == OutboxState.PENDING,
        earlier.id < OutboxMessage.id,
    )
    return OutboxMessage.state == OutboxState.PENDING, OutboxMessage.next_attempt_at <= now, ~behind


async def mark_sent(session: AsyncSession, message_id: int, now: datetime) -> None:
    await _set(session, message_id, state=OutboxState.SENT, sent_at=now, claimed_until=None)


async def retry_at(session: AsyncSession, message_id: int, at: datetime, error: str) -> None:
    await _set(session, message_id, next_attempt_at=at, claimed_until=None, last_error=error[:ERROR_LENGTH])


async def give_up(session: AsyncSession, message_id: int, error: str) -> None:
    await _set(session, message_id, state=OutboxState.GIVEN_UP, claimed_until=None, last_error=error[:ERROR_LENGTH])


async def _set(session: AsyncSession, message_id: int, **values: Any) -> None:
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
