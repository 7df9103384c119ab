"""storage.sql's statement helpers, compiled as each database gets them."""

from enum import IntEnum, StrEnum

from sqlalchemy import bindparam, column, select, table
from sqlalchemy.dialects import postgresql, sqlite

from storage.sql import constants_written_in


class Level(IntEnum):
    EXPERT = 2


class Status(StrEnum):
    ODD = "it's"


def test_constants_are_written_into_the_sql_and_the_call_s_parameters_stay() -> None:
    items = table("items", column("level"), column("status"), column("rate"), column("open"), column("worker"))
    query = (
        select(items.c.level)
        .where(
            items.c.level == Level.EXPERT,
            items.c.status == Status.ODD,
            items.c.rate > 1.5,
            items.c.open == True,  # noqa: E712
            items.c.worker == bindparam("worker"),
        )
        .limit(3)
    )
    written = constants_written_in(query)

    compiled = written.compile(dialect=postgresql.dialect())
    assert list(compiled.params) == ["worker"]
    assert str(compiled).split("WHERE ")[1] == (
        "items.level = 2 AND items.status = 'it''s' AND items.rate > 1.5 AND items.open = true "
        "AND items.worker = %(worker)s \n LIMIT 3"
    )
    assert "items.open = 1" in str(written.compile(dialect=sqlite.dialect()))
