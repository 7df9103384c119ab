"""Scheduled work. Each job derives what to do from the database, so a missed run simply catches up."""

import logging

from bot import work
from bot.services import Services

log = logging.getLogger(__name__)


async def reclaim_reservations(services: Services) -> int:
    """Expired reservations go back to the pool for other workers."""
    total = 0
    while True:
        reclaimed = await work.reclaim_expired(services)
        total += reclaimed
        if reclaimed == 0:
            break
    if total:
        log.info("returned %d expired reservation(s) to the pool", total)
    return total
