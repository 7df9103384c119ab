"""Engine and sessions. Every write is one transaction that takes the database's write lock up front.

SQLite: WAL, and BEGIN IMMEDIATE for writes, so two processes cannot both read a balance and
then both spend it (deferred BEGIN would let them). Inside one process an asyncio lock queues
writers, which is fairer and faster than SQLite's sleeping busy handler.
PostgreSQL: READ COMMITTED; queries that need it lock rows (FOR UPDATE [SKIP LOCKED]).
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from storage import sqlite_driver

log = logging.getLogger(__name__)
_WRITE_OPTION = "crowdshelf_write"
_BRIEF_OPTION = "crowdshelf_brief"
# deadlock_detected, serialization_failure
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
T = TypeVar("T")
SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000")
# A process's PostgreSQL connections at most: three instances stay under the server's default 100.
DEFAULT_MAX_CONNECTIONS = 30
APPLICATION_NAME = "crowdshelf"


@dataclass
class Database:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    _write_lock: asyncio.Lock | None = field(default=None, repr=False)

    @asynccontextmanager
    async def write(self, brief: bool = False) -> AsyncIterator[AsyncSession]:
        """A session in a write transaction: committed on success, rolled back on any exception.

        `brief`: a few statements on indexes, such as a button press's; on SQLite they run on the event
        loop rather than in the driver's thread, whose hand-off costs more than they do (storage.sqlite_driver).
        Meanwhile no other user's update moves, so bulk work (a batch file, an export, a sweep) is never brief.
        """
        if self._write_lock is None:
            async with self._transaction(brief) as session:
                yield session
            return
        async with self._write_lock, self._transaction(brief) as session:
            yield session

    async def write_retrying(
        self, operation: Callable[[AsyncSession], Awaitable[T]], attempts: int = 4, brief: bool = False
    ) -> T:
        """Run `operation` in a write transaction (`write`), again if PostgreSQL chose it as a deadlock victim.

        Claims wait on item rows that other claims hold; PostgreSQL breaks the rare cycle by failing
        one transaction, and the fix it recommends is to run that transaction again.
        """
        # A task of its own: each of the transaction's many driver round trips resumes every
        # coroutine awaiting it, and under a Telegram handler that chain is a dozen frames deep.
        # Cancelling the caller cancels the task too.
        return await asyncio.create_task(self._write_retrying(operation, attempts, brief))

    async def _write_retrying(self, operation: Callable[[AsyncSession], Awaitable[T]], attempts: int, brief: bool) -> T:
        for attempt in range(1, attempts + 1):
            try:
                async with self.write(brief) as session:
                    return await operation(session)
            except DBAPIError as error:
                if attempt == attempts or _sqlstate(error) not in RETRYABLE_SQLSTATES:
                    raise
                log.info("transaction failed with %s; running it again (attempt %d)", _sqlstate(error), attempt + 1)
                await asyncio.sleep(0.005 * attempt)
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only; closing it ends its transaction without writing anything."""
        async with self.sessions() as session:
            yield session

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncSession]:
        """A read session whose queries all see one moment of the database, for checks that compare
        tables while the bot writes: SQLite's read transactions do that; PostgreSQL's need REPEATABLE READ."""
        async with self.sessions() as session:
            if self.engine.dialect.name == "postgresql":
                options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
                await session.connection(execution_options=options)
            yield session

    @asynccontextmanager
    async def _transaction(self, brief: bool) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            await session.connection(execution_options={_WRITE_OPTION: True, _BRIEF_OPTION: brief})
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            await session.commit()

    async def analyze(self, *tables: str) -> None:
        """Refresh PostgreSQL's planner statistics of `tables` (all of them when none is named) after a bulk
        change, such as a batch's items stored or opened.

        Autovacuum gets there a minute later, or never when the change is under a tenth of the table. Until
        then the planner takes a new batch for a handful of rows, and each claim sorts every open item of it:
        88 ms a claim on 20,000 items, against 0.5 ms with statistics. SQLite's planner does without them."""
        if self.engine.dialect.name != "postgresql":
            return
        async with self.engine.begin() as connection:  # committed: statistics gathered in a rolled-back one are gone
            await connection.execute(text(f"ANALYZE {', '.join(tables)}"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def connection_lost(error: BaseException) -> bool:
    """Whether `error` says the database could not be reached, or its connection was lost mid-way (a
    server restarting, a network cut), as opposed to a statement it refused: the same work, tried again
    once it is back, may well succeed."""
    if isinstance(error, OSError):  # refused or reset before the driver had a connection
        return True
    return isinstance(error, DBAPIError) and (error.connection_invalidated or isinstance(error, InterfaceError))


def _sqlstate(error: DBAPIError) -> str | None:
    return getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)


def connect(
    url: str, own_sqlite_driver: bool = True, max_connections: int = DEFAULT_MAX_CONNECTIONS, **engine_options: Any
) -> Database:
    """Create the engine for `url` with the settings its dialect needs; on PostgreSQL with at most
    `max_connections` connections open at once."""
    if url.startswith("sqlite") and own_sqlite_driver:
        _refuse_isolation_level(engine_options)
        _refuse_isolation_level(engine_options.get("execution_options", {}))
    if url.startswith("postgresql"):
        # Room for many users' updates at once; a busy bot queues on the pool rather than failing. A third
        # of the connections stay open, the others are opened at busy moments and closed after. Each is
        # tried before use, so after the server restarted (or ended connections) the pool connects afresh
        # instead of handing out connections that are gone.
        kept = max(1, max_connections // 3)
        pool = {"pool_size": kept, "max_overflow": max_connections - kept, "pool_pre_ping": True}
        # Named, so that pg_stat_activity tells an operator which connections are the bot's.
        named = {"connect_args": {"server_settings": {"application_name": APPLICATION_NAME}}}
        engine_options = pool | named | engine_options
    if url.startswith("sqlite") and own_sqlite_driver:
        path = make_url(url).database or ":memory:"
        engine_options = {"async_creator": sqlite_driver.creator(path, SQLITE_PRAGMAS), **engine_options}
    elif url.startswith("sqlite"):
        # Autocommit at the driver: the engine's "begin" event below sends BEGIN itself.
        engine_options = {"connect_args": {"isolation_level": None}, **engine_options}
    engine = create_async_engine(url, **engine_options)
    if engine.dialect.name == "sqlite":
        if own_sqlite_driver:
            _begin_sqlite_as_asked(engine)
        else:
            _set_up_sqlite(engine)
        return Database(engine, _sessionmaker(engine), asyncio.Lock())
    return Database(engine, _sessionmaker(engine))


def _set_up_sqlite(engine: AsyncEngine) -> None:
    """SQLAlchemy's documented recipe for SQLite transactions: the driver in autocommit mode, the
    engine's "begin" event sending BEGIN (IMMEDIATE for writes), and the pragmas on each new connection."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(driver: Any, _record: Any) -> None:
        cursor = driver.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class IsolationLevelRefused(ValueError):
    """SQLite's transactions here are begun by the engine's "begin" event, not by an isolation level."""


def _refuse_isolation_level(options: dict[str, Any]) -> None:
    if "isolation_level" in options:
        raise IsolationLevelRefused(
            f"isolation_level={options['isolation_level']!r} is not supported on SQLite: every transaction is "
            "serializable already (one writer at a time, BEGIN IMMEDIATE for writes), and the connections stay "
            "in autocommit mode so that the engine can begin them so"
        )


def _sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def _begin_sqlite_as_asked(engine: AsyncEngine) -> None:
    # The driver's connections are in autocommit mode (sqlite_driver.creator), so this decides the mode.
    @event.listens_for(engine.sync_engine, "set_connection_execution_options")
    def _on_options(_connection: Connection, options: dict[str, Any]) -> None:
        _refuse_isolation_level(options)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        statement = "BEGIN IMMEDIATE" if options.get(_WRITE_OPTION, False) else "BEGIN"
        # Straight on the driver, which sends it with the transaction's first statement.
        driver = connection.connection.driver_connection
        if not isinstance(driver, sqlite_driver.Connection):  # only a connection being closed has none
            raise RuntimeError("BEGIN on a closed connection")
        driver.begin(statement, brief=options.get(_BRIEF_OPTION, False))
