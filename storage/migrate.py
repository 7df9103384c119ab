"""Apply Alembic migrations programmatically (used by `crowdshelf run` and `crowdshelf db upgrade`)."""

from importlib.resources import files

from alembic import command
from alembic.config import Config


class BrokenReferences(RuntimeError):
    """The migrations left rows that refer to rows which do not exist (SQLite); nothing was committed."""


class CannotDowngrade(RuntimeError):
    """A downgrade met data the older schema has no column for; it changed nothing rather than drop it."""


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("storage") / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema at `url` up to `revision`. Blocking: call it outside the event loop."""
    command.upgrade(alembic_config(url), revision)
