"""A batch's results: one aggregated label per product and question, and every raw answer, as CSV or JSON Lines.

A type with one question (categorize, image_match) keeps the classic columns: label_id, label_path,
confidence, answers, agreement, and answer_id, answer_path in the raw answers. A type with several gives
each question its columns, named by its key: `color`, `color_confidence`, `color_agreement` (and
`category_path` beside a category)."""

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.aggregation import methods as aggregation
from bot.aggregation.methods import Answer
from bot.batches import lifecycle as batches
from bot.batches.csv_files import csv_text
from bot.batches.task import BatchTask, task_of
from bot.quality import rules as quality
from bot.tasks.base import Question, QuestionKind
from bot.wiring.services import Services
from storage.models import Assignment, Item
from storage.states import AssignmentStatus, CreditState, WorkerState


@dataclass(frozen=True)
class Table:
    """A file's rows, each a value per column."""

    columns: tuple[str, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class BatchResults:
    labels: Table
    raw: Table


async def batch_results(services: Services, batch_id: int, requester_id: int) -> BatchResults:
    """/results: the requester's batch's labels and raw answers (read again at each delivery of the files)."""
    async with services.db.read() as session:
        batch = await batches.owned(session, batch_id, requester_id)
        task = await task_of(batches.facts_of(batch), services.taxonomies, session)
        return await collect(session, batch.id, task)


READ_SLICE = 1_000
"""Rows fetched per database round trip when reading a batch: other updates run between slices."""


async def collect(session: AsyncSession, batch_id: int, task: BatchTask) -> BatchResults:
    """The batch's labels and raw answers.

    On a big batch this is seconds of work (20,000 products with 3 answers each: 14 s in
    ``benchmarks/big_batch.py``, most of it aggregation), so the rows are read in slices and everything
    after the reading runs in a worker thread: meanwhile the event loop goes on serving every other
    user's buttons.
    """
    items = await _read(
        session,
        select(Item.id, Item.external_id, Item.title, Item.gold, Item.payload)
        .where(Item.batch_id == batch_id)
        .order_by(Item.id),
    )
    answered = await _read(
        session,
        select(
            Assignment.item_id,
            Assignment.worker_id,
            Assignment.answer,
            Assignment.created_at,
            Assignment.answered_at,
            Assignment.gold_graded,
            Assignment.gold_right,
            Assignment.credit_state,
        )
        .where(Assignment.batch_id == batch_id, Assignment.status == AssignmentStatus.ANSWERED)
        .order_by(Assignment.id),
    )
    states = await quality.states(session, batch_id)
    return await asyncio.to_thread(_tabulate, task, items, answered, states)


async def _read(session: AsyncSession, statement: Select[*tuple[Any, ...]]) -> list[Row[Any]]:
    result = await session.stream(statement.execution_options(yield_per=READ_SLICE))
    return [row async for rows in result.partitions() for row in rows]


def _tabulate(task: BatchTask, items: list[Row[Any]], answered: list[Row[Any]], states: dict[int, str]) -> BatchResults:
    """Aggregate the accepted answers, question by question, and lay out both files (pure: runs in a worker thread)."""
    questions = task.questions
    external = {item.id: item.external_id for item in items}
    accepted = [a for a in answered if a.credit_state != CreditState.REJECTED]
    rows: list[dict[str, Any]] = [{"item_id": item.external_id, "title": item.title} for item in items]
    labels: dict[str, dict[str, aggregation.Label]] = {}  # by question, by item
    votes: dict[str, dict[str, list[str]]] = {}
    for question in questions:
        crowd = [
            Answer(external[a.item_id], str(a.worker_id), a.answer[question.key])
            for a in accepted
            if a.answer and question.key in a.answer
        ]
        gold = {item.external_id: item.gold[question.key] for item in items if item.gold and question.key in item.gold}
        space = task.type.label_space(question, task.context)
        labels[question.key] = aggregation.aggregate(crowd, "auto", gold, space.families) if crowd else {}
        for answer in crowd:
            votes.setdefault(question.key, {}).setdefault(answer.item, []).append(answer.label)
    for item, row in zip(items, rows, strict=True):
        chosen = {key: found[row["item_id"]].label for key, found in labels.items() if row["item_id"] in found}
        reached = _reached(task, item.payload, chosen)
        for question in questions:
            label = labels[question.key].get(row["item_id"]) if question.key in reached else None
            answers = votes.get(question.key, {}).get(row["item_id"], [])
            row.update(_label_cells(task, question, len(questions), label, answers))
    if len(questions) > 1:
        per_item = Counter(external[a.item_id] for a in accepted)
        for row in rows:
            row["answers"] = per_item[row["item_id"]]
    return BatchResults(Table(_label_columns(questions), rows), _raw(task, answered, external, states))


def _reached(task: BatchTask, payload: dict[str, Any], chosen: dict[str, str]) -> set[str]:
    """The questions the item asks when answered with the crowd's labels: a question the labels before it
    lead away from (validate's category after a Yes) gets no label, whatever a few workers gave."""
    reached: set[str] = set()
    answers: dict[str, str] = {}
    while (question := task.type.next_question(payload, answers, task.context)) is not None:
        reached.add(question.key)
        if question.key not in chosen:
            break
        answers[question.key] = chosen[question.key]
    return reached


def _label_columns(questions: tuple[Question, ...]) -> tuple[str, ...]:
    if len(questions) == 1:
        return ("item_id", "title", "label_id", "label_path", "confidence", "answers", "agreement")
    columns = ["item_id", "title"]
    for question in questions:
        columns.append(question.key)
        if question.kind == QuestionKind.TREE:
            columns.append(f"{question.key}_path")
        columns += [f"{question.key}_confidence", f"{question.key}_agreement"]
    return (*columns, "answers")


def _label_cells(
    task: BatchTask, question: Question, questions: int, label: aggregation.Label | None, votes: list[str]
) -> dict[str, Any]:
    """One product's cells for one question; ``votes`` are its accepted answers to it."""
    agreement = votes.count(label.label) / len(votes) if label is not None and votes else 0.0
    value = label.label if label is not None else ""
    described = _described(task, question, value) if label is not None else ""
    confidence = f"{label.confidence:.4f}" if label is not None else ""
    share = f"{agreement:.4f}" if label is not None else ""
    if questions == 1:
        return {
            "label_id": value,
            "label_path": described,
            "confidence": confidence,
            "answers": len(votes) if label is not None else 0,
            "agreement": share,
        }
    cells = {question.key: value}
    if question.kind == QuestionKind.TREE:
        cells[f"{question.key}_path"] = described
    return {**cells, f"{question.key}_confidence": confidence, f"{question.key}_agreement": share}


def _described(task: BatchTask, question: Question, label: str) -> str:
    """A label as its results cell: a category as its full path "A > B > C", the form a batch file's
    gold_category takes back ("" for one the taxonomy no longer has); another label as its type says."""
    if question.kind == QuestionKind.TREE:
        tree = task.context.tree
        return tree.path_names(int(label)) if label.isdigit() and int(label) in tree else ""
    return task.type.describe(question, label, task.context)


RAW_TAIL = ("seconds", "gold", "accepted", "worker_gold_accuracy", "worker_status")


def _raw(task: BatchTask, answered: list[Row[Any]], external: dict[int, str], states: dict[int, str]) -> Table:
    """Every answer: the worker as a pseudonym ("worker 3" is the same person throughout this batch, and
    nobody outside it), its labels, how long it took, its grade on gold, whether quality control accepted
    it, and the worker's accuracy on this batch's gold and standing in it."""
    questions = task.questions
    single = len(questions) == 1
    label_columns = ("answer_id", "answer_path") if single else tuple(question.key for question in questions)
    pseudonyms: dict[int, str] = {}
    graded: Counter[int] = Counter()  # gold answers by worker, one per question with gold
    right: Counter[int] = Counter()
    for assignment in answered:
        graded[assignment.worker_id] += assignment.gold_graded
        right[assignment.worker_id] += assignment.gold_right
    rows = []
    for assignment in answered:
        labels = assignment.answer or {}
        worker = assignment.worker_id
        row: dict[str, Any] = {
            "item_id": external[assignment.item_id],
            "worker": pseudonyms.setdefault(assignment.worker_id, f"worker {len(pseudonyms) + 1}"),
        }
        if single:
            label = labels.get(questions[0].key, "")
            row["answer_id"] = label
            row["answer_path"] = _described(task, questions[0], label) if label else ""
        else:
            row.update({question.key: labels.get(question.key, "") for question in questions})
        row.update(
            seconds=int((assignment.answered_at - assignment.created_at).total_seconds()),
            gold=_gold_grade(assignment.gold_graded, assignment.gold_right),
            accepted="no" if assignment.credit_state == CreditState.REJECTED else "yes",
            worker_gold_accuracy=f"{right[worker] / graded[worker]:.2f} of {graded[worker]}" if graded[worker] else "",
            worker_status=states.get(assignment.worker_id, WorkerState.ACTIVE),
        )
        rows.append(row)
    return Table(("item_id", "worker", *label_columns, *RAW_TAIL), rows)


def _gold_grade(graded: int, right: int) -> str:
    """An answer's grade on gold: correct, incorrect, or how many of its questions with gold were right."""
    if not graded:
        return ""
    if right == graded:
        return "correct"
    return "incorrect" if right == 0 else f"{right} of {graded}"


def to_csv(table: Table) -> str:
    return csv_text([table.columns, *([row[name] for name in table.columns] for row in table.rows)])


def to_jsonl(table: Table) -> str:
    return "".join(
        json.dumps({name: row[name] for name in table.columns}, ensure_ascii=False) + "\n" for row in table.rows
    )
