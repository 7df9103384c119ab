"""A migration killed at any moment leaves a database the next upgrade brings to head, its data intact.

Each run is a process of its own, killed with SIGKILL at moments spread evenly over one measured
uninterrupted run: from when it opens the database to when it says the migrations are done.
SQLite only: PostgreSQL's DDL is transactional by itself, and the migrations run on it in every
PostgreSQL test session.
"""

import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from bot import work
from bot.wiring.services import build_services
from storage import migrate
from storage.db import connect
from storage.migrate import BrokenReferences
from storage.models import Base, User
from tests.conftest import make_settings
from tests.factories import SKILLETS, load_batch, products
from tests.storage.test_migrations import _differences

KILLS = 20
SCRIPTS = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
HEAD = SCRIPTS.get_current_head()
ALL_TABLES = sorted([*Base.metadata.tables, "alembic_version"])
FUTURE = "future"
FUTURE_MIGRATION = """
from alembic import op

revision = "{revision}"
down_revision = "{down_revision}"


def upgrade() -> None:
{body}
"""
# A migration still to be written that rebuilds the tables most others refer to, as batch mode
# does for any change SQLite's ALTER TABLE cannot make (drop or alter a column, add a constraint).
REBUILD = """
    for table in ("users", "batches", "items", "assignments"):
        with op.batch_alter_table(table, recreate="always"):
            pass
"""
# `crowdshelf db upgrade`, with the future migration's folder among the versions.
UPGRADE_WITH_FUTURE = """
import sys
from alembic import command
from storage import migrate

config = migrate.alembic_config(sys.argv[1])
config.set_main_option("path_separator", "os")
config.set_main_option("version_locations", sys.argv[2])
command.upgrade(config, "heads")
print("Database is up to date.")
"""


@dataclass(frozen=True)
class Kill:
    after: float  # seconds after the process opened the database
    revision: str | None  # where the killed run left the database


def test_a_first_migration_killed_anywhere_is_redone(tmp_path: Path) -> None:
    def upgrade(path: Path) -> subprocess.Popen[bytes]:
        return _start([sys.executable, "-m", "bot.wiring.cli", "db", "upgrade"], {"DATABASE_URL": _url(path)})

    kills = _kill_repeatedly(tmp_path, KILLS, start=upgrade, prepare=lambda path: None, opened=Path.exists)

    for kill, path in kills:
        left = (kill.revision, _tables(path))
        assert left in ((None, []), (HEAD, ALL_TABLES)), (
            f"killed {kill.after:.3f} s in, the database was left at {left}"
        )
        migrate.upgrade(_url(path))
        assert _revision(path) == HEAD
        assert _schema_differences(path) == []
        _assert_sound(path)
    assert any(kill.revision is None for kill, _ in kills), "every kill came after the migration was done"


def test_a_migration_of_a_populated_database_killed_anywhere_keeps_its_data(tmp_path: Path) -> None:
    populated = tmp_path / "populated.db"
    migrate.upgrade(_url(populated))
    asyncio.run(_populate(_url(populated)))
    before = _contents(populated)
    locations = _with_future_migration(tmp_path, REBUILD)

    def upgrade(path: Path) -> subprocess.Popen[bytes]:
        return _start([sys.executable, "-c", UPGRADE_WITH_FUTURE, _url(path), locations], {})

    def wal_exists(path: Path) -> bool:
        # The database exists already; a process has opened it once it has a write-ahead log.
        return path.with_name(path.name + "-wal").exists()

    kills = _kill_repeatedly(
        tmp_path, KILLS // 2, start=upgrade, prepare=lambda path: shutil.copy(populated, path), opened=wal_exists
    )

    for kill, path in kills:
        assert kill.revision in (HEAD, FUTURE), (
            f"killed {kill.after:.3f} s in, the database was left at {kill.revision}"
        )
        assert _contents(path) == before
        _upgrade(path, locations)
        assert _revision(path) == FUTURE
        assert _contents(path) == before
        _assert_sound(path)
        assert _references_to("batches", path) == _references_to("batches", populated)
    assert any(kill.revision == HEAD for kill, _ in kills), "every kill came after the migration was done"


