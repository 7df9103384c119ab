"""Leases on scheduled jobs, each taken in one statement: of two processes asking at once, one gets it."""

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import JobLease
from storage.sql import dialect_module

_leases = JobLease.__table__


async def take(session: AsyncSession, name: str, holder: str, now: datetime, until: datetime) -> bool:
    """Lease the job `name` to `holder` until `until`, unless a lease on it still runs at `now`.

    An INSERT of the lease that, when the job's row is there, takes it over only where its lease has ended
    (ON CONFLICT … DO UPDATE … WHERE). PostgreSQL makes a second process's statement wait for the first's
    commit and then judge the row as that left it; SQLite's write lock queues them. Either way one wins.
    """
    insert = dialect_module(session).insert(_leases).values(name=name, holder=holder, leased_until=until)
    ended = _leases.c.leased_until.is_(None) | (_leases.c.leased_until <= now)
    statement = insert.on_conflict_do_update(
        index_elements=[_leases.c.name],
        set_={"holder": insert.excluded.holder, "leased_until": insert.excluded.leased_until},
        where=ended,
    ).returning(_leases.c.name)
    return (await session.execute(statement)).first() is not None


async def renew(session: AsyncSession, name: str, holder: str, until: datetime) -> None:
    """Extend `holder`'s lease on `name` (a lease another run took over is left alone)."""
    await session.execute(
        update(_leases).where(_leases.c.name == name, _leases.c.holder == holder).values(leased_until=until)
    )


async def give_back(session: AsyncSession, name: str, holder: str) -> None:
    """End `holder`'s lease on `name`; a lease another run took over (this one ran out) is left alone."""
    await session.execute(
        update(_leases).where(_leases.c.name == name, _leases.c.holder == holder).values(holder=None, leased_until=None)
    )
