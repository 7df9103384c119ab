"""SQLite for SQLAlchemy's async engine, with at most one hand-off to the driver's thread per statement.

SQLAlchemy reaches SQLite through aiosqlite, which runs each call of the DB-API (cursor, execute,
fetchall, close, commit) in a thread of its own: four hand-offs, each a wake-up of the event loop,
for every statement. An answer's dozen statements cost fifty of them. Here a statement runs, has
its rows fetched and its cursor closed in one hand-off, and the awaitables SQLAlchemy's adapter
calls afterwards read what came back.

BEGIN, SAVEPOINT and RELEASE cost no hand-off of their own: they return nothing, so they wait and
go to SQLite with the next statement, or the COMMIT, in its hand-off. A BEGIN that fails (another
process holding the write lock past the busy timeout) fails that statement instead.

SQLite runs in the connection's thread, so that a long statement (a big batch file, an export) does
not stall every other user's buttons, and neither does a BEGIN IMMEDIATE waiting for another
process's write lock. A *brief* transaction (`begin`), one of a few statements on indexes such as a
button press, runs on the event loop once it has begun, its COMMIT included: the hand-off costs more
than such a statement, and a begun transaction waits for nothing, as it holds the write lock, or reads
one moment of the database (WAL). Its BEGIN and first statement still go to the thread. That is one
hand-off for an answer's dozen statements, and about a sixth less bot CPU per answer in
`benchmarks/answers.py`. The one longer step left on the event loop is the checkpoint a COMMIT runs
now and then (each time the WAL passes 1,000 pages).

The classes follow aiosqlite's interface, the one SQLAlchemy's adapter is written against;
`connect` plugs them in with `async_creator`.
"""

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")
Description = tuple[tuple[Any, ...], ...] | None
# Statements that may wait for the next one (see the module's docstring).
RIDES_ALONG = ("SAVEPOINT ", "RELEASE SAVEPOINT ")


class Connection:
    """One sqlite3 connection and the one thread that uses it."""

    def __init__(self, connection: sqlite3.Connection, thread: ThreadPoolExecutor) -> None:
        self._connection: sqlite3.Connection | None = connection  # None once closed, as aiosqlite has it
        self._thread = thread
        self._waiting: list[str] = []  # statements that go with the next one (RIDES_ALONG)
        self._brief = False  # the transaction runs on the event loop once begun (see the module's docstring)

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Call `function(*args)` in the connection's thread; the one hand-off of every call here."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, partial(function, *args))

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        """Call `function(*args)` on the event loop in a begun brief transaction, else in the thread."""
        if self._brief and self._open().in_transaction:
            return function(*args)
        return await self.run(function, *args)

    def begin(self, sql: str, brief: bool) -> None:
        """Begin a transaction with `sql` (BEGIN or BEGIN IMMEDIATE), sent with the first statement."""
        self._waiting.append(sql)
        self._brief = brief

    @property
    def isolation_level(self) -> str | None:
        return self._open().isolation_level

    def cursor(self) -> "Cursor":
        return Cursor(self)

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> "Cursor":
        cursor = Cursor(self)
        await cursor.execute(sql, parameters)
        return cursor

    async def commit(self) -> None:
        waiting = self.take_waiting()
        try:
            if self._open().in_transaction:  # else no statement ran, and the BEGIN waiting has nothing to keep
                await self.call(commit, self._open(), waiting)
        finally:
            self._brief = False

    def defer(self, sql: str) -> None:
        self._waiting.append(sql)

    def take_waiting(self) -> list[str]:
        waiting, self._waiting = self._waiting, []
        return waiting

    async def rollback(self) -> None:
        self._waiting.clear()  # the rollback undoes them anyway
        connection = self._open()
        # The engine rolls back every connection it takes back, committed or not; after a COMMIT
        # there is nothing to undo, and the hand-off would cost every transaction one more.
        try:
            if connection.in_transaction:
                await self.call(connection.rollback)
        finally:
            self._brief = False

    async def create_function(self, name: str, arguments: int, function: Callable[..., Any], **options: Any) -> None:
        await self.run(partial(self._open().create_function, name, arguments, function, **options))

    async def close(self) -> None:
        if self._connection is None:
            return
        connection, self._connection = self._connection, None
        try:
            await self.run(connection.close)
        finally:
            self._thread.shutdown(wait=False)

    def stop(self) -> None:
        """Give the connection up without waiting (SQLAlchemy's terminate): close it on its thread."""
        if self._connection is not None:
            connection, self._connection = self._connection, None
            self._thread.submit(connection.close)
            self._thread.shutdown(wait=False)

    def _open(self) -> sqlite3.Connection:
        if self._connection is None:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        return self._connection


class Cursor:
    """The outcome of one statement: run, fetched and closed in a single hand-off by `execute`."""

    arraysize = 1

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._rows: list[Any] = []
        self.description: Description = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    async def __aenter__(self) -> "Cursor":
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> "Cursor":
        if sql.startswith(RIDES_ALONG) and not parameters:
            self._connection.defer(sql)
            self.description, self._rows, self.rowcount = None, [], -1
            return self
        await self._run(lambda cursor: cursor.execute(sql, parameters))
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any] | dict[str, Any]]) -> "Cursor":
        await self._run(lambda cursor: cursor.executemany(sql, parameters))
        return self

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        count = self.arraysize if size is None else size
        rows, self._rows = self._rows[:count], self._rows[count:]
        # Only streamed results (SQLAlchemy's yield_per) read in slices, so that other tasks run between
        # them; these rows are already in memory, so the event loop gets its turn here.
        await asyncio.sleep(0)
        return rows

    async def close(self) -> None:
        self._rows = []

    async def _run(self, statement: Callable[[sqlite3.Cursor], object]) -> None:
        connection = self._connection
        outcome = await connection.call(_run_statement, connection._open(), connection.take_waiting(), statement)
        self.description, self._rows, self.rowcount, self.lastrowid = outcome


def _run_statement(
    connection: sqlite3.Connection, waiting: list[str], statement: Callable[[sqlite3.Cursor], object]
) -> tuple[Description, list[Any], int, int | None]:
    cursor = connection.cursor()
    try:
        for sql in waiting:
            cursor.execute(sql)
        statement(cursor)
        rows = cursor.fetchall() if cursor.description else []
        # rowcount of an UPDATE … RETURNING is only known once its rows are fetched, hence read last
        return cursor.description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def commit(connection: sqlite3.Connection, waiting: list[str]) -> None:
    """COMMIT, after the statements waiting for it (in the connection's thread)."""
    for sql in waiting:
        connection.execute(sql)
    connection.commit()


def creator(path: str, pragmas: Sequence[str]) -> Callable[[], Any]:
    """The `async_creator` for `create_async_engine`: opens `path` in autocommit mode (BEGIN is
    sent by the engine's "begin" event) and applies `pragmas` before anyone uses it."""

    async def open_connection() -> Connection:
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")

        def open_in_thread() -> sqlite3.Connection:
            # Brief transactions use it on the event loop's thread too, one call at a time.
            connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            for pragma in pragmas:
                connection.execute(f"PRAGMA {pragma}")
            return connection

        connection = await asyncio.get_running_loop().run_in_executor(thread, open_in_thread)
        return Connection(connection, thread)

    return open_connection
