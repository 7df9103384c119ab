"""What every use case needs, built once by the composition root and handed to handlers."""

from dataclasses import dataclass
from datetime import timedelta

from bot.batches import BatchCache
from bot.config import Settings
from bot.taxonomies import TaxonomyCache
from storage.db import Database


@dataclass(frozen=True)
class Services:
    settings: Settings
    db: Database
    taxonomies: TaxonomyCache
    batches: BatchCache

    @property
    def assignment_ttl(self) -> timedelta:
        return timedelta(seconds=self.settings.assignment_ttl_seconds)


def build_services(settings: Settings, db: Database) -> Services:
    return Services(settings=settings, db=db, taxonomies=TaxonomyCache(db), batches=BatchCache(db))
