"""The SQLite driver under the async engine: at most one hand-off per statement, none in a begun brief
transaction, and nothing it changes for callers."""

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from storage import sqlite_driver
from storage.db import Database, IsolationLevelRefused, connect


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    db = connect(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with db.write() as session:
        await session.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"))
    yield db
    await db.dispose()


def count_hand_offs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    original = sqlite_driver.Connection.run

    async def counted(self: sqlite_driver.Connection, function: object, *args: object) -> object:
        calls.append(getattr(function, "__name__", type(function).__name__))
        return await original(self, function, *args)

    monkeypatch.setattr(sqlite_driver.Connection, "run", counted)
    return calls


@asynccontextmanager
async def ticking() -> AsyncIterator[list[int]]:
    """How many 10 ms sleeps a task of its own finished while the block ran: a held event loop counts none."""
    ticks = [0]

    async def tick() -> None:
        while True:
            await asyncio.sleep(0.01)
            ticks[0] += 1

    ticker = asyncio.create_task(tick())
    try:
        yield ticks
    finally:
        ticker.cancel()


def sleeping(seconds: float) -> Callable[[int], int]:
    """A function for SQLite (create_function) that takes `seconds` and gives back its argument."""

    def slow(value: int) -> int:
        time.sleep(seconds)
        return value

    return slow


async def test_a_statement_is_one_hand_off(sqlite_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write transaction of two statements costs the two statements (the first with BEGIN) and COMMIT:
    three hand-offs.

    The rollback the engine sends when it takes the connection back has nothing to undo and is skipped."""
    async with sqlite_db.write() as session:
        await session.execute(text("SELECT 1"))  # the connection is open and warm before counting
    calls = count_hand_offs(monkeypatch)
    async with sqlite_db.write() as session:
        await session.execute(text("INSERT INTO notes (id, body) VALUES (1, 'A')"))
        rows = (await session.execute(text("SELECT id, body FROM notes"))).all()
    assert rows == [(1, "A")]
    assert calls == ["_run_statement"] * 2 + ["commit"]

    calls.clear()
    async with sqlite_db.read() as session:
        await session.execute(text("SELECT body FROM notes"))
    assert calls == ["_run_statement", "rollback"]  # BEGIN with the SELECT, and the end of the read

    calls.clear()
    async with sqlite_db.write():
        pass
    assert calls == [], "a transaction with no statement sends nothing, not even its BEGIN"


async def test_a_savepoint_rides_along_with_the_next_statement(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SAVEPOINT and RELEASE go to SQLite in the hand-off of the statement after them (or the COMMIT),
    so a savepoint costs no hand-off; rolled back, it still undoes what ran inside it, and nothing else."""
    async with sqlite_db.write() as session:
        await session.execute(text("SELECT 1"))
    calls = count_hand_offs(monkeypatch)
    async with sqlite_db.write() as session:
        async with session.begin_nested():
            await session.execute(text("INSERT INTO notes (id, body) VALUES (1, 'kept')"))
        with pytest.raises(IntegrityError):
            async with session.begin_nested():
                await session.execute(text("INSERT INTO notes (id, body) VALUES (2, 'undone')"))
                await session.execute(text("INSERT INTO notes (id, body) VALUES (1, 'a duplicate')"))
        async with session.begin_nested():
            await session.execute(text("INSERT INTO notes (id, body) VALUES (3, 'kept too')"))
    # four INSERTs (the first with BEGIN), ROLLBACK TO, COMMIT (with the last RELEASE)
    assert calls == ["_run_statement"] * 5 + ["commit"]
    async with sqlite_db.read() as session:
        assert (await session.execute(text("SELECT id, body FROM notes ORDER BY id"))).all() == [
            (1, "kept"),
            (3, "kept too"),
        ]


async def test_a_brief_transaction_runs_on_the_event_loop_once_begun(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its BEGIN IMMEDIATE and first statement go to the thread; the rest, the COMMIT included, need no
    hand-off. What it wrote is committed, and a failed one is rolled back whole."""
    calls = count_hand_offs(monkeypatch)
    async with sqlite_db.write(brief=True) as session:
        await session.execute(text("INSERT INTO notes (id, body) VALUES (1, 'A')"))
        await session.execute(text("INSERT INTO notes (id, body) VALUES (2, 'B')"))
        await session.execute(text("UPDATE notes SET body = 'C' WHERE id = 2"))
    assert calls == ["_run_statement"]
    with pytest.raises(IntegrityError):
        async with sqlite_db.write(brief=True) as session:
            await session.execute(text("INSERT INTO notes (id, body) VALUES (3, 'undone')"))
            await session.execute(text("INSERT INTO notes (id, body) VALUES (1, 'a duplicate')"))
    calls.clear()
    async with sqlite_db.write() as session:  # the next transaction, not brief, is in the thread again
        await session.execute(text("INSERT INTO notes (id, body) VALUES (4, 'D')"))
        await session.execute(text("INSERT INTO notes (id, body) VALUES (5, 'E')"))
    assert calls == ["_run_statement"] * 2 + ["commit"]
    async with sqlite_db.read() as session:
        assert (await session.execute(text("SELECT id, body FROM notes ORDER BY id"))).all() == [
            (1, "A"),
            (2, "C"),
            (4, "D"),
            (5, "E"),
        ]


async def test_a_brief_transaction_waits_for_another_process_in_the_thread(tmp_path: Path) -> None:
    """Its BEGIN IMMEDIATE, waiting for a write lock another process holds, leaves the event loop free;
    once the lock is let go, the transaction goes on and commits."""
    path = tmp_path / "locked.db"
    db = connect(f"sqlite+aiosqlite:///{path}")
    try:
        async with db.write() as session:
            await session.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"))
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")

        async def write() -> None:
            async with db.write(brief=True) as session:
                await session.execute(text("INSERT INTO notes (id, body) VALUES (1, 'after the wait')"))

        async with ticking() as ticks:
            writing = asyncio.create_task(write())
            await asyncio.sleep(0.3)
            assert not writing.done() and ticks[0] >= 10
            other.execute("COMMIT")
            other.close()
            await asyncio.wait_for(writing, 5)
        async with db.read() as session:
            assert list(await session.scalars(text("SELECT body FROM notes"))) == ["after the wait"]
    finally:
        await db.dispose()


async def test_a_brief_transaction_cancelled_in_the_thread_leaves_the_loop_free(sqlite_db: Database) -> None:
    """Cancelled while its first statement runs in the driver's thread, a brief transaction keeps nothing, and
    nothing of it runs on the event loop meanwhile: SQLAlchemy gives up a connection whose statement was
    cancelled, and the driver closes it in its thread once the statement has ended. The next transaction
    gets a connection of its own."""

    async with sqlite_db.read() as session:
        raw = await (await session.connection()).get_raw_connection()
        await raw.driver_connection.create_function("slow", 1, sleeping(0.4))  # the pool's one connection

    async def write() -> None:
        async with sqlite_db.write(brief=True) as session:
            await session.execute(text("INSERT INTO notes (id, body) SELECT slow(1), 'never kept'"))

    writing = asyncio.create_task(write())
    await asyncio.sleep(0.1)
    async with ticking() as ticks:
        writing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await writing
        await asyncio.sleep(0.4)
    assert ticks[0] >= 20, "nothing held the event loop while the statement ran on"
    async with sqlite_db.write(brief=True) as session:
        await session.execute(text("INSERT INTO notes (id, body) VALUES (2, 'after')"))
    async with sqlite_db.read() as session:
        assert (await session.execute(text("SELECT id, body FROM notes"))).all() == [(2, "after")]


async def test_update_returning_reports_rows_and_rowcount(sqlite_db: Database) -> None:
    async with sqlite_db.write() as session:
        await session.execute(text("INSERT INTO notes (id, body) VALUES (1, 'A'), (2, 'B')"))
        result = await session.execute(text("UPDATE notes SET body = 'C' RETURNING id"))
        assert sorted(result.scalars()) == [1, 2]
        plain = await session.execute(text("UPDATE notes SET body = 'D' WHERE id = 1"))
        assert plain.rowcount == 1


async def test_driver_errors_reach_callers_as_sqlalchemy_errors(sqlite_db: Database) -> None:
    """A constraint broken in the driver's thread is the IntegrityError callers catch, and rolls back."""
    async with sqlite_db.write() as session:
        await session.execute(text("INSERT INTO notes (id, body) VALUES (1, 'A')"))
    with pytest.raises(IntegrityError):
        async with sqlite_db.write() as session:
            await session.execute(text("INSERT INTO notes (id, body) VALUES (2, 'B')"))
            await session.execute(text("INSERT INTO notes (id, body) VALUES (1, 'again')"))
    with pytest.raises(OperationalError):
        async with sqlite_db.read() as session:
            await session.execute(text("SELECT nonsense FROM nowhere"))
    async with sqlite_db.read() as session:
        assert list(await session.scalars(text("SELECT id FROM notes"))) == [1]


async def test_a_slow_statement_leaves_the_event_loop_free(sqlite_db: Database) -> None:
    """SQLite works in its own thread: while a statement runs, other users' coroutines go on."""
    async with sqlite_db.read() as session:
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        await raw.driver_connection.create_function("slow", 1, sleeping(0.3))
        async with ticking() as ticks:
            assert await session.scalar(text("SELECT slow(7)")) == 7
    assert ticks[0] >= 10


async def test_a_closed_connection_refuses_work(tmp_path: Path) -> None:
    connection = await sqlite_driver.creator(str(tmp_path / "closed.db"), ("foreign_keys=ON",))()
    cursor = await connection.execute("SELECT 41 + 1")
    assert await cursor.fetchall() == [(42,)]
    await connection.close()
    await connection.close()  # closing twice is harmless, as the engine may do on shutdown
    with pytest.raises(sqlite3.ProgrammingError):
        await connection.execute("SELECT 1")


async def test_a_streamed_read_lets_other_tasks_run_between_slices(sqlite_db: Database) -> None:
    """The driver holds every row after execute; reading them in slices must still give the loop its turns."""
    async with sqlite_db.write() as session:
        for n in range(1, 11):
            await session.execute(text("INSERT INTO notes (id, body) VALUES (:id, 'x')"), {"id": n})
    turns: list[int] = []

    async def other_user() -> None:
        while True:
            turns.append(len(turns))
            await asyncio.sleep(0)

    async with sqlite_db.read() as session:
        streamed = await session.stream(text("SELECT id FROM notes ORDER BY id").execution_options(yield_per=2))
        running = asyncio.create_task(other_user())
        await asyncio.sleep(0)
        seen = []
        async for _slice in streamed.partitions(2):
            seen.append(len(turns))
        running.cancel()
    assert len(seen) == 5 and seen == sorted(set(seen)), "the other task ran between every two slices"


async def test_streamed_results_come_through(sqlite_db: Database) -> None:
    """`stream()` takes SQLAlchemy's server-side cursor, which reads the rows with fetchone/fetchmany."""
    async with sqlite_db.write() as session:
        for n in range(1, 6):
            await session.execute(text("INSERT INTO notes (id, body) VALUES (:id, 'x')"), {"id": n})
    async with sqlite_db.read() as session:
        streamed = await session.stream(text("SELECT id FROM notes ORDER BY id"))
        assert [row.id async for row in streamed] == [1, 2, 3, 4, 5]
        streamed = await session.stream(text("SELECT id FROM notes ORDER BY id"))
        first = await streamed.fetchone()
        rest = [row.id for row in await streamed.fetchmany(2)]
        assert (first.id, rest) == (1, [2, 3])
        await streamed.close()


@pytest.mark.parametrize("level", ["AUTOCOMMIT", "SERIALIZABLE", "READ UNCOMMITTED"])
async def test_an_isolation_level_is_refused_with_a_reason(tmp_path: Path, level: str) -> None:
    """The driver keeps connections in autocommit mode and the engine begins each transaction (BEGIN
    IMMEDIATE for writes): an isolation level, for the engine or for one connection, is refused in words."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'levels.db'}"
    with pytest.raises(IsolationLevelRefused, match=f"isolation_level='{level}' is not supported on SQLite"):
        connect(url, isolation_level=level)
    with pytest.raises(IsolationLevelRefused, match="serializable already"):
        connect(url, execution_options={"isolation_level": level})
    db = connect(url)
    try:
        async with db.sessions() as session:
            with pytest.raises(IsolationLevelRefused, match=f"isolation_level='{level}'"):
                await session.connection(execution_options={"isolation_level": level})
        async with db.write() as session:  # the refused option left nothing behind
            assert (await session.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await db.dispose()
