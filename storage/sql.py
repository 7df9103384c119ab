"""Dialect-aware statements that SQLAlchemy spells differently on SQLite and PostgreSQL."""

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_ignoring_conflicts(session: AsyncSession, table: Table, **values: Any) -> Any:
    """INSERT … ON CONFLICT DO NOTHING for the session's dialect."""
    module = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    return module.insert(table).values(**values).on_conflict_do_nothing()
