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
    """While the block runs, `renew(until)` is called every third of `lease`, `until` a lease from then."""
    task = asyncio.create_task(_renew_every(services, lease, renew, what))
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


async def _renew_every(
    services: Services, lease: timedelta, renew: Callable[[datetime], Awaitable[None]], what: str
) -> None:
    while True:
        await asyncio.sleep(lease.total_seconds() / RENEWALS_PER_LEASE)
        try:
            await renew(services.clock.now() + lease)
        except Exception as error:  # the database away a moment: the next renewal may get through
            log.warning("the lease on %s was not renewed: %s", what, error)
