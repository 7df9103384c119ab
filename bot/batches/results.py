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
    rows = await read(session, batch_id)
    states = await quality.states(session, batch_id)
    return await asyncio.to_thread(_tabulate, task, rows, states)


@dataclass(frozen=True)
class BatchRows:
    """A batch's products and answers as read for its results (and its chart)."""

    items: list[Row[Any]]  # id, external_id, title, gold, payload, is_gold, answers, settled; in file order
    answered: list[Row[Any]]  # every answer, rejected ones too, in the order they were given


async def read(session: AsyncSession, batch_id: int) -> BatchRows:
    items = await _read(
        session,
        select(Item.id, Item.external_id, Item.title, Item.gold, Item.payload, Item.is_gold, Item.answers, Item.settled)
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
            Assignment.is_gold,
        )
        .where(Assignment.batch_id == batch_id, Assignment.status == AssignmentStatus.ANSWERED)
        .order_by(Assignment.id),
    )
    return BatchRows(items, answered)


async def _read(session: AsyncSession, statement: Select[*tuple[Any, ...]]) -> list[Row[Any]]:
    result = await session.stream(statement.execution_options(yield_per=READ_SLICE))
    return [row async for rows in result.partitions() for row in rows]


def accepted(rows: BatchRows) -> list[Row[Any]]:
    """The answers that count: every one quality control did not reject."""
    return [a for a in rows.answered if a.credit_state != CreditState.REJECTED]


def item_labels(task: BatchTask, rows: BatchRows) -> dict[str, dict[str, aggregation.Label]]:
    """The crowd's label of each product, by its item_id, then by question: the accepted answers aggregated
    question by question (gold items' gold calibrating the workers). A question the crowd's earlier labels
    lead away from gets none (pure and slow on a big batch: run it in a worker thread)."""
    external = {item.id: item.external_id for item in rows.items}
    answers = accepted(rows)
    found: dict[str, dict[str, aggregation.Label]] = {}  # by question, by item
    for question in task.questions:
        crowd = [
            Answer(external[a.item_id], str(a.worker_id), a.answer[question.key])
            for a in answers
            if a.answer and question.key in a.answer
        ]
        gold = {
            item.external_id: item.gold[question.key] for item in rows.items if item.gold and question.key in item.gold
        }
        space = task.type.label_space(question, task.context)
        found[question.key] = aggregation.aggregate(crowd, "auto", gold, space.families) if crowd else {}
    labels: dict[str, dict[str, aggregation.Label]] = {}
    for item in rows.items:
        chosen = {key: by_item[item.external_id] for key, by_item in found.items() if item.external_id in by_item}
        reached = _reached(task, item.payload, {key: label.label for key, label in chosen.items()})
        labels[item.external_id] = {key: label for key, label in chosen.items() if key in reached}
    return labels


@dataclass(frozen=True)
class WorkerGold:
    """A worker of the batch as its files name them, and their gold answers in it (quiz and checks, one
    per question with gold)."""

    pseudonym: str  # "worker 3": the same person throughout this batch, and nobody outside it
    graded: int
    right: int


def workers(answered: list[Row[Any]]) -> dict[int, WorkerGold]:
    """Each worker who answered, by user id, in the order of their first answer."""
    pseudonyms: dict[int, str] = {}
    graded: Counter[int] = Counter()
    right: Counter[int] = Counter()
    for assignment in answered:
        worker = assignment.worker_id
        pseudonyms.setdefault(worker, f"worker {len(pseudonyms) + 1}")
        graded[worker] += assignment.gold_graded
        right[worker] += assignment.gold_right
    return {worker: WorkerGold(name, graded[worker], right[worker]) for worker, name in pseudonyms.items()}


def _tabulate(task: BatchTask, rows: BatchRows, states: dict[int, str]) -> BatchResults:
    """Lay out both files (pure: runs in a worker thread)."""
    questions = task.questions
    external = {item.id: item.external_id for item in rows.items}
    answers = accepted(rows)
    labels = item_labels(task, rows)
    votes: dict[tuple[str, str], list[str]] = {}  # by item and question
    for answer in answers:
        for key, label in (answer.answer or {}).items():
            votes.setdefault((external[answer.item_id], key), []).append(label)
    table: list[dict[str, Any]] = []
    for item in rows.items:
        row: dict[str, Any] = {"item_id": item.external_id, "title": item.title}
        for question in questions:
            label = labels[item.external_id].get(question.key)
            row.update(
                _label_cells(task, question, len(questions), label, votes.get((item.external_id, question.key), []))
            )
        table.append(row)
    if len(questions) > 1:
        per_item = Counter(external[a.item_id] for a in answers)
        for row in table:
            row["answers"] = per_item[row["item_id"]]
    return BatchResults(Table(_label_columns(questions), table), _raw(task, rows.answered, external, states))


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
    """Every answer: the worker as a pseudonym (see WorkerGold), its labels, how long it took, its grade on
    gold, whether quality control accepted it, and the worker's accuracy on this batch's gold and standing in it."""
    questions = task.questions
    single = len(questions) == 1
    label_columns = ("answer_id", "answer_path") if single else tuple(question.key for question in questions)
    people = workers(answered)
    rows = []
    for assignment in answered:
        labels = assignment.answer or {}
        worker = people[assignment.worker_id]
        row: dict[str, Any] = {"item_id": external[assignment.item_id], "worker": worker.pseudonym}
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
            worker_gold_accuracy=f"{worker.right / worker.graded:.2f} of {worker.graded}" if worker.graded else "",
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
