"""A batch's results: one aggregated label per product, and every raw answer, as CSV or JSON Lines."""

import asyncio
import functools
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

from sqlalchemy import Row, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.aggregation import methods as aggregation
from bot.aggregation.methods import Answer
from bot.batches import lifecycle as batches
from bot.batches.csv_files import csv_text
from bot.quality import rules as quality
from bot.wiring.services import Services
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


@dataclass(frozen=True)
class BatchResults:
    labels: list[ResultRow]
    raw: list[RawAnswer]


async def batch_results(services: Services, batch_id: int, requester_id: int) -> BatchResults:
    """/results: the requester's batch's labels and raw answers (read again at each delivery of the files)."""
    async with services.db.read() as session:
        batch = await batches.owned(session, batch_id, requester_id)
        tree = (await services.taxonomies.get(batch.taxonomy_id)).tree
        return BatchResults(*await collect(session, batch.id, tree))


READ_SLICE = 1_000
"""Rows fetched per database round trip when reading a batch: other updates run between slices."""


async def collect(session: AsyncSession, batch_id: int, tree: Tree) -> tuple[list[ResultRow], list[RawAnswer]]:
    """The batch's labels and raw answers.

    On a big batch this is seconds of work (20,000 products with 3 answers each: 14 s in
    ``benchmarks/big_batch.py``, most of it aggregation), so the rows are read in slices and everything
    after the reading runs in a worker thread: meanwhile the event loop goes on serving every other
    user's buttons.
    """
    batch = batches.facts_of(await session.get_one(Batch, batch_id))
    items = await _read(
        session,
        select(Item.id, Item.external_id, Item.title, Item.gold_node_id)
        .where(Item.batch_id == batch_id)
        .order_by(Item.id),
    )
    answered = await _read(
        session,
        select(
            Assignment.item_id,
            Assignment.worker_id,
            Assignment.answer_node_id,
            Assignment.created_at,
            Assignment.answered_at,
            Assignment.gold_correct,
            Assignment.credit_state,
        )
        .where(Assignment.batch_id == batch_id, Assignment.status == AssignmentStatus.ANSWERED)
        .order_by(Assignment.id),
    )
    states = await quality.states(session, batch_id)
    return await asyncio.to_thread(_tabulate, batch, tree, items, answered, states)


async def _read(session: AsyncSession, statement: Select[*tuple[Any, ...]]) -> list[Row[Any]]:
    result = await session.stream(statement.execution_options(yield_per=READ_SLICE))
    return [row async for rows in result.partitions() for row in rows]


def families(tree: Tree, batch: batches.BatchFacts) -> dict[str, str]:
    """Every category a worker could give in the batch, mapped to its parent: the families of
    ``aggregation.one_coin``, since a worker who misses a category mostly picks one of its siblings."""
    return {str(node.id): str(node.parent_id) for node in tree if batches.answerable(tree, batch, node.id)}


def _tabulate(
    batch: batches.BatchFacts, tree: Tree, items: list[Row[Any]], answered: list[Row[Any]], states: dict[int, str]
) -> tuple[list[ResultRow], list[RawAnswer]]:
    """Aggregate the accepted answers and lay out both files' rows (pure: runs in a worker thread)."""
    external = {item.id: item.external_id for item in items}
    crowd = [
        Answer(external[a.item_id], str(a.worker_id), str(a.answer_node_id))
        for a in answered
        if a.credit_state != CreditState.REJECTED
    ]
    gold = {item.external_id: str(item.gold_node_id) for item in items if item.gold_node_id is not None}
    labels = aggregation.aggregate(crowd, "auto", gold, families(tree, batch)) if crowd else {}
    votes: dict[str, list[str]] = {}
    for answer in crowd:
        votes.setdefault(answer.item, []).append(answer.label)
    path = functools.cache(functools.partial(_path, tree))
    rows = [_result(item, labels.get(item.external_id), votes.get(item.external_id, []), path) for item in items]
    return rows, _raw(answered, external, path, states)


def _result(item: Row[Any], label: aggregation.Label | None, votes: list[str], path: Callable[[str], str]) -> ResultRow:
    """One product's row; ``votes`` are its accepted answers."""
    if label is None:
        return ResultRow(item.external_id, item.title, "", "", "", 0, "")
    agreement = votes.count(label.label) / len(votes) if votes else 0.0
    return ResultRow(
        item_id=item.external_id,
        title=item.title,
        label_id=label.label,
        label_path=path(label.label),
        confidence=f"{label.confidence:.4f}",
        answers=len(votes),
        agreement=f"{agreement:.4f}",
    )


def _raw(
    answered: list[Row[Any]], external: dict[int, str], path: Callable[[str], str], states: dict[int, str]
) -> list[RawAnswer]:
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
                answer_path=path(node),
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
    names = [field.name for field in fields(kind)]
    return csv_text([names, *([getattr(row, name) for name in names] for row in rows)])


def to_jsonl(rows: list[ResultRow] | list[RawAnswer]) -> str:
    return "".join(json.dumps(asdict(row), ensure_ascii=False) + "\n" for row in rows)
