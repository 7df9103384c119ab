"""Migration 0006 moves every categorize value to answers and gold per question as JSON, and back.

A database at 0005 gets a batch under way written in the old schema with plain SQL: a requester,
workers, a taxonomy, gold items and a proposed category, graded answers and a quiz answer, a contested
gold, the ledger's postings. Upgraded, every node id must be a label and nothing else may change;
downgraded again, the database must be what it was, schema and rows.
"""

import asyncio
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection

from storage import migrate
from storage.db import connect
from storage.migrate import CannotDowngrade
from storage.models import Base
from tests.conftest import BACKENDS
from tests.storage.scratch import postgres_database

T = TypeVar("T")
OLD = "0005"
NEW = "0006"
WOKS = 5_000_000_001  # past 32 bits: the label keeps every digit
WHEN = "'2026-12-01 10:00:00.000000'"
OLD_RUN = [
    "INSERT INTO users (id, first_name, username, is_requester, is_reachable, gold_answers, gold_correct, level,"
    " breaks_enabled, created_at, last_seen_at) VALUES"
    f" (100, 'Shop', 'shop', true, true, 0, 0, 0, true, {WHEN}, {WHEN}),"
    f" (201, 'Ann', NULL, false, true, 2, 1, 0, true, {WHEN}, {WHEN}),"
    f" (202, 'Bob', 'bob', false, true, 1, 0, 0, false, {WHEN}, {WHEN}),"
    f" (203, 'Cy', NULL, false, false, 1, 1, 1, true, {WHEN}, {WHEN})",
    f"INSERT INTO taxonomies (id, name, source, node_count, created_at) VALUES (1, 'Kitchen', 'kitchen.txt', 6, {WHEN})",
    "INSERT INTO taxonomy_nodes (taxonomy_id, id, parent_id, name, position) VALUES"
    " (1, 1, NULL, 'Home & Garden', 0), (1, 10, 1, 'Kitchen', 1), (1, 101, 10, 'Cookware', 2),"
    f" (1, 5181, 101, 'Skillets', 3), (1, 5182, 101, 'Saucepans', 4), (1, {WOKS}, 101, 'Woks', 5)",
    "INSERT INTO batches (id, requester_id, name, task_type, taxonomy_id, root_node_id, reward_micros, overlap,"
    " leaf_only, instructions, gold_rate, confidence, min_overlap, min_gold, min_accuracy, min_seconds, max_answers,"
    " min_level, qualification, gold_slots, quiz_slots, status, item_count, reserved_micros, source_name, source_hash,"
    " created_at, launched_at, finished_at) VALUES (1, 100, 'Cookware', 'categorize', 1, 10, 20000, 2, true,"
    " 'Pick the most specific category', 0.25, 0.9, 1, 5, 0.7, NULL, NULL, 0, 1, 4, 2, 'active', 5, 200000,"
    f" 'cookware.csv', 'ab12', {WHEN}, {WHEN}, NULL)",
    "INSERT INTO items (id, batch_id, external_id, title, description, brand, price, image_url, gold_node_id,"
    " proposed_node_id, gold_answer, slots_taken, answers, is_open, settled) VALUES"
    " (1, 1, 'p1', 'Cast iron skillet 26 cm', 'Pre-seasoned', 'Lodge', '39.90', '', 5181, NULL, NULL, 0, 0, true, false),"
    " (2, 1, 'p2', 'Saucepan 2 l', '', 'Tefal', '24.00', '', 5182, NULL, 'yes', 0, 0, true, false),"
    " (3, 1, 'p3', 'Carbon steel pan', '', '', '', 'https://img.example/p3.jpg', NULL, 5181, NULL, 2, 2, false, true),"
    " (4, 1, 'p4', 'Egg pan', '', '', '', '', NULL, NULL, NULL, 1, 0, true, false),"
    f" (5, 1, 'p5', 'Wok 32 cm', '', '', '', '', {WOKS}, {WOKS}, NULL, 0, 0, true, false)",
    "INSERT INTO batch_workers (batch_id, worker_id, state, answers, attempts, retry_at, reason, changed_at) VALUES"
    " (1, 201, 'active', 1, 0, NULL, NULL, NULL), (1, 202, 'active', 1, 0, NULL, NULL, NULL),"
    f" (1, 203, 'qualifying', 0, 1, NULL, NULL, {WHEN})",
    "INSERT INTO assignments (id, item_id, batch_id, worker_id, status, created_at, expires_at, answered_at,"
    " answer_node_id, gold_correct, gold_distance, reward_micros, is_gold, quiz_attempt, credit_state) VALUES"
    f" (1, 1, 1, 201, 'answered', {WHEN}, {WHEN}, {WHEN}, 5181, true, 0, 20000, true, NULL, 'pending'),"
    f" (2, 1, 1, 202, 'answered', {WHEN}, {WHEN}, {WHEN}, 5182, false, 2, 20000, true, NULL, 'pending'),"
    f" (3, 3, 1, 201, 'answered', {WHEN}, {WHEN}, {WHEN}, 5181, NULL, NULL, 20000, false, NULL, 'available'),"
    f" (4, 3, 1, 202, 'answered', {WHEN}, {WHEN}, {WHEN}, 101, NULL, NULL, 20000, false, NULL, 'pending'),"
    f" (5, 4, 1, 203, 'reserved', {WHEN}, {WHEN}, NULL, NULL, NULL, NULL, 0, false, NULL, NULL),"
    f" (6, 2, 1, 203, 'answered', {WHEN}, {WHEN}, {WHEN}, 5182, true, 0, 0, false, 1, NULL),"
    f" (7, 5, 1, 201, 'skipped', {WHEN}, {WHEN}, NULL, NULL, NULL, NULL, 0, false, NULL, NULL)",
    "INSERT INTO gold_disputes (id, assignment_id, item_id, batch_id, worker_id, answer_node_id, gold_node_id, status,"
    f" created_at, decided_by, decided_at) VALUES (1, 2, 1, 1, 202, 5182, 5181, 'open', {WHEN}, NULL, NULL)",
    "INSERT INTO accounts (id, kind, owner_id, balance) VALUES (1, 'platform', 0, -1000000),"
    " (2, 'requester_available', 100, 800000), (3, 'requester_reserved', 100, 120000),"
    " (4, 'worker_pending', 201, 20000), (5, 'worker_available', 201, 20000), (6, 'worker_pending', 202, 40000)",
    "INSERT INTO ledger_transactions (id, key, kind, memo, created_at) VALUES"
    f" (1, 'fund:100:1', 'fund', 'bank transfer', {WHEN}), (2, 'launch:1', 'reserve', '', {WHEN}),"
    f" (3, 'answer:1', 'answer', '', {WHEN}), (4, 'answer:2', 'answer', '', {WHEN}),"
    f" (5, 'answer:3', 'answer', '', {WHEN}), (6, 'release:3', 'release', '', {WHEN}),"
    f" (7, 'answer:4', 'answer', '', {WHEN})",
    "INSERT INTO ledger_entries (id, transaction_id, account_id, amount) VALUES"
    " (1, 1, 1, -1000000), (2, 1, 2, 1000000), (3, 2, 2, -200000), (4, 2, 3, 200000),"
    " (5, 3, 3, -20000), (6, 3, 4, 20000), (7, 4, 3, -20000), (8, 4, 6, 20000),"
    " (9, 5, 3, -20000), (10, 5, 4, 20000), (11, 6, 4, -20000), (12, 6, 5, 20000),"
    " (13, 7, 3, -20000), (14, 7, 6, 20000)",
    f"INSERT INTO payout_methods (user_id, kind, address, updated_at) VALUES (201, 'paypal', 'ann@example.com', {WHEN})",
]
# The columns 0006 adds, and what each row's must hold: keyed by id.
MOVED: dict[str, dict[int, dict[str, Any]]] = {
    "batches": {1: {"task_config": {}}},
    "items": {
        1: {"payload": {}, "gold": {"category": "5181"}, "is_gold": True},
        2: {"payload": {"gold_answer": "yes"}, "gold": {"category": "5182"}, "is_gold": True},
        3: {"payload": {"proposed": "5181"}, "gold": None, "is_gold": False},
        4: {"payload": {}, "gold": None, "is_gold": False},
        5: {"payload": {"proposed": str(WOKS)}, "gold": {"category": str(WOKS)}, "is_gold": True},
    },
    "assignments": {
        1: {"answer": {"category": "5181"}},
        2: {"answer": {"category": "5182"}},
        3: {"answer": {"category": "5181"}},
        4: {"answer": {"category": "101"}},
        5: {"answer": None},
        6: {"answer": {"category": "5182"}},
        7: {"answer": None},
    },
    "gold_disputes": {1: {"answer": {"category": "5182"}, "gold": {"category": "5181"}}},
}
DROPPED = {
    "items": ("gold_node_id", "proposed_node_id", "gold_answer"),
    "assignments": ("answer_node_id",),
    "gold_disputes": ("answer_node_id", "gold_node_id"),
}
NEW_TYPES: dict[str, sa.types.TypeEngine[Any]] = {
    "task_config": sa.JSON(),
    "payload": sa.JSON(),
    "gold": sa.JSON(),
    "answer": sa.JSON(),
    "is_gold": sa.Boolean(),
}


