"""Database fixtures: every test that takes `db` runs on SQLite, and on PostgreSQL too when
TEST_DATABASE_URL is set (postgresql+asyncpg://…). Schemas come from the real Alembic migrations.

The suite runs in parallel processes (pytest-xdist); each has a PostgreSQL database of its own beside
TEST_DATABASE_URL's, named after it and the process (test_gw0, test_gw1, …)."""

import asyncio
import os
import random
import shutil
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import make_url, text

from bot.money import books
from bot.wiring.config import Settings
from bot.wiring.services import Services, build_services
from handlers import i18n
from storage import migrate
from storage.db import Database, connect
from storage.models import Base

TOKEN = "123456:TEST-TOKEN"
GERMAN = Path(__file__).parent / "locales" / "de" / "LC_MESSAGES" / "messages.po"
SHARED_POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "")
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
T = TypeVar("T")


def beside(url: str, suffix: str) -> str:
    """The URL of the database on `url`'s server named after `url`'s database and `suffix`."""
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{suffix}").render_as_string(hide_password=False)


POSTGRES_URL = beside(SHARED_POSTGRES_URL, WORKER) if SHARED_POSTGRES_URL and WORKER else SHARED_POSTGRES_URL
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgresql: runs on PostgreSQL, when TEST_DATABASE_URL is set")
    config.addinivalue_line(
        "markers", "unsound_books: the test breaks the books on purpose; they are not checked after it"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if POSTGRES_URL:
        return
    skip = pytest.mark.skip(reason="set TEST_DATABASE_URL to run the PostgreSQL variant")
    for item in items:
        if "postgresql" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy (faster than migrating per test)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_migrated() -> str:
    if POSTGRES_URL != SHARED_POSTGRES_URL:
        create_database(SHARED_POSTGRES_URL, make_url(POSTGRES_URL).database or "", replace=False)
    _reset_postgres_schema()
    migrate.upgrade(POSTGRES_URL)
    return POSTGRES_URL


def _reset_postgres_schema() -> None:
    _run_sql(POSTGRES_URL, "DROP SCHEMA public CASCADE", "CREATE SCHEMA public")


def create_database(beside: str, name: str, *, replace: bool) -> None:
    """A database called `name` on the server of the URL `beside`: emptied first when `replace`, kept when
    it is there already otherwise."""
    if replace:
        drop_database(beside, name)
    elif _database_exists(beside, name):
        return
    _run_sql(beside, f'CREATE DATABASE "{name}"', isolation_level="AUTOCOMMIT")


def drop_database(beside: str, name: str) -> None:
    _run_sql(beside, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', isolation_level="AUTOCOMMIT")


def _database_exists(url: str, name: str) -> bool:
    async def run() -> bool:
        database = connect(url)
        try:
            async with database.engine.connect() as connection:
                found = await connection.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
                )
                return found.first() is not None
        finally:
            await database.dispose()

    return asyncio.run(run())


def _run_sql(url: str, *statements: str, isolation_level: str | None = None) -> None:
    async def run() -> None:
        database = connect(url, **({"isolation_level": isolation_level} if isolation_level else {}))
        try:
            async with database.engine.begin() as connection:
                for statement in statements:
                    await connection.execute(text(statement))
        finally:
            await database.dispose()

    asyncio.run(run())


# Synchronous on purpose: migrations and resets run their own event loop, outside the test's.
@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "crowdshelf.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    url = request.getfixturevalue("postgres_migrated")
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    _run_sql(url, f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    return url


@pytest.fixture(autouse=True)
def sound_books(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test that used the database, its books must be sound (bot.books.problems).

    Set up before the test's other fixtures, so it looks after they stopped (the bot included).
    """
    if "db" not in request.fixturenames or request.node.get_closest_marker("unsound_books"):
        yield
        return
    url = request.getfixturevalue("database_url")
    yield
    found = asyncio.run(_problems(url))
    if found:
        pytest.fail("the books are not sound after this test:\n" + "\n".join(found), pytrace=False)


async def _problems(url: str) -> list[str]:
    database = connect(url)
    try:
        async with database.read() as session:
            return await books.problems(session)
    finally:
        await database.dispose()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = connect(database_url)
    yield database
    await database.dispose()


def make_settings(database_url: str, **overrides: object) -> Settings:
    # The bot's own flood limiter at a generous pace: its code path runs, the tests are not slowed down.
    values: dict[str, object] = {
        "bot_token": TOKEN,
        "database_url": database_url,
        "_env_file": None,
        "telegram_messages_per_second": 1000,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


class MovableClock:
    """The real time, moved forward by `advance` and stopped by `freeze`: the bot and the test read
    the same now."""

    def __init__(self) -> None:
        self.offset = timedelta(0)
        self._stopped_at: datetime | None = None

    def now(self) -> datetime:
        return (self._stopped_at or datetime.now(UTC)) + self.offset

    def freeze(self) -> None:
        self._stopped_at = datetime.now(UTC)

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


class ScriptedRandom(random.Random):
    """Random draws until a test scripts them; then each draw comes from the script and a choice
    among equals is the first one."""

    def __init__(self) -> None:
        super().__init__()
        self._script: Iterator[float] | None = None
        self._then: float | None = None

    def script(self, *draws: float, then: float | None = None) -> None:
        """The next draws (whether the next task is a check: 0.0 yes, 1.0 no), then `then` for ever
        (None: running out of draws fails the test)."""
        self._script, self._then = iter(draws), then

    def random(self) -> float:
        if self._script is None:
            return super().random()
        draw = next(self._script, self._then)
        assert draw is not None, "the scripted draws ran out"
        return draw

    def choice(self, seq: Sequence[T]) -> T:
        return super().choice(seq) if self._script is None else seq[0]


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def draws() -> ScriptedRandom:
    return ScriptedRandom()


@pytest.fixture
def services(settings: Settings, db: Database, clock: MovableClock, draws: ScriptedRandom) -> Services:
    return build_services(settings, db, clock, draws)


@pytest.fixture
def checks_first(draws: ScriptedRandom) -> None:
    """Gold comes in a known order: every task is a check until the worker has seen all gold."""
    draws.script(then=0.0)


@pytest.fixture
def german() -> Iterator[str]:
    """A second language: the tests' German catalogue, offered to the bot while the test runs."""
    language = i18n.add_catalogue("de", GERMAN)
    yield language
    i18n.remove_catalogue(language)
