"""Dialect-aware statements that SQLAlchemy spells differently on SQLite and PostgreSQL, statements with
their constants written into their SQL, and the cheap way to run a statement that loads no ORM objects."""

from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import BindParameter, ColumnElement, Executable, Result, Table, false, literal_column, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.visitors import ExternallyTraversible, replacement_traverse

S = TypeVar("S")
E = TypeVar("E", bound=ExternallyTraversible)


def dialect_module(session: AsyncSession) -> ModuleType:
    """The dialect package (with its own `insert`) of the database the session talks to."""
    return postgresql if session.get_bind().dialect.name == "postgresql" else sqlite


class PerDialect(Generic[S]):
    """A statement built once per dialect, for hot paths where building it would cost more than running it.

    `build` gets the dialect package (see `dialect_module`); the statement takes its values as
    parameters when it runs, so one built statement serves every call.
    """

    def __init__(self, build: Callable[[ModuleType], S]) -> None:
        self._build = build
        self._built: dict[str, S] = {}

    def __call__(self, session: AsyncSession) -> S:
        name = session.get_bind().dialect.name
        if name not in self._built:
            self._built[name] = self._build(dialect_module(session))
        return self._built[name]


def constants_written_in(statement: E) -> E:
    """`statement` with the values it was built with (a status, a LIMIT, a 0) written into its SQL: only the
    parameters it was built without (`bindparam("worker")`) are left for each call to give.

    PostgreSQL plans a prepared statement once for all calls only when a plan without the parameters' values
    costs no more than one with them. With its constants as parameters, the claim (three candidates, 45 of
    them) was planned anew at every call: 1.5 ms of the server's time a claim, against 0.5 ms planned once.
    """

    def written(element: Any, **_: Any) -> ColumnElement[Any] | None:
        if not isinstance(element, BindParameter) or element.value is None:
            return None
        value = element.value
        if isinstance(value, bool):
            return true() if value else false()
        if isinstance(value, int):  # an IntEnum's too, whose repr is no SQL
            return literal_column(str(int(value)), element.type)
        if isinstance(value, float):
            return literal_column(repr(float(value)), element.type)
        if isinstance(value, str):  # a StrEnum's too
            return literal_column("'" + str(value).replace("'", "''") + "'", element.type)
        raise TypeError(f"no SQL literal for {value!r}")

    return cast(E, replacement_traverse(statement, {}, written))


def insert_ignoring_conflicts(session: AsyncSession, table: Table, **values: Any) -> Any:
    """INSERT … ON CONFLICT DO NOTHING for the session's dialect."""
    return dialect_module(session).insert(table).values(**values).on_conflict_do_nothing()


def upsert_adding(table: Table, keys: Sequence[str], column: str) -> PerDialect[Any]:
    """INSERT a row, or, when a row with the same `keys` exists, add the new row's `column` to it.

    The row's values are given as parameters when the statement runs.
    """

    def build(dialect: ModuleType) -> Any:
        statement = dialect.insert(table)
        added = table.c[column] + statement.excluded[column]
        return statement.on_conflict_do_update(index_elements=list(keys), set_={column: added})

    return PerDialect(build)


async def run_core(
    session: AsyncSession, statement: Executable, values: dict[str, Any] | None = None
) -> Result[*tuple[Any, ...]]:
    """Run `statement` on the session's connection, as SQLAlchemy Core.

    A statement that names mapped classes (`Batch.overlap` rather than a table's column) goes through
    the ORM's execution path under `session.execute`, which costs about as much again as running it
    (0.17 ms a statement here). Statements that return rows, never ORM objects, skip that path here.
    """
    connection = await session.connection()
    return await connection.execute(statement, values)