@pytest.fixture(params=BACKENDS)
def old_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database at 0005 holding OLD_RUN."""
    with _empty_database(request.param, tmp_path) as url:
        migrate.upgrade(url, OLD)
        _sync(url, lambda connection: [connection.execute(sa.text(statement)) for statement in OLD_RUN])
        yield url


def test_the_upgrade_turns_node_ids_into_labels_and_changes_nothing_else(old_database: str) -> None:
    before = _sync(old_database, _contents)
    assert [len(before[table]) for table in ("accounts", "ledger_transactions", "ledger_entries")] == [6, 7, 14]

    migrate.upgrade(old_database, NEW)

    after = _sync(old_database, _contents)
    assert _sync(old_database, _revision) == NEW
    assert {table: _without(rows, _added(table)) for table, rows in after.items()} == {
        table: _without(rows, DROPPED.get(table, ())) for table, rows in before.items()
    }
    assert _sync(old_database, _moved) == MOVED
    # No label is SQL NULL, not the JSON value null: `IS NULL` finds the items without gold.
    assert _sync(old_database, lambda connection: _ids(connection, "items", "gold IS NULL")) == [3, 4]
    assert _sync(old_database, lambda connection: _ids(connection, "assignments", "answer IS NULL")) == [5, 7]


def test_the_downgrade_gives_back_the_old_schema_and_every_value(old_database: str) -> None:
    before_schema = _sync(old_database, _schema)
    before = _sync(old_database, _contents)
    migrate.upgrade(old_database, NEW)

    command.downgrade(migrate.alembic_config(old_database), OLD)

    assert _sync(old_database, _revision) == OLD
    assert _sync(old_database, _schema) == before_schema
    assert _sync(old_database, _contents) == before


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ('UPDATE assignments SET answer = \'{"verdict": "yes"}\' WHERE id = 5', "assignment 5 holds \\['verdict'\\]"),
        ('UPDATE items SET gold = \'{"category": "Skillets"}\' WHERE id = 4', "'Skillets' is no category id"),
        ("UPDATE batches SET task_config = '{\"correct\": true}' WHERE id = 1", "batch 1 has task settings"),
    ],
)
def test_the_downgrade_refuses_what_the_old_columns_cannot_hold(old_database: str, change: str, refusal: str) -> None:
    migrate.upgrade(old_database, NEW)
    _sync(old_database, lambda connection: connection.execute(sa.text(change)))
    before = _sync(old_database, _contents)

    with pytest.raises(CannotDowngrade, match=refusal):
        command.downgrade(migrate.alembic_config(old_database), OLD)

    assert _sync(old_database, _revision) == NEW
    assert _sync(old_database, _contents) == before


def _empty_database(backend: str, tmp_path: Path) -> AbstractContextManager[str]:
    if backend == "sqlite":
        return nullcontext(f"sqlite+aiosqlite:///{tmp_path / 'crowdshelf.db'}")
    return postgres_database("migration_data")


def _sync(url: str, work: Callable[[Connection], T]) -> T:
    """`work` on a connection to `url`, in a transaction committed after it."""

    async def run() -> T:
        database = connect(url)
        try:
            async with database.engine.begin() as connection:
                return await connection.run_sync(work)
        finally:
            await database.dispose()

    return asyncio.run(run())


def _tables(connection: Connection) -> list[sa.Table]:
    """The models' tables the database has at its revision (later migrations add tables of their own)."""
    present = set(sa.inspect(connection).get_table_names())
    return [table for table in Base.metadata.sorted_tables if table.name in present]


