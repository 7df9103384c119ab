"""A batch's results: one aggregated label per product, and every raw answer, as CSV or JSON Lines."""

import csv
import io
import json
from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import aggregation, batches, quality
from bot.aggregation import Answer
from storage.models import Assignment, Batch, Item
from storage.states import AssignmentStatus, CreditState, WorkerState
from taxonomy import Tree


@dataclass(frozen=True)
class ResultRow:
    item_id: str
    title: str
    label_id: str
    label_path: str
    confidence: str
    answers: int
    agreement: str


@dataclass(frozen=True)
class RawAnswer:
    item_id: str
    worker: str  # a pseudonym: "worker 3" means the same person throughout this batch, and nothing outside it
    answer_id: str
    answer_path: str
    seconds: int
    gold: str  # "correct", "incorrect" or "" for ordinary items
    accepted: str  # "no" when quality control rejected the answer (it is left out of the labels)
    worker_gold_accuracy: str  # the worker's share right on this batch's gold, e.g. "0.90 of 10"
    worker_status: str  # active, removed or held in this batch


async def collect(session: AsyncSession, batch_id: int, tree: Tree) -> tuple[list[ResultRow], list[RawAnswer]]:
    items = list(await session.scalars(select(Item).where(Item.batch_id == batch_id).order_by(Item.id)))
    answered = list(
        await session.scalars(
            select(Assignment)
            .where(Assignment.batch_id == batch_id, Assignment.status == AssignmentStatus.ANSWERED)
            .order_by(Assignment.id)
        )
    )
    external = {item.id: item.external_id for item in items}
    accepted = [a for a in answered if a.credit_state != CreditState.REJECTED]
    crowd = [Answer(external[a.item_id], str(a.worker_id), str(a.answer_node_id)) for a in accepted]
    gold = {item.external_id: str(item.gold_node_id) for item in items if item.gold_node_id is not None}
    batch = await session.get(Batch, batch_id)
    labels = aggregation.aggregate(crowd, "auto", gold, families(tree, batch)) if crowd and batch else {}
    states = await quality.states(session, batch_id)
    rows = [_result(item, labels.get(item.external_id), crowd, tree) for item in items]
    return rows, _raw(answered, external, tree, states)


def families(tree: Tree, batch: Batch) -> dict[str, str]:
    """Every category a worker could give in the batch, mapped to its parent: the families of
    ``aggregation.one_coin``, since a worker who misses a category mostly picks one of its siblings."""
    return {str(node.id): str(node.parent_id) for node in tree if batches.answerable(tree, batch, node.id)}


def _result(item: Item, label: aggregation.Label | None, crowd: list[Answer], tree: Tree) -> ResultRow:
    if label is None:
        return ResultRow(item.external_id, item.title, "", "", "", 0, "")
    votes = [answer.label for answer in crowd if answer.item == item.external_id]
    agreement = votes.count(label.label) / len(votes) if votes else 0.0
    return ResultRow(
        item_id=item.external_id,
        title=item.title,
        label_id=label.label,
        label_path=_path(tree, label.label),
        confidence=f"{label.confidence:.4f}",
        answers=len(votes),
        agreement=f"{agreement:.4f}",
    )


def _raw(answered: list[Assignment], external: dict[int, str], tree: Tree, states: dict[int, str]) -> list[RawAnswer]:
    pseudonyms: dict[int, str] = {}
    checks: dict[int, list[bool]] = {}
    for assignment in answered:
        if assignment.gold_correct is not None:
            checks.setdefault(assignment.worker_id, []).append(assignment.gold_correct)
    rows = []
    for assignment in answered:
        worker = pseudonyms.setdefault(assignment.worker_id, f"worker {len(pseudonyms) + 1}")
        gold = "" if assignment.gold_correct is None else "correct" if assignment.gold_correct else "incorrect"
        seconds = int((assignment.answered_at - assignment.created_at).total_seconds())
        node = str(assignment.answer_node_id)
        graded = checks.get(assignment.worker_id, [])
        accuracy = f"{sum(graded) / len(graded):.2f} of {len(graded)}" if graded else ""
        rows.append(
            RawAnswer(
                item_id=external[assignment.item_id],
                worker=worker,
                answer_id=node,
                answer_path=_path(tree, node),
                seconds=seconds,
                gold=gold,
                accepted="no" if assignment.credit_state == CreditState.REJECTED else "yes",
                worker_gold_accuracy=accuracy,
                worker_status=states.get(assignment.worker_id, WorkerState.ACTIVE),
            )
        )
    return rows


def _path(tree: Tree, node: str) -> str:
    return tree.path_names(int(node)) if node.isdigit() and int(node) in tree else ""


def to_csv(rows: list[ResultRow] | list[RawAnswer], kind: type) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(list(kind.__dataclass_fields__))
    for row in rows:
        writer.writerow([_safe_cell(value) for value in asdict(row).values()])
    return out.getvalue()


def to_jsonl(rows: list[ResultRow] | list[RawAnswer]) -> str:
    return "".join(json.dumps(asdict(row), ensure_ascii=False) + "\n" for row in rows)


def _safe_cell(value: object) -> object:
    # A title like "=HYPERLINK(…)" must stay text when the requester opens the file in a spreadsheet.
    if isinstance(value, str) and value.startswith(("=", "+", "-", "@")):
        return "'" + value
    return value
