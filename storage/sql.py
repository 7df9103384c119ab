"""Dialect-aware statements that SQLAlchemy spells differently on SQLite and PostgreSQL."""

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_ignoring_conflicts(session: AsyncSession, table: Table, **values: Any) -> Any:
    """INSERT … ON CONFLICT DO NOTHING for the session's dialect."""
    module = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    return module.insert(table).values(**values).on_conflict_do_nothing()


def upsert_adding(session: AsyncSession, table: Table, keys: dict[str, Any], column: str, amount: int) -> Any:
    """INSERT the row with `column` = amount, or add `amount` to it when the row exists."""
    module = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    statement = module.insert(table).values(**keys, **{column: amount})
    return statement.on_conflict_do_update(index_elements=list(keys), set_={column: getattr(table.c, column) + amount})
