"""Database sessions: writes commit or roll back as a whole; SQLite writers queue up instead of failing."""

import asyncio
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from storage.db import Database, connect
from storage.models import User


async def user_ids(db: Database) -> list[int]:
    async with db.read() as session:
        return list(await session.scalars(select(User.id).order_by(User.id)))


async def test_write_commits(db: Database) -> None:
    """What a write block adds is committed and visible to a later read session."""
    async with db.write() as session:
        session.add(User(id=1, first_name="A"))
    assert await user_ids(db) == [1]


async def test_write_that_raises_rolls_back(db: Database) -> None:
    """An exception inside a write block undoes everything in it, flushed statements included, and propagates."""
    async with db.write() as session:
        session.add(User(id=1, first_name="kept"))
    with pytest.raises(RuntimeError, match="boom"):
        async with db.write() as session:
            session.add(User(id=2, first_name="flushed"))
            await session.flush()
            await session.execute(text("UPDATE users SET first_name = 'changed' WHERE id = 1"))
            raise RuntimeError("boom")
    assert await user_ids(db) == [1]
    async with db.read() as session:
        assert await session.scalar(select(User.first_name).where(User.id == 1)) == "kept"


async def test_write_rolls_back_on_cancellation(db: Database) -> None:
    """A write cancelled half-way (e.g. the bot shuts down) leaves nothing behind and frees the write lock."""
    inside = asyncio.Event()

    async def slow_write() -> None:
        async with db.write() as session:
            session.add(User(id=3, first_name="half"))
            await session.flush()
            inside.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(slow_write())
    await asyncio.wait_for(inside.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await user_ids(db) == []
    async with asyncio.timeout(5):
        async with db.write() as session:
            session.add(User(id=4, first_name="next"))
    assert await user_ids(db) == [4]


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "shared.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


async def test_sqlite_second_process_waits_for_write_lock(sqlite_url: str) -> None:
    """While one Database (think: bot process) holds a write transaction, another Database's write
    blocks at BEGIN IMMEDIATE, which goes with its first statement: it reads nothing until the first
    commits, and then reads what the first wrote."""
    first, second = connect(sqlite_url), connect(sqlite_url)
    release = asyncio.Event()
    holding = asyncio.Event()
    second_read = asyncio.Event()
    seen_by_second: list[int] = []

    async def hold_lock() -> None:
        async with first.write() as session:
            session.add(User(id=1, first_name="first"))
            await session.flush()
            holding.set()
            await release.wait()

    async def write_after() -> None:
        async with second.write() as session:
            seen_by_second.append(await session.scalar(select(func.count()).select_from(User)))
            second_read.set()
            session.add(User(id=2, first_name="second"))

    try:
        holder = asyncio.create_task(hold_lock())
        await asyncio.wait_for(holding.wait(), 5)
        waiter = asyncio.create_task(write_after())
        await asyncio.sleep(0.5)
        assert not second_read.is_set(), "the second writer read while the first held the lock"
        assert not waiter.done()
        release.set()
        await asyncio.wait_for(asyncio.gather(holder, waiter), 10)
        assert seen_by_second == [1], "the second writer must see the first writer's committed row"
        assert await user_ids(first) == [1, 2]
    finally:
        release.set()
        await first.dispose()
        await second.dispose()


async def test_sqlite_reads_do_not_wait_for_writers(sqlite_url: str) -> None:
    """WAL: a reader in another Database is not blocked by an open write and sees the last committed state."""
    writer, reader = connect(sqlite_url), connect(sqlite_url)
    try:
        async with writer.write() as session:
            session.add(User(id=1, first_name="committed"))
        async with writer.write() as session:
            session.add(User(id=2, first_name="uncommitted"))
            await session.flush()
            assert await asyncio.wait_for(user_ids(reader), 2) == [1]
    finally:
        await writer.dispose()
        await reader.dispose()


async def test_a_process_opens_no_more_postgresql_connections_than_it_is_allowed(database_url: str) -> None:
    """DATABASE_MAX_CONNECTIONS: twelve sessions at once on three connections wait their turn, none fails."""
    if not database_url.startswith("postgresql"):
        pytest.skip("a pool of connections to a server: PostgreSQL")
    db = connect(database_url, max_connections=3)
    backends: set[int] = set()

    async def busy() -> None:
        async with db.read() as session:
            backends.add(await session.scalar(text("SELECT pg_backend_pid()")))
            await session.execute(text("SELECT pg_sleep(0.05)"))

    try:
        await asyncio.gather(*(busy() for _ in range(12)))
    finally:
        await db.dispose()
    assert 1 <= len(backends) <= 3
