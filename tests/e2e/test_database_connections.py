"""DATABASE_MAX_CONNECTIONS: `crowdshelf run` serving many people at once opens no more PostgreSQL
connections than it is allowed; the people wait their turn, and each is answered."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url, text

from sandbox.telegram_server import FakeTelegram
from storage.db import APPLICATION_NAME, connect
from tests.conftest import SHARED_POSTGRES_URL
from tests.e2e.loopback import eventually
from tests.e2e.processes import environment, spawn
from tests.storage.scratch import postgres_database

ALLOWED = 2
PEOPLE = 12


@pytest.fixture
def new_database() -> Iterator[str]:
    """A database of the process's own: every connection to it is the process's."""
    with postgres_database("connections") as url:
        yield url


@pytest.mark.postgresql
async def test_run_opens_no_more_connections_than_it_is_allowed(
    telegram: FakeTelegram, tmp_path: Path, new_database: str
) -> None:
    url, name = new_database, make_url(new_database).database
    env = environment(telegram, tmp_path, DATABASE_URL=url, DATABASE_MAX_CONNECTIONS=str(ALLOWED))
    run = await spawn("run", env=env, cwd=tmp_path, stderr=asyncio.subprocess.PIPE)
    watcher = connect(SHARED_POSTGRES_URL)  # another database: its own connections are not counted
    seen: list[list[str]] = []  # the application_name of each connection, at each look

    async def count_connections() -> None:
        while True:
            async with watcher.read() as session:
                query = text("SELECT application_name FROM pg_stat_activity WHERE datname = :name")
                seen.append(list(await session.scalars(query, {"name": name})))
            await asyncio.sleep(0.01)

    counting = None
    try:
        await eventually(lambda: bool(telegram.calls("setMyCommands")), "the bot to start", 120)
        counting = asyncio.create_task(count_connections())  # the migration before it had its own connection
        people = [telegram.user(300 + n, f"Person {n}") for n in range(PEOPLE)]
        await asyncio.gather(*(person.send("/start") for person in people))
        await eventually(lambda: all(person.messages for person in people), "everyone's welcome", 60)
    finally:
        if counting is not None:
            counting.cancel()
        run.terminate()
        _, stderr = await asyncio.wait_for(run.communicate(), 30)
        await watcher.dispose()
    assert run.returncode == 0, stderr.decode()[-2000:]
    assert all(person.messages[0].body.startswith(f"👋 Hi {person.first_name}") for person in people)
    most = max(len(names) for names in seen)
    assert 1 <= most <= ALLOWED, f"at most {ALLOWED} connections at once: {most}"
    assert {name for names in seen for name in names} == {APPLICATION_NAME}, "pg_stat_activity names them"
