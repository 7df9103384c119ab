"""task types: answers and gold per question as JSON, the batch's task settings

Every categorize row moves over: a node id becomes the label {"category": "<id>"} (a label is a
string); an item's proposed category and its gold_answer (stored, never used by categorize) go into
its payload. Rows are read in chunks and written back with executemany UPDATEs whose JSON is built
in Python: the same SQL on SQLite and PostgreSQL. A new NOT NULL column is added nullable, filled,
then made NOT NULL, so no server default is left behind that the models do not have.

The downgrade turns the labels back into node ids. What the old columns cannot hold (another
type's answers, a task setting) makes it raise CannotDowngrade, so nothing is dropped unseen.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 17:00:00
"""

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection, Row

from storage.migrate import CannotDowngrade

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CATEGORY = "category"  # categorize's one question
PROPOSED = "proposed"  # an item's proposed category, in its payload
GOLD_ANSWER = "gold_answer"  # the file's gold_answer column, in the payload
CHUNK = 1000  # rows read and written per round trip


def _json() -> sa.JSON:
    # Python None is SQL NULL here, not the JSON value null, as the old NULL columns were.
    return sa.JSON(none_as_null=True)


_batches = sa.table("batches", sa.column("id", sa.Integer()), sa.column("task_config", _json()))
_items = sa.table(
    "items",
    sa.column("id", sa.Integer()),
    sa.column("gold_node_id", sa.BigInteger()),
    sa.column("proposed_node_id", sa.BigInteger()),
    sa.column("gold_answer", sa.Text()),
    sa.column("payload", _json()),
    sa.column("gold", _json()),
    sa.column("is_gold", sa.Boolean()),
)
_assignments = sa.table(
    "assignments",
    sa.column("id", sa.Integer()),
    sa.column("answer_node_id", sa.BigInteger()),
    sa.column("answer", _json()),
)
_disputes = sa.table(
    "gold_disputes",
    sa.column("id", sa.Integer()),
    sa.column("answer_node_id", sa.BigInteger()),
    sa.column("gold_node_id", sa.BigInteger()),
    sa.column("answer", _json()),
    sa.column("gold", _json()),
)


