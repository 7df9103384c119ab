"""The Alembic migrations build exactly the schema the models describe, on every database."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from storage.db import Database
from storage.models import Base


def _differences(connection: Connection) -> list:
    return compare_metadata(MigrationContext.configure(connection), Base.metadata)


async def test_models_match_migrations(db: Database) -> None:
    async with db.engine.connect() as connection:
        assert await connection.run_sync(_differences) == []