def _contents(connection: Connection) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table as the driver gives it, by primary key."""
    contents = {}
    for table in _tables(connection):
        key = ", ".join(column.name for column in table.primary_key.columns)
        rows = connection.execute(sa.text(f"SELECT * FROM {table.name} ORDER BY {key}")).mappings()
        contents[table.name] = [dict(row) for row in rows]
    return contents


def _tables(connection: Connection) -> list[sa.Table]:
    """The models' tables the database has: those of later migrations are not there yet."""
    present = set(sa.inspect(connection).get_table_names())
    return [table for table in Base.metadata.sorted_tables if table.name in present]


def _without(rows: list[dict[str, Any]], columns: Iterable[str]) -> list[dict[str, Any]]:
    return [{column: value for column, value in row.items() if column not in columns} for row in rows]


def _added(table: str) -> set[str]:
    return set(next(iter(MOVED[table].values()))) if table in MOVED else set()


def _moved(connection: Connection) -> dict[str, dict[int, dict[str, Any]]]:
    """The values of the columns 0006 adds, read back as the models read them."""
    moved = {}
    for name in MOVED:
        columns = sorted(_added(name))
        table = sa.table(
            name, sa.column("id", sa.Integer()), *(sa.column(column, NEW_TYPES[column]) for column in columns)
        )
        rows = connection.execute(sa.select(table).order_by(table.c.id)).mappings()
        moved[name] = {row["id"]: {column: row[column] for column in columns} for row in rows}
    return moved


def _ids(connection: Connection, table: str, condition: str) -> list[int]:
    return list(connection.execute(sa.text(f"SELECT id FROM {table} WHERE {condition} ORDER BY id")).scalars())


def _schema(connection: Connection) -> dict[str, dict[str, Any]]:
    """Each table's columns, indexes, unique constraints and foreign keys, as the database reports them."""
    inspector = sa.inspect(connection)

    def by_name(found: list[Any]) -> list[Any]:
        return sorted(found, key=lambda each: str(each["name"]))

    return {
        table.name: {
            "columns": {
                column["name"]: (str(column["type"]), column["nullable"])
                for column in inspector.get_columns(table.name)
            },
            "indexes": by_name(inspector.get_indexes(table.name)),
            "unique": by_name(inspector.get_unique_constraints(table.name)),
            "foreign_keys": by_name(inspector.get_foreign_keys(table.name)),
            "primary_key": inspector.get_pk_constraint(table.name),
        }
        for table in _tables(connection)
    }


def _revision(connection: Connection) -> str:
    return str(connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one())