def upgrade() -> None:
    with op.batch_alter_table("batches") as batch_op:
        batch_op.add_column(sa.Column("task_config", sa.JSON(), nullable=True))
    with op.batch_alter_table("items") as batch_op:
        batch_op.add_column(sa.Column("payload", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("gold", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("is_gold", sa.Boolean(), nullable=True))
    with op.batch_alter_table("assignments") as batch_op:
        batch_op.add_column(sa.Column("answer", sa.JSON(), nullable=True))
    with op.batch_alter_table("gold_disputes") as batch_op:
        batch_op.add_column(sa.Column("answer", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("gold", sa.JSON(), nullable=True))

    bind = op.get_bind()
    bind.execute(sa.update(_batches).values(task_config={}))
    _items_to_labels(bind)
    _assignments_to_labels(bind)
    _disputes_to_labels(bind)

    with op.batch_alter_table("batches") as batch_op:
        batch_op.alter_column("task_config", existing_type=sa.JSON(), nullable=False)
    with op.batch_alter_table("items") as batch_op:
        # Before its column goes: PostgreSQL would drop the index with it.
        batch_op.drop_index("ix_items_batch_gold")
        batch_op.alter_column("payload", existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column("is_gold", existing_type=sa.Boolean(), nullable=False)
        for column in ("gold_node_id", "proposed_node_id", "gold_answer"):
            batch_op.drop_column(column)
        batch_op.create_index("ix_items_batch_gold", ["batch_id", "is_gold"], unique=False)
    _restore_claim_index()
    with op.batch_alter_table("assignments") as batch_op:
        batch_op.drop_column("answer_node_id")
    with op.batch_alter_table("gold_disputes") as batch_op:
        batch_op.alter_column("answer", existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column("gold", existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column("answer_node_id")
        batch_op.drop_column("gold_node_id")


def downgrade() -> None:
    with op.batch_alter_table("items") as batch_op:
        batch_op.add_column(sa.Column("gold_node_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("proposed_node_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("gold_answer", sa.Text(), nullable=True))
    with op.batch_alter_table("assignments") as batch_op:
        batch_op.add_column(sa.Column("answer_node_id", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("gold_disputes") as batch_op:
        batch_op.add_column(sa.Column("answer_node_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("gold_node_id", sa.BigInteger(), nullable=True))

    bind = op.get_bind()
    _refuse_task_configs(bind)
    _items_to_node_ids(bind)
    _assignments_to_node_ids(bind)
    _disputes_to_node_ids(bind)

    with op.batch_alter_table("batches") as batch_op:
        batch_op.drop_column("task_config")
    with op.batch_alter_table("items") as batch_op:
        batch_op.drop_index("ix_items_batch_gold")
        for column in ("payload", "gold", "is_gold"):
            batch_op.drop_column(column)
        batch_op.create_index("ix_items_batch_gold", ["batch_id", "gold_node_id"], unique=False)
    _restore_claim_index()
    with op.batch_alter_table("assignments") as batch_op:
        batch_op.drop_column("answer")
    with op.batch_alter_table("gold_disputes") as batch_op:
        batch_op.alter_column("answer_node_id", existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column("gold_node_id", existing_type=sa.BigInteger(), nullable=False)
        batch_op.drop_column("answer")
        batch_op.drop_column("gold")


def _restore_claim_index() -> None:
    """SQLite rebuilds a table to drop or change a column and copies its indexes as it reads them back,
    which loses the claim index's DESC: claiming would then sort the whole open pool. Made again as 0001
    made it; PostgreSQL alters the table in place and keeps the index as it was."""
    if op.get_bind().dialect.name != "sqlite":
        return
    op.drop_index("ix_items_claim", table_name="items")
    op.create_index("ix_items_claim", "items", ["is_open", sa.literal_column("slots_taken DESC"), "id"], unique=False)


def _items_to_labels(bind: Connection) -> None:
    # Most items carry nothing: one statement for them, then a round trip per chunk of the others.
    bind.execute(sa.update(_items).values(payload={}, is_gold=_items.c.gold_node_id.is_not(None)))
    c = _items.c
    carrying = sa.or_(c.gold_node_id.is_not(None), c.proposed_node_id.is_not(None), c.gold_answer.is_not(None))
    query = sa.select(c.id, c.gold_node_id, c.proposed_node_id, c.gold_answer).where(carrying)
    for rows in _chunks(bind, query, c.id):
        _update(
            bind,
            _items,
            [{"row_id": row.id, "payload": _payload(row), "gold": _label(row.gold_node_id)} for row in rows],
        )


def _payload(item: Row[Any]) -> dict[str, str]:
    payload = {}
    if item.proposed_node_id is not None:
        payload[PROPOSED] = str(item.proposed_node_id)
    if item.gold_answer is not None:
        payload[GOLD_ANSWER] = item.gold_answer
    return payload


def _assignments_to_labels(bind: Connection) -> None:
    c = _assignments.c
    query = sa.select(c.id, c.answer_node_id).where(c.answer_node_id.is_not(None))
    for rows in _chunks(bind, query, c.id):
        _update(bind, _assignments, [{"row_id": row.id, "answer": _label(row.answer_node_id)} for row in rows])


def _disputes_to_labels(bind: Connection) -> None:
    c = _disputes.c
    for rows in _chunks(bind, sa.select(c.id, c.answer_node_id, c.gold_node_id), c.id):
        values = [
            {"row_id": row.id, "answer": _label(row.answer_node_id), "gold": _label(row.gold_node_id)} for row in rows
        ]
        _update(bind, _disputes, values)


def _label(node_id: int | None) -> dict[str, str] | None:
    return None if node_id is None else {CATEGORY: str(node_id)}


def _refuse_task_configs(bind: Connection) -> None:
    configured = bind.execute(sa.select(_batches.c.id, _batches.c.task_config)).all()
    for batch in configured:
        if batch.task_config:
            raise CannotDowngrade(f"batch {batch.id} has task settings {batch.task_config!r}")


def _items_to_node_ids(bind: Connection) -> None:
    c = _items.c
    for rows in _chunks(bind, sa.select(c.id, c.payload, c.gold), c.id):
        values = []
        for row in rows:
            where = f"item {row.id}"
            payload = _only(row.payload or {}, {PROPOSED, GOLD_ANSWER}, where)
            gold = _only(row.gold or {}, {CATEGORY}, where)
            value = {
                "gold_node_id": _node_id(gold.get(CATEGORY), where),
                "proposed_node_id": _node_id(payload.get(PROPOSED), where),
                "gold_answer": payload.get(GOLD_ANSWER),
            }
            if any(v is not None for v in value.values()):
                values.append({"row_id": row.id, **value})
        _update(bind, _items, values)


def _assignments_to_node_ids(bind: Connection) -> None:
    c = _assignments.c
    for rows in _chunks(bind, sa.select(c.id, c.answer).where(c.answer.is_not(None)), c.id):
        values = []
        for row in rows:
            answer = _only(row.answer or {}, {CATEGORY}, f"assignment {row.id}")
            if CATEGORY in answer:
                values.append({"row_id": row.id, "answer_node_id": _node_id(answer[CATEGORY], f"assignment {row.id}")})
        _update(bind, _assignments, values)


def _disputes_to_node_ids(bind: Connection) -> None:
    c = _disputes.c
    for rows in _chunks(bind, sa.select(c.id, c.answer, c.gold), c.id):
        values = []
        for row in rows:
            where = f"dispute {row.id}"
            answer, gold = (_only(labels or {}, {CATEGORY}, where) for labels in (row.answer, row.gold))
            if CATEGORY not in answer or CATEGORY not in gold:
                raise CannotDowngrade(f"{where} contests an answer without a category: {row.answer!r}, {row.gold!r}")
            values.append(
                {
                    "row_id": row.id,
                    "answer_node_id": _node_id(answer[CATEGORY], where),
                    "gold_node_id": _node_id(gold[CATEGORY], where),
                }
            )
        _update(bind, _disputes, values)


def _only(labels: Mapping[str, Any], keys: set[str], where: str) -> Mapping[str, Any]:
    """`labels` if the old columns have a place for each of its keys."""
    if not labels.keys() <= keys:
        raise CannotDowngrade(f"{where} holds {sorted(labels.keys() - keys)}, which the old columns cannot hold")
    return labels


def _node_id(label: Any, where: str) -> int | None:
    if label is None:
        return None
    if not isinstance(label, str) or not (label.isascii() and label.isdigit()):
        raise CannotDowngrade(f"{where}: the label {label!r} is no category id")
    return int(label)


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
