"""The seen updates' queries: take an update once across instances, renew the claim, mark it done, give it
back, forget it."""

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import SeenUpdate
from storage.sql import PerDialect

_seen = SeenUpdate.__table__
_insert_new = PerDialect(lambda dialect: dialect.insert(_seen).on_conflict_do_nothing().returning(_seen.c.update_id))


async def take(
    session: AsyncSession, update_id: int, now: datetime, lease_until: datetime, expires_at: datetime
) -> bool | None:
    """Claim the update until `lease_until`: True when this caller now holds it (it came first, or the claim
    of an instance that died has run out), False when it is done already, None while another holds it.

    INSERT … ON CONFLICT DO NOTHING is atomic on both databases: of two instances inserting at once one
    inserts, and the other (PostgreSQL makes it wait for the first to commit) inserts nothing. Taking
    over a claim that ran out is one conditional UPDATE, which the row's lock (or SQLite's write lock)
    gives to one taker only.
    """
    values = {"update_id": update_id, "done": False, "claimed_until": lease_until, "expires_at": expires_at}
    if await session.scalar(_insert_new(session), values) is not None:
        return True
    taken_over = await session.scalar(
        update(SeenUpdate)
        .where(SeenUpdate.update_id == update_id, SeenUpdate.done.is_(False), SeenUpdate.claimed_until <= now)
        .values(claimed_until=lease_until, expires_at=expires_at)
        .returning(SeenUpdate.update_id)
    )
    if taken_over is not None:
        return True
    done = await session.scalar(select(SeenUpdate.done).where(SeenUpdate.update_id == update_id))
    return False if done else None


async def renew(session: AsyncSession, update_id: int, lease_until: datetime) -> None:
    """Extend the claim on an update still being processed."""
    await session.execute(
        update(SeenUpdate)
        .where(SeenUpdate.update_id == update_id, SeenUpdate.done.is_(False))
        .values(claimed_until=lease_until)
        .execution_options(synchronize_session=False)
    )


async def mark_done(session: AsyncSession, update_id: int, expires_at: datetime) -> None:
    await session.execute(
        update(SeenUpdate)
        .where(SeenUpdate.update_id == update_id)
        .values(done=True, expires_at=expires_at)
        .execution_options(synchronize_session=False)
    )


async def give_back(session: AsyncSession, update_id: int) -> None:
    """Drop a claim whose processing failed, so that Telegram's next try processes the update again."""
    await session.execute(delete(SeenUpdate).where(SeenUpdate.update_id == update_id, SeenUpdate.done.is_(False)))


async def forget_expired(session: AsyncSession, now: datetime) -> int:
    gone = await session.scalars(delete(SeenUpdate).where(SeenUpdate.expires_at <= now).returning(SeenUpdate.update_id))
    return len(gone.all())
