"""gold per question: an answer on a gold item counts one gold answer per question the gold has

assignments.gold_correct (right on every question, or not) becomes gold_graded and gold_right: how
many of the item's questions were graded and how many of them were right. Each graded row is graded
again from its stored answer and the item's gold: a question both answered and with gold counts, right
when the answer's label is the gold's (typed values compared as the bot compares them).
Where that disagrees with the stored grade (a gold the bot could not read back so), the row keeps its
grade as one gold answer, right or wrong. Rows never graded stay 0 of 0. The workers' lifetime counters
(users.gold_answers, users.gold_correct) move by the same difference, so they keep counting every gold
answer; the level follows at the worker's next one.

The downgrade gives each row back its right-or-wrong (right when every graded question was) and the
counters their old difference.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 21:00:00
"""

import unicodedata
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection, Row

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 1000  # rows read and written per round trip

_assignments = sa.table(
    "assignments",
    sa.column("id", sa.Integer()),
    sa.column("item_id", sa.Integer()),
    sa.column("worker_id", sa.BigInteger()),
    sa.column("answer", sa.JSON(none_as_null=True)),
    sa.column("gold_correct", sa.Boolean()),
    sa.column("gold_graded", sa.Integer()),
    sa.column("gold_right", sa.Integer()),
)
_items = sa.table("items", sa.column("id", sa.Integer()), sa.column("gold", sa.JSON(none_as_null=True)))
_users = sa.table(
    "users",
    sa.column("id", sa.BigInteger()),
    sa.column("gold_answers", sa.Integer()),
    sa.column("gold_correct", sa.Integer()),
)


def upgrade() -> None:
    with op.batch_alter_table("assignments") as batch_op:
        batch_op.add_column(sa.Column("gold_graded", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("gold_right", sa.Integer(), nullable=True))
    bind = op.get_bind()
    a = _assignments.c
    bind.execute(sa.update(_assignments).values(gold_graded=0, gold_right=0).where(a.gold_correct.is_(None)))
    more_answers: Counter[int] = Counter()
    more_right: Counter[int] = Counter()
    query = (
        sa.select(a.id, a.worker_id, a.answer, a.gold_correct, _items.c.gold)
        .join(_items, _items.c.id == a.item_id)
        .where(a.gold_correct.is_not(None))
    )
    for rows in _chunks(bind, query, a.id):
        values = []
        for row in rows:
            graded, right = _counts(row.answer or {}, row.gold or {}, row.gold_correct)
            values.append({"row_id": row.id, "gold_graded": graded, "gold_right": right})
            more_answers[row.worker_id] += graded - 1
            more_right[row.worker_id] += right - int(row.gold_correct)
        _update(bind, _assignments, values)
    _move_counters(bind, more_answers, more_right)
    with op.batch_alter_table("assignments") as batch_op:
        batch_op.alter_column("gold_graded", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("gold_right", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("gold_correct")


def downgrade() -> None:
    with op.batch_alter_table("assignments") as batch_op:
        batch_op.add_column(sa.Column("gold_correct", sa.Boolean(), nullable=True))
    bind = op.get_bind()
    a = _assignments.c
    fewer_answers: Counter[int] = Counter()
    fewer_right: Counter[int] = Counter()
    query = sa.select(a.id, a.worker_id, a.gold_graded, a.gold_right).where(a.gold_graded > 0)
    for rows in _chunks(bind, query, a.id):
        values = []
        for row in rows:
            correct = row.gold_right == row.gold_graded
            values.append({"row_id": row.id, "gold_correct": correct})
            fewer_answers[row.worker_id] -= row.gold_graded - 1
            fewer_right[row.worker_id] -= row.gold_right - int(correct)
        _update(bind, _assignments, values)
    _move_counters(bind, fewer_answers, fewer_right)
    with op.batch_alter_table("assignments") as batch_op:
        batch_op.drop_column("gold_right")
        batch_op.drop_column("gold_graded")


def _counts(answer: Mapping[str, Any], gold: Mapping[str, Any], correct: bool) -> tuple[int, int]:
    """(graded, right) of a graded answer: per question of its gold; its stored grade where they disagree."""
    answered = [key for key in gold if key in answer]
    graded = len(answered)
    right = sum(_folded(answer[key]) == _folded(gold[key]) for key in answered)
    if graded == 0 or (right == graded) != correct:
        return 1, int(correct)
    return graded, right


def _folded(label: Any) -> str:
    """A label as the bot compares typed values (NFKC, trimmed, inner spaces single, case-folded). Other labels
    (a category id, yes/no, one of a question's values) are unique under it, so it changes no other grade."""
    return " ".join(unicodedata.normalize("NFKC", str(label)).split()).casefold()


def _move_counters(bind: Connection, answers: Counter[int], right: Counter[int]) -> None:
    u = _users.c
    moves = [
        {"row_id": worker, "more_answers": answers[worker], "more_right": right[worker]}
        for worker in sorted(answers.keys() | right.keys())
        if answers[worker] or right[worker]
    ]
    if moves:
        bind.execute(
            sa.update(_users)
            .where(u.id == sa.bindparam("row_id"))
            .values(
                gold_answers=u.gold_answers + sa.bindparam("more_answers"),
                gold_correct=u.gold_correct + sa.bindparam("more_right"),
            ),
            moves,
        )


def _chunks(bind: Connection, query: sa.Select[Any], key: sa.ColumnClause[Any]) -> Iterator[Sequence[Row[Any]]]:
    """The rows of `query` in chunks of CHUNK, in the order of its unique column `key`, selected as `id`."""
    rows = bind.execute(query.order_by(key).limit(CHUNK)).all()
    while rows:
        yield rows
        rows = bind.execute(query.where(key > rows[-1].id).order_by(key).limit(CHUNK)).all()


def _update(bind: Connection, table: sa.TableClause, rows: list[dict[str, Any]]) -> None:
    """Set each row's values by its id, given as `row_id` (bound parameters named like a column are the SET's)."""
    if rows:
        bind.execute(sa.update(table).where(table.c.id == sa.bindparam("row_id")), rows)