def test_a_migration_that_breaks_a_reference_commits_nothing(tmp_path: Path) -> None:
    path = tmp_path / "crowdshelf.db"
    migrate.upgrade(_url(path))
    dangling = """
    op.execute("INSERT INTO payout_methods VALUES (404, 'paypal', 'nobody@example.com', '2026-01-01')")
"""
    with pytest.raises(BrokenReferences, match="payout_methods"):
        _upgrade(path, _with_future_migration(tmp_path, dangling))
    assert _revision(path) == HEAD
    assert _contents(path)["payout_methods"] == []


def _with_future_migration(tmp_path: Path, body: str) -> str:
    """The version locations that add a migration after head, running `body`."""
    versions = tmp_path / "future_versions"
    versions.mkdir()
    migration = FUTURE_MIGRATION.format(revision=FUTURE, down_revision=HEAD, body=body.strip("\n"))
    (versions / f"{FUTURE}.py").write_text(migration)
    return os.pathsep.join((SCRIPTS.versions, str(versions)))


def _upgrade(path: Path, locations: str) -> None:
    config = migrate.alembic_config(_url(path))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", locations)
    command.upgrade(config, "heads")


def _schema_differences(path: Path) -> list:
    engine = create_engine(_url(path, driver="pysqlite"))
    try:
        with engine.connect() as connection:
            return _differences(connection)
    finally:
        engine.dispose()


def _kill_repeatedly(
    tmp_path: Path,
    count: int,
    start: Callable[[Path], subprocess.Popen[bytes]],
    prepare: Callable[[Path], None],
    opened: Callable[[Path], bool],
) -> list[tuple[Kill, Path]]:
    """Measure one run, then start `count` more and kill each at its moment of that run."""
    measured = tmp_path / "measured.db"
    prepare(measured)
    process = start(measured)
    opened_at = _wait_for(partial(opened, measured), process)
    assert process.stdout is not None
    said = process.stdout.readline()  # once the migrations are committed; the exit takes longer
    duration = time.monotonic() - opened_at
    _, stderr = process.communicate(timeout=120)
    assert (process.returncode, said) == (0, b"Database is up to date.\n"), stderr.decode()[-2000:]

    kills = []
    for number in range(count):
        path = tmp_path / f"killed-{number}.db"
        prepare(path)
        process = start(path)
        after = duration * number / count
        _wait_for(partial(opened, path), process)
        time.sleep(after)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        kills.append((Kill(after, _revision(path)), path))
    return kills


def _start(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    environment = {**os.environ, "LOG_LEVEL": "WARNING", **env}
    return subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes]) -> float:
    deadline = time.monotonic() + 120
    while not condition():
        assert process.poll() is None, "the process ended before it opened the database"
        assert time.monotonic() < deadline, "the process did not open the database"
        time.sleep(0.001)
    return time.monotonic()


async def _populate(url: str) -> None:
    """A running batch, three workers with answers, their credits in the ledger."""
    db = connect(url)
    services = build_services(make_settings(url), db)
    try:
        # No speed check: under load one worker's answers could look too quick beside another's.
        await load_batch(services, products(300), min_seconds=0)
        leaf = (await services.taxonomies.get(1)).tree.find(SKILLETS).id
        for worker in (1, 2, 3):
            async with db.write() as session:
                session.add(User(id=worker, first_name=f"Worker {worker}"))
            task = await work.next_task(services, worker)
            for _ in range(40):
                assert task is not None
                task = (await work.answer(services, worker, task.assignment_id, 0, str(leaf))).next_task
    finally:
        await db.dispose()


def _url(path: Path, driver: str = "aiosqlite") -> str:
    return f"sqlite+{driver}:///{path}"


def _revision(path: Path) -> str | None:
    with closing(sqlite3.connect(path)) as connection:
        if not connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'alembic_version'").fetchone():
            return None
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        return row[0] if row else None


def _tables(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as connection:
        return sorted(row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))


def _contents(path: Path) -> dict[str, list[tuple]]:
    with closing(sqlite3.connect(path)) as connection:
        return {
            table.name: connection.execute(f"SELECT * FROM {table.name} ORDER BY rowid").fetchall()
            for table in Base.metadata.sorted_tables
        }


def _assert_sound(path: Path) -> None:
    with closing(sqlite3.connect(path)) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []


def _references_to(parent: str, path: Path) -> list[tuple]:
    """Every foreign key that points at `parent`, as (table, column, parent column)."""
    with closing(sqlite3.connect(path)) as connection:
        return sorted(
            (table, key[3], key[4])
            for table in _tables(path)
            for key in connection.execute(f"PRAGMA foreign_key_list({table})")
            if key[2] == parent
        )
