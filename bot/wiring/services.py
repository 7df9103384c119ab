"""What every use case needs, built once by the composition root and handed to handlers."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from random import Random
from typing import Protocol

from bot.batches.lifecycle import BatchCache
from bot.taxonomies import TaxonomyCache
from bot.wiring.config import Settings
from storage.clock import utcnow
from storage.db import Database


class Clock(Protocol):
    """Where use cases read the time (UTC, timezone-aware), so tests can move it."""

    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return utcnow()


@dataclass(frozen=True)
class Services:
    settings: Settings
    db: Database
    taxonomies: TaxonomyCache
    batches: BatchCache
    clock: Clock
    # Which tasks are checks, and which gold each gets, is drawn here (so no worker can count their way
    # around it); simulations seed these draws and tests script them.
    random: Random

    @property
    def assignment_ttl(self) -> timedelta:
        return timedelta(seconds=self.settings.assignment_ttl_seconds)

    @property
    def update_lease(self) -> timedelta:
        return timedelta(seconds=self.settings.webhook_lease_seconds)


def build_services(
    settings: Settings, db: Database, clock: Clock | None = None, draws: Random | None = None
) -> Services:
    return Services(
        settings=settings,
        db=db,
        taxonomies=TaxonomyCache(db),
        batches=BatchCache(db),
        clock=clock or SystemClock(),
        random=draws or Random(),
    )
