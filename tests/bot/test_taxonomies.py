"""The bundled taxonomy on first start, also when several processes start at once."""

import asyncio

from sqlalchemy import func, select

from bot import taxonomies
from storage.db import Database, connect
from storage.models import Taxonomy


async def test_processes_starting_together_store_the_default_taxonomy_once(database_url: str, db: Database) -> None:
    """Each process has its own engine; all of them end up with the one stored taxonomy, none fails."""
    engines = [connect(database_url) for _ in range(3)]
    try:
        ids = await asyncio.gather(*(taxonomies.ensure_default(engine) for engine in engines))
    finally:
        for engine in engines:
            await engine.dispose()
    assert len(set(ids)) == 1
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Taxonomy)) == 1
    assert await taxonomies.ensure_default(db) == ids[0]
