"""Telegram's updates in webhook mode, each processed once however often it is delivered, to however
many instances.

Telegram delivers an update until an instance acknowledges it, so an update can come twice: a
request cut before its answer, an instance killed after its work, two instances behind one load
balancer. Before processing one, an instance takes it in the database; it marks it done after
processing, and only then acknowledges it.

Why a claim and a mark, not one row written with the update's effects: a handler runs several use
cases, each its own transaction, and talks to Telegram in between, so an update has no single
transaction to record itself in. Instead a failed update's claim is dropped (Telegram's next try
processes it), and the claim of an instance that died mid-update runs out: the claim is short
(WEBHOOK_LEASE_SECONDS) and renewed while the update is processed (`held`), so a slow update keeps its
claim and a dead instance's update is taken over soon, not minutes later. The one gap, an instance
dying between its last effect and the mark, is covered by the use cases themselves: answering,
postings and owed messages are idempotent by their keys.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from enum import StrEnum

from bot.renewal import renewed
from bot.wiring.services import Services
from storage import updates

# Telegram keeps an update it could not deliver for 24 hours at most: after that it cannot come again.
REMEMBERED_FOR = timedelta(hours=24)


class Taken(StrEnum):
    NEW = "new"  # this instance processes it now
    DONE = "done"  # processed before: acknowledge it, do nothing
    BUSY = "busy"  # another instance is processing it: Telegram should try again later


async def take(services: Services, update_id: int) -> Taken:
    now = services.clock.now()
    async with services.db.write(brief=True) as session:
        taken = await updates.take(session, update_id, now, now + services.update_lease, now + REMEMBERED_FOR)
    return {True: Taken.NEW, False: Taken.DONE, None: Taken.BUSY}[taken]


@asynccontextmanager
async def held(services: Services, update_id: int) -> AsyncIterator[None]:
    """Keep the claim on a taken update while the block processes it: renewed in the background, so it
    runs out only once this instance has stopped renewing it (died)."""

    async def renew(until: datetime) -> None:
        async with services.db.write() as session:
            await updates.renew(session, update_id, until)

    async with renewed(services, services.update_lease, renew, f"update {update_id}"):
        yield


async def done(services: Services, update_id: int) -> None:
    async with services.db.write(brief=True) as session:
        await updates.mark_done(session, update_id, services.clock.now() + REMEMBERED_FOR)


async def give_back(services: Services, update_id: int) -> None:
    async with services.db.write() as session:
        await updates.give_back(session, update_id)


async def forget_expired(services: Services) -> int:
    """Updates Telegram can no longer send again are forgotten (a scheduled job)."""
    async with services.db.write() as session:
        return await updates.forget_expired(session, services.clock.now())
