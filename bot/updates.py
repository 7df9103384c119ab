"""Telegram's updates in webhook mode, each processed once however often it is delivered, to however
many instances.

Telegram delivers an update until an instance acknowledges it, so an update can come twice: a
request cut before its answer, an instance killed after its work, two instances behind one load
balancer. Before processing one, an instance takes it in the database; it marks it done after
processing, and only then acknowledges it.

Why a claim and a mark, not one row written with the update's effects: a handler runs several use
cases, each its own transaction, and talks to Telegram in between, so an update has no single
transaction to record itself in. Instead a failed update's claim is dropped (Telegram's next try
processes it), and the claim of an instance that died mid-update runs out after `LEASE`. The one
gap, an instance dying between its last effect and the mark, is covered by the use cases themselves:
answering, postings and owed messages are idempotent by their keys.
"""

from datetime import timedelta
from enum import StrEnum

from bot.wiring.services import Services
from storage import updates

# Telegram keeps an update it could not deliver for 24 hours at most: after that it cannot come again.
REMEMBERED_FOR = timedelta(hours=24)
# How long an instance holds an update it is processing before another may take it over (as the outbox's lease).
LEASE = timedelta(minutes=5)


class Taken(StrEnum):
    NEW = "new"  # this instance processes it now
    DONE = "done"  # processed before: acknowledge it, do nothing
    BUSY = "busy"  # another instance is processing it: Telegram should try again later


async def take(services: Services, update_id: int) -> Taken:
    now = services.clock.now()
    async with services.db.write() as session:
        taken = await updates.take(session, update_id, now, now + LEASE, now + REMEMBERED_FOR)
    return {True: Taken.NEW, False: Taken.DONE, None: Taken.BUSY}[taken]


async def done(services: Services, update_id: int) -> None:
    async with services.db.write() as session:
        await updates.mark_done(session, update_id, services.clock.now() + REMEMBERED_FOR)


async def give_back(services: Services, update_id: int) -> None:
    async with services.db.write() as session:
        await updates.give_back(session, update_id)


async def forget_expired(services: Services) -> int:
    """Updates Telegram can no longer send again are forgotten (a scheduled job)."""
    async with services.db.write() as session:
        return await updates.forget_expired(session, services.clock.now())
