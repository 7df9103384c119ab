"""Databases of their own, for tests that migrate from nothing: the shared test schema is left alone."""

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import make_url, text

from storage.db import connect
from tests.conftest import POSTGRES_URL


@contextmanager
def postgres_database(suffix: str) -> Iterator[str]:
    """A new, empty database beside the test database, named after it and `suffix`; dropped afterwards."""
    url = make_url(POSTGRES_URL)
    admin = url.render_as_string(hide_password=False)
    scratch = url.set(database=f"{url.database}_{suffix}")
    _administer(admin, f'DROP DATABASE IF EXISTS "{scratch.database}"')
    _administer(admin, f'CREATE DATABASE "{scratch.database}"')
    try:
        yield scratch.render_as_string(hide_password=False)
    finally:
        _administer(admin, f'DROP DATABASE IF EXISTS "{scratch.database}"')


def _administer(url: str, statement: str) -> None:
    async def run() -> None:
        database = connect(url, isolation_level="AUTOCOMMIT")
        try:
            async with database.engine.connect() as connection:
                await connection.execute(text(statement))
        finally:
            await database.dispose()

    asyncio.run(run())
