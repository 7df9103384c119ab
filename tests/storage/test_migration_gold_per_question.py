"""Migration 0008 turns each graded answer's right-or-wrong into its gold answers per question, and back.

A database at 0007 holds test_migration_data's categorize run (one question: each graded answer becomes
1 of 1 or 0 of 1) and an attributes batch with three questions: an answer right on two of three (its typed
brand in other case and spacing), one right on all, one that never answered the brand (graded on two),
one on an item with gold for one question only, and one whose stored grade its labels do not bear out,
which keeps its grade as one gold answer. The workers' lifetime counters move by the gold answers gained;
downgraded again, the database is what it was.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection

from storage import migrate
from tests.conftest import BACKENDS
from tests.storage.test_migration_data import OLD_RUN, _contents, _empty_database, _revision, _sync

OLD, NEW = "0007", "0008"
TAGS = {
    "attributes": [
        {"key": "color", "values": ["black", "white", "red"]},
        {"key": "material", "values": ["steel", "wood"]},
        {"key": "brand", "values": None},
    ]
}
FULL_GOLD = {"color": "black", "material": "steel", "brand": "acme works"}
# item id: gold; assignment id: (item, worker, answer, gold_correct as the bot stored it)
ITEMS = {11: FULL_GOLD, 12: {"color": "white"}, 13: {"color": "red"}}
ANSWERS = {
    21: (11, 201, {"color": "black", "material": "wood", "brand": "ACME  Works "}, False),
    22: (11, 202, {"color": "black", "material": "steel", "brand": "acme works"}, True),
    23: (12, 201, {"color": "red", "material": "steel", "brand": "x"}, False),
    24: (13, 202, {"color": "red", "material": "wood", "brand": "y"}, False),
    25: (11, 203, {"color": "black", "material": "wood"}, False),  # the brand never answered: not graded
}
# What 0008 makes of every graded answer: (gold_graded, gold_right); every other answer is 0 of 0.
GRADED = {1: (1, 1), 2: (1, 0), 6: (1, 1), 21: (3, 2), 22: (3, 3), 23: (1, 0), 24: (1, 0), 25: (2, 1)}
# The workers' lifetime (gold answers, right) before and after: 201 gains two answers, both right
# (answer 21); 202 gains two, both right (answer 22); 203 one, right (answer 25).
COUNTERS_BEFORE = {100: (0, 0), 201: (4, 1), 202: (3, 1), 203: (2, 1)}
COUNTERS_AFTER = {100: (0, 0), 201: (6, 3), 202: (5, 3), 203: (3, 2)}


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database at 0007 holding test_migration_data's run and the attributes batch above."""
    with _empty_database(request.param, tmp_path) as url:
        migrate.upgrade(url, "0005")
        _sync(url, lambda connection: [connection.execute(sa.text(statement)) for statement in OLD_RUN])
        migrate.upgrade(url, OLD)
        _sync(url, _add_attributes_batch)
        yield url


def test_the_upgrade_counts_a_gold_answer_per_question(database: str) -> None:
    before = _sync(database, _contents)
    assert _sync(database, _counters) == COUNTERS_BEFORE

    migrate.upgrade(database, NEW)

    assert _sync(database, _revision) == NEW
    graded = _sync(database, _graded)
    assert {id_: counts for id_, counts in graded.items() if counts != (0, 0)} == GRADED
    assert _sync(database, _counters) == COUNTERS_AFTER
    after = _sync(database, _contents)
    assert "gold_correct" not in after["assignments"][0]
    moved = {"assignments": ("gold_correct", "gold_graded", "gold_right"), "users": ("gold_answers", "gold_correct")}
    for table, rows in before.items():
        columns = moved.get(table, ())
        assert [_without(row, columns) for row in after[table]] == [_without(row, columns) for row in rows], table


def test_the_downgrade_gives_back_each_grade_and_counter(database: str) -> None:
    before = _sync(database, _contents)
    migrate.upgrade(database, NEW)

    command.downgrade(migrate.alembic_config(database), OLD)

    assert _sync(database, _revision) == OLD
    assert _sync(database, _contents) == before


def _add_attributes_batch(connection: Connection) -> None:
    _copy(connection, "batches", 1, id=2, name="Tags", task_type="attributes", task_config=TAGS, source_hash="cd34")
    for item_id, gold in ITEMS.items():
        _copy(connection, "items", 4, id=item_id, batch_id=2, external_id=f"t{item_id}", gold=gold, is_gold=True)
    for assignment_id, (item_id, worker_id, answer, correct) in ANSWERS.items():
        values = {"item_id": item_id, "batch_id": 2, "worker_id": worker_id, "answer": answer}
        _copy(connection, "assignments", 1, id=assignment_id, **values, gold_correct=correct, is_gold=True)
    for worker_id in (201, 202, 203):
        graded = [correct for _item, worker, _answer, correct in ANSWERS.values() if worker == worker_id]
        connection.execute(
            sa.text(
                "UPDATE users SET gold_answers = gold_answers + :n, gold_correct = gold_correct + :right WHERE id = :id"
            ),
            {"n": len(graded), "right": sum(graded), "id": worker_id},
        )


def _copy(connection: Connection, table_name: str, from_id: int, **values: Any) -> None:
    """Insert a copy of row `from_id` of table `table_name` with `values` changed (the columns as the database has them)."""
    table = sa.Table(table_name, sa.MetaData(), autoload_with=connection)
    row = dict(connection.execute(sa.select(table).where(table.c.id == from_id)).mappings().one())
    connection.execute(sa.insert(table).values({**row, **values}))


def _graded(connection: Connection) -> dict[int, tuple[int, int]]:
    rows = connection.execute(sa.text("SELECT id, gold_graded, gold_right FROM assignments ORDER BY id"))
    return {id_: (graded, right) for id_, graded, right in rows}


def _counters(connection: Connection) -> dict[int, tuple[int, int]]:
    rows = connection.execute(sa.text("SELECT id, gold_answers, gold_correct FROM users ORDER BY id"))
    return {id_: (answers, right) for id_, answers, right in rows}


def _without(row: dict[str, Any], columns: tuple[str, ...]) -> dict[str, Any]:
    return {column: value for column, value in row.items() if column not in columns}
