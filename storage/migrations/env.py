"""Alembic environment: every pending migration runs in one transaction on the project's own engine.

A crash mid-upgrade leaves the database at the revision it started from, never in between: on
SQLite too, whose Python driver would otherwise commit each CREATE TABLE on its own. One
transaction for all pending migrations rather than one per migration: this version of the code
needs the head revision anyway; and on SQLite a second process starting at the same time waits
for the write lock (BEGIN IMMEDIATE) and then finds the schema at head.

SQLite cannot switch foreign keys off inside a transaction, yet a batch migration that rebuilds
a table others refer to must drop it first (with foreign keys on, that drop deletes or refuses
for the referring rows). So the migration's connection opens with them off, and the transaction
commits only if `PRAGMA foreign_key_check` then finds every reference intact: the procedure
SQLite's documentation gives for schema changes.
"""

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import make_url
from sqlalchemy.engine import Connection

from storage import sqlite_driver
from storage.db import SQLITE_PRAGMAS, connect
from storage.migrate import BrokenReferences
from storage.models import Base

config = context.config
MIGRATION_PRAGMAS = (*SQLITE_PRAGMAS, "foreign_keys=OFF")
MIGRATION_LOCK = 0x63726F7764  # any constant of the bot's own: "crowd" in ASCII


def _run(connection: Connection) -> None:
    # The connection is already in the write transaction: Alembic runs in it and commits nothing.
    if connection.dialect.name == "postgresql":
        # Processes starting together on one database migrate one at a time (SQLite's BEGIN IMMEDIATE
        # does this there): the next finds the schema at head instead of failing on "already exists".
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    context.run_migrations()
    if connection.dialect.name == "sqlite":
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise BrokenReferences(f"rows refer to missing rows (table, rowid, parent, key): {broken}")


async def _run_online(url: str) -> None:
    options: dict[str, Any] = {}
    if url.startswith("sqlite"):
        options["async_creator"] = sqlite_driver.creator(make_url(url).database or ":memory:", MIGRATION_PRAGMAS)
    db = connect(url, **options)
    try:
        async with db.write() as session:
            connection = await session.connection()
            await connection.run_sync(_run)
    finally:
        await db.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online(config.get_main_option("sqlalchemy.url") or ""))
