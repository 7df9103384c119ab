"""Leases held through work of unknown length: a claim on an update, a scheduled job's run.

A lease is short, so that another process takes over soon after its holder died; while its holder
lives and works it renews the lease in the background, so a slow piece of work keeps it.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from datetime import datetime, timedelta

from bot.wiring.services import Services

log = logging.getLogger(__name__)
# Renewed this often within the lease: two renewals may fail (the database away a moment) before it runs out.
RENEWALS_PER_LEASE = 3


@asynccontextmanager
async def renewed(
    services: Services, lease: timedelta, renew: Callable[[datetime], Awaitable[None]], what: str
) -> AsyncIterator[None]:
    """While the block runs, `renew(until)` is called every third of `lease`, `until` a lease from then.

    Stopped by an event rather than cancelled: a renewal under way is let finish, so that no database
    operation is cut off half-way (which would leave its connection unusable).
    """
    finished = asyncio.Event()
    task = asyncio.create_task(_renew_until(finished, services, lease, renew, what))
    try:
        yield
    finally:
        finished.set()
        await task


async def _renew_until(
    finished: asyncio.Event,
    services: Services,
    lease: timedelta,
    renew: Callable[[datetime], Awaitable[None]],
    what: str,
) -> None:
    every = lease.total_seconds() / RENEWALS_PER_LEASE
    while True:
        with suppress(TimeoutError):
            await asyncio.wait_for(finished.wait(), every)
            return
        try:
            async with asyncio.timeout(every):  # a renewal that hangs is as good as failed: the next one tries
                await renew(services.clock.now() + lease)
        except Exception as error:  # the database away a moment: the next renewal may get through
            log.warning("the lease on %s was not renewed: %s", what, error)
