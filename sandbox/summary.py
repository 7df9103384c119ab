"""What a demo run came to, read back from the bot's database through the bot's own modules.

The labels are the ones the requester downloads (`bot.batches.results.collect`), the worker states the
quality rules' (`bot.quality.rules.states`), the money the ledger's (`storage.ledger.account_totals`,
`bot.money.books.problems`), the payouts the admins' queue (`bot.money.payouts.queue`). Only the truth
and who was a spammer come from the simulation: the bot cannot know them.
"""

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console, Group
from rich.table import Table
from sqlalchemy import func, select

from bot.aggregation import methods as aggregation
from bot.aggregation.methods import Answer
from bot.batches import lifecycle as batches
from bot.batches import results
from bot.batches.task import task_of
from bot.money import books, payouts
from bot.quality import rules as quality
from bot.tasks.base import Question, QuestionKind
from bot.tasks.reading import typed_label
from bot.wiring.services import Services
from handlers import formatting
from sandbox.crowd import HONEST, Worker
from storage import ledger
from storage.models import Assignment, Batch
from storage.states import AssignmentStatus, PayoutStatus, WorkerState

STOPPED = (WorkerState.REMOVED, WorkerState.HELD, WorkerState.FAILED)  # failed: the quiz, on every try
SUMMARY_FILE = "summary.txt"  # the summary as printed, in the folder of the results files
CHART_FILE = "chart.png"  # the chart a requester's 📈 Chart button sends, beside the summary
EVERY = 1_000_000  # a limit no demo reaches: every payout
SAVED_WIDTH = 110  # characters per line of the saved summary
NO_TASK = "no task"  # the worker never got a task in the batch (it was done, or its quiz budget spent)


@dataclass(frozen=True)
class Known:
    """What the simulation knows and the bot cannot: each product's true labels (as the bot stores
    labels) on the questions a truthful worker is asked, by item_id; gold products left out."""

    truth: Mapping[str, Mapping[str, str]]


@dataclass(frozen=True)
class WorkerLine:
    worker: Worker
    state: str  # the worker's state in the batch, or NO_TASK
    answers: int  # every answer they gave in the batch: quiz, checks and work


@dataclass(frozen=True)
class Account:
    kind: str
    owner: int
    balance: int


@dataclass(frozen=True)
class Summary:
    batch_id: int
    batch_status: str
    products: int
    answers: int
    accuracy: float | None  # the delivered labels against the truth, over every scored question
    majority_accuracy: float | None  # plain majority vote of every answer, no quality control
    scored: int  # product questions with a truth
    workers: tuple[WorkerLine, ...]
    accounts: tuple[Account, ...]
    ledger_total: int  # every account's balance summed: zero when the books balance
    ledger_problems: tuple[str, ...]
    payouts_requested: int  # every request, whatever became of it
    payouts_approved: int
    paid_out: int  # approved payouts' amount
    currency: str
    folder: Path
    database: str | None  # its file or URL; None: deleted at the end
    results_files: tuple[Path, ...]

    def of_kind(self, kind: str) -> list[WorkerLine]:
        return [line for line in self.workers if line.worker.kind == kind]

    @property
    def honest_stopped(self) -> list[WorkerLine]:
        """Honest workers removed or held by the quality rules (a failed quiz keeps out, it does not remove)."""
        return [line for line in self.of_kind(HONEST) if line.state in (WorkerState.REMOVED, WorkerState.HELD)]


async def read_summary(
    services: Services,
    batch_id: int,
    crowd: Sequence[Worker],
    known: Known,
    folder: Path,
    results_files: Sequence[Path],
) -> Summary:
    async with services.db.read() as session:
        batch = await session.get(Batch, batch_id)
        assert batch is not None
        task = await task_of(batches.facts_of(batch), services.taxonomies, session)
        delivered = await results.collect(session, batch_id, task)
        states = await quality.states(session, batch_id)
        answered = dict(
            (
                await session.execute(
                    select(Assignment.worker_id, func.count(Assignment.id))
                    .where(Assignment.batch_id == batch_id, Assignment.status == AssignmentStatus.ANSWERED)
                    .group_by(Assignment.worker_id)
                )
            ).all()
        )
        totals = await ledger.account_totals(session)
        problems = await books.problems(session)
        by_status = {status: await payouts.queue(session, status=status, limit=EVERY) for status in PayoutStatus}
    questions = task.questions
    label_of = _label_columns(task.questions)
    labels = {row["item_id"]: {key: row[column] for key, column in label_of.items()} for row in delivered.labels.rows}
    majority = _majority(delivered.raw.rows, label_of, [q.key for q in questions])
    folded = {q.key: q.kind == QuestionKind.TEXT for q in questions}
    right = right_majority = scored = 0
    for item, truth in known.truth.items():
        for key, label in truth.items():
            want = typed_label(label) if folded[key] else label
            scored += 1
            right += labels.get(item, {}).get(key) == want
            right_majority += majority.get(key, {}).get(item) == want
    return Summary(
        batch_id=batch_id,
        batch_status=batch.status,
        products=batch.item_count,
        answers=sum(answered.values()),
        accuracy=right / scored if scored else None,
        majority_accuracy=right_majority / scored if scored else None,
        scored=scored,
        workers=tuple(WorkerLine(w, states.get(w.id, NO_TASK), answered.get(w.id, 0)) for w in crowd),
        accounts=tuple(Account(t.kind, t.owner_id, t.total) for t in totals),
        ledger_total=sum(t.total for t in totals),
        ledger_problems=tuple(problems),
        payouts_requested=sum(len(found) for found in by_status.values()),
        payouts_approved=len(by_status[PayoutStatus.APPROVED]),
        paid_out=sum(payout.amount_micros for payout in by_status[PayoutStatus.APPROVED]),
        currency=services.settings.currency,
        folder=folder,
        database=None,
        results_files=tuple(results_files),
    )


