"""Processes that start together on one new database migrate it once between them, none failing."""

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from storage.db import connect
from tests.storage.scratch import postgres_database
from tests.storage.test_migration_crash import HEAD

STARTS = 3


@pytest.fixture
def fresh_postgres_database() -> Iterator[str]:
    with postgres_database("migration_race") as url:
        yield url


def _revision(url: str) -> str | None:
    async def read() -> str | None:
        database = connect(url)
        try:
            async with database.engine.connect() as connection:
                return (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalar_one_or_none()
        finally:
            await database.dispose()

    return asyncio.run(read())


@pytest.mark.postgresql
def test_processes_starting_together_migrate_a_new_postgresql_database_once(fresh_postgres_database: str) -> None:
    environment = {**os.environ, "DATABASE_URL": fresh_postgres_database, "LOG_LEVEL": "WARNING"}
    starts = [
        subprocess.Popen(
            [sys.executable, "-m", "bot.wiring.cli", "db", "upgrade"],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(STARTS)
    ]
    outcomes = [(process.wait(timeout=120), process.stderr.read().decode()) for process in starts if process.stderr]
    assert outcomes == [(0, "")] * STARTS
    assert _revision(fresh_postgres_database) == HEAD
