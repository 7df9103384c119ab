"""Two `crowdshelf run` processes started at the same moment on a new database: one migrates it and
stores the default taxonomy, the other waits for the migration lock and finds the database at head;
both serve, and both stop cleanly."""

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from sandbox.telegram_server import CONFLICT, FakeTelegram
from storage.db import connect
from storage.models import Taxonomy
from tests.e2e.loopback import eventually
from tests.e2e.processes import environment, spawn
from tests.e2e.test_run_command import HEAD
from tests.storage.scratch import postgres_database

PROCESSES = 2


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'new.db'}"
        return
    with postgres_database("run_race") as url:
        yield url


async def _state(url: str) -> tuple[str, int]:
    database = connect(url)
    try:
        async with database.read() as session:
            revision = (await session.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
            taxonomies = await session.scalar(select(func.count()).select_from(Taxonomy))
            return revision, taxonomies or 0
    finally:
        await database.dispose()


def _problems(log: str) -> list[str]:
    """Errors logged, but for Telegram's refusal of a second poller: two processes can serve one bot
    by webhook only, and polling both is all this test can do with them."""
    records = re.split(r"\n(?=\d{4}-\d\d-\d\d )", log)
    return [record for record in records if ("ERROR" in record or "Traceback" in record) and CONFLICT not in record]


async def test_two_runs_started_at_once_on_a_new_database_both_serve(
    telegram: FakeTelegram, new_database: str, tmp_path: Path
) -> None:
    env = environment(telegram, tmp_path, DATABASE_URL=new_database)
    runs = [
        await spawn("run", env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        for _ in range(PROCESSES)
    ]
    try:
        # setMyCommands comes after the migration and the default taxonomy: each process got through both.
        await eventually(lambda: len(telegram.calls("setMyCommands")) >= PROCESSES, "both bots to start", 120)
        assert [run.returncode for run in runs] == [None] * PROCESSES, "both still serving"
    finally:
        for run in runs:
            if run.returncode is None:
                run.terminate()
        outcomes = [await asyncio.wait_for(run.communicate(), 30) for run in runs]
    for run, (_, stderr) in zip(runs, outcomes, strict=True):
        assert run.returncode == 0, stderr.decode()[-2000:]
        assert _problems(stderr.decode()) == []
    assert await _state(new_database) == (HEAD, 1)