def _label_columns(questions: Sequence[Question]) -> dict[str, str]:
    """Where the delivered labels file keeps each question's label: `label_id` when the type asks one question."""
    keys = [question.key for question in questions]
    return {keys[0]: "label_id"} if len(keys) == 1 else {key: key for key in keys}


def _majority(
    raw: Sequence[Mapping[str, object]], label_of: Mapping[str, str], keys: Sequence[str]
) -> dict[str, dict[str, str]]:
    """Plain majority vote of every answer, rejected ones too: the labels without quality control."""
    found: dict[str, dict[str, str]] = {}
    for key in keys:
        column = "answer_id" if label_of[key] == "label_id" else key
        crowd = [Answer(str(row["item_id"]), str(row["worker"]), str(row[column])) for row in raw if row[column]]
        voted = aggregation.aggregate(crowd, "mv") if crowd else {}
        found[key] = {item: label.label for item, label in voted.items()}
    return found


def render(summary: Summary) -> Group:
    """The summary as the terminal shows it."""
    head = Table.grid(padding=(0, 2))
    head.add_row(
        "Batch", f"#{summary.batch_id}, {summary.batch_status}: {summary.products} products, {summary.answers} answers"
    )
    if summary.accuracy is not None and summary.majority_accuracy is not None:
        head.add_row(
            "Label accuracy",
            f"{summary.accuracy:.1%} with quality control, {summary.majority_accuracy:.1%} by plain majority vote "
            f"({summary.scored} labels checked against the truth)",
        )
    return Group(head, _crowd_table(summary), _money_table(summary), *_notes(summary))


def _crowd_table(summary: Summary) -> Table:
    table = Table(title="The crowd: who was stopped, after how many answers", title_justify="left")
    for column in ("kind", "workers", "no task", "stopped", "after answers", "not stopped"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    for kind in dict.fromkeys(line.worker.kind for line in summary.workers):
        lines = summary.of_kind(kind)
        idle = [line for line in lines if line.state == NO_TASK]
        stopped = sorted((line for line in lines if line.state in STOPPED), key=lambda line: line.answers)
        states = Counter(line.state for line in stopped)
        table.add_row(
            kind,
            str(len(lines)),
            str(len(idle)),
            ", ".join(f"{state} {count}" for state, count in states.items()) or "-",
            ", ".join(str(line.answers) for line in stopped) or "-",
            str(len(lines) - len(stopped) - len(idle)),
        )
    return table


def _money_table(summary: Summary) -> Table:
    table = Table(title="Money: every ledger account that holds any", title_justify="left")
    for column in ("account", "owner", "balance"):
        table.add_column(column, justify="right" if column == "balance" else "left")
    for account in summary.accounts:
        if account.balance:
            table.add_row(account.kind, str(account.owner), _money(summary, account.balance))
    return table


def _notes(summary: Summary) -> list[str]:
    honest = summary.honest_stopped
    stopped = ", ".join(f"{line.worker.id} ({line.state}, accuracy {line.worker.accuracy:.2f})" for line in honest)
    balanced = summary.ledger_total == 0 and not summary.ledger_problems
    return [
        f"Honest workers removed or held: {len(honest)}" + (f": {stopped}" if honest else ""),
        f"Ledger: the accounts sum to {_money(summary, summary.ledger_total)}; "
        + ("the books balance." if balanced else "PROBLEMS: " + "; ".join(summary.ledger_problems)),
        f"Payouts: {summary.payouts_requested} requested, {summary.payouts_approved} approved "
        f"({_money(summary, summary.paid_out)} paid)",
        f"Results files, in {summary.folder}: "
        + (", ".join(path.name for path in summary.results_files) or "none delivered")
        + f"; this summary beside them in {SUMMARY_FILE}, and the batch's chart in {CHART_FILE}",
        f"Database: {summary.database}" if summary.database else "Database: deleted (keep it with --keep)",
    ]


def _money(summary: Summary, micros: int) -> str:
    return formatting.money(micros, summary.currency)


def print_summary(summary: Summary, console: Console) -> None:
    console.print(render(summary))


def save_summary(summary: Summary, path: Path) -> None:
    """The summary as plain text in a file."""
    with path.open("w", encoding="utf-8") as file:
        Console(file=file, width=SAVED_WIDTH, no_color=True).print(render(summary))
