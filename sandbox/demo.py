"""`crowdshelf demo`: the bot at work in one process, with no Telegram and no network beyond 127.0.0.1.

On a stage (`sandbox.stage`: the local Bot API server and the real bot, on a fresh SQLite file in a
temporary folder), simulated people use the bot through the server as people would:

1. an admin funds the requester (`/fund`);
2. the requester sends a product file with its settings in the caption and taps "🚀 Launch";
3. a crowd (`sandbox.crowd`, the model `benchmarks/crowd_sim.py` plays too) takes the quiz and labels
   the products, each worker at their own accuracy and pace; the spammers among them meet the quality rules;
4. the batch completes and its results files reach the requester; the workers give a payout method
   and ask for their money; the admin approves every payout request.

The terminal shows a live progress bar and table meanwhile, and a summary read back from the
database at the end (`sandbox.summary`). The bot's clock runs `speed` times the wall clock
(`sandbox.stage.FastClock`), so a day of the crowd's work takes a minute.
"""

import asyncio
import csv
import io
import random
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from sqlalchemy import func, or_, select

from bot.batches import files as batch_files
from bot.batches import lifecycle as batches
from bot.batches.chart import batch_chart
from bot.quality import rules as quality
from bot.tasks import registry
from bot.tasks.base import QuestionKind, TaskContext, TaskType
from handlers import formatting, outbox
from handlers.chart import render_chart
from sandbox.crowd import BRANDS, Behaviour, Leaves, Worker, build_crowd, leaves_under
from sandbox.options import DemoOptions
from sandbox.people import FILE_QUIET, Admin, CrowdMember, Product, Requester, Workplace
from sandbox.products import SCENARIOS, asked, draw_rows
from sandbox.stage import FastClock, Stage, open_stage, sqlite_file
from sandbox.summary import CHART_FILE, SUMMARY_FILE, Known, Summary, print_summary, read_summary, save_summary
from sandbox.telegram_server import BotMessage
from storage.models import Batch, Item
from storage.states import BatchStatus, WorkerState
from taxonomy import Tree, load_default

SAMPLE = Path(__file__).with_name("data") / "sample_batch.csv"
# The sample's column with each product's right category: the simulated crowd's knowledge, which the
# bot ignores (it reads gold only from gold_category).
TRUTH_COLUMN = "true_category"
SAMPLE_CAPTION = 'reward=0.02 overlap=3 leaf_only=false name="Sample shop"'
GENERATED_ROOT = "Home & Garden > Kitchen & Dining"  # the other types' products, drawn as crowd_sim draws them
GENERATED_ITEMS = 120
GOLD_SHARE = 0.1
REQUESTER, ADMIN = 42, 900
FUNDS = "200"  # the admin funds the requester this much; what the batch does not spend is refunded
SETTINGS = {  # the bot's settings on the stage
    "admin_ids": str(ADMIN),
    "requester_ids": str(REQUESTER),
    "hold_hours": 0,  # credits become available at the next release run: the demo shows payouts
    "payout_threshold": "0.20",
    "log_level": "WARNING",
}
REFRESH = 0.25  # seconds between looks at the progress
TASK_TYPES = tuple(registry.TYPES)


@dataclass(frozen=True)
class DemoBatch:
    """The file the requester sends, and what the people know of its products."""

    content: bytes
    name: str
    caption: str
    task_type: TaskType
    context: TaskContext
    leaves: Leaves
    products: dict[str, Product]  # by title
    known: Known


def prepare_batch(options: DemoOptions, tree: Tree) -> DemoBatch:
    """The requester's file: the bundled sample (categorize), products drawn for another type, or their own."""
    if options.batch is not None or options.task_type == "categorize":
        path = options.batch or SAMPLE
        caption = options.caption or (SAMPLE_CAPTION if options.batch is None else "")
        return _from_file(path.read_bytes(), path.name, caption, options, tree)
    scenario = SCENARIOS[options.task_type]
    settings = [("type", scenario.name), *scenario.settings, ("root", GENERATED_ROOT)]
    caption = options.caption or (
        "reward=0.02 overlap=3 " + " ".join(f'{key}="{value}"' for key, value in settings) + f' name="{scenario.name}"'
    )
    root = tree.find(GENERATED_ROOT)
    leaves = leaves_under(tree, root.id if root else None)
    drawn = draw_rows(scenario.name, options.seed, options.items or GENERATED_ITEMS, GOLD_SHARE, leaves)
    truths = {row["item_id"]: truth for row, truth in drawn}
    return _from_file(_csv_of([row for row, _ in drawn]), f"{scenario.name}.csv", caption, options, tree, truths)


def _from_file(
    content: bytes,
    name: str,
    caption: str,
    options: DemoOptions,
    tree: Tree,
    truths: dict[str, dict[str, str]] | None = None,
) -> DemoBatch:
    """Read the file as the bot will (its settings checked by the bot's own rules) and learn its products."""
    spec = batches.parse_settings(caption, Path(name).stem)
    setup = batches.check_spec(spec, tree, require_complete=False)
    task_type = registry.TYPES[spec.task_type]
    context = TaskContext(setup.task_config, tree, setup.root_id, spec.leaf_only)
    leaves = leaves_under(tree, setup.root_id)
    rows = batch_files.read_rows(content, name)
    if options.items is not None and truths is None:  # the file's first products, sent as CSV
        rows = rows[: options.items]
        content, name = _csv_of([row.values for row in rows]), f"{Path(name).stem}.csv"
    rng = random.Random(f"{options.seed}:beliefs")
    products, known = {}, {}
    for row in rows:
        reading = task_type.read_row(row.values, context)
        given = (truths or {}).get(row.values["item_id"]) or _truth_in_file(task_type, row.values, reading.gold, tree)
        # Where nobody gave the truth, the crowd believes something, and nothing is scored.
        truth = {**_belief(task_type, context, reading.payload, leaves, rng), **given}
        if given and reading.gold is None:
            scored = asked(task_type, context, reading.payload, truth)
            known[row.values["item_id"]] = {key: truth[key] for key in scored if key in given}
        products[row.values["title"]] = Product(reading.payload, truth)
    return DemoBatch(content, name, caption, task_type, context, leaves, products, Known(known))


def _csv_of(rows: Sequence[dict[str, str]]) -> bytes:
    """Rows as a CSV file; a column some rows lack (gold) is empty in those."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(dict.fromkeys(column for row in rows for column in row)), restval="")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def _truth_in_file(
    task_type: TaskType, values: dict[str, str], gold: dict[str, str] | None, tree: Tree
) -> dict[str, str]:
    """A product's right labels as its file gives them: a categorize file's truth column (a category
    path), else its gold; empty when it gives none."""
    category = tree.find(values[TRUTH_COLUMN]) if values.get(TRUTH_COLUMN) else None
    if task_type.name == "categorize" and category is not None:
        return {"category": str(category.id)}
    return dict(gold or {})


def _belief(
    task_type: TaskType, context: TaskContext, payload: dict, leaves: Leaves, rng: random.Random
) -> dict[str, str]:
    """Labels for a product whose truth nobody gave: any answer to each question it asks."""
    belief: dict[str, str] = {}
    while (question := task_type.next_question(payload, belief, context)) is not None:
        if question.kind == QuestionKind.TREE:
            belief[question.key] = rng.choice(leaves.all)
        elif question.kind == QuestionKind.TEXT:
            belief[question.key] = rng.choice(BRANDS)
        else:
            belief[question.key] = rng.choice(question.options)
    return belief


@dataclass
class Cast:
    requester: Requester
    admin: Admin
    crowd: list[CrowdMember]


def cast(stage: Stage, batch: DemoBatch, workers: Sequence[Worker], clock: FastClock, seed: int) -> Cast:
    """The people on the stage: the requester, the admin and one chat per simulated worker."""
    truth = {title: product.truth for title, product in batch.products.items()}
    place = Workplace(batch.task_type, batch.context, batch.products, Behaviour(truth, batch.leaves, seed), clock)
    crowd = [CrowdMember(stage.telegram.user(w.id, f"Worker {w.id}"), w, place) for w in workers]
    return Cast(
        Requester(stage.telegram.user(REQUESTER, "Rita", "rita_shop")), Admin(stage.telegram.user(ADMIN, "Adam")), crowd
    )


async def run_demo(options: DemoOptions, console: Console, database_url: str | None = None) -> Summary:
    """The whole demo, from an empty folder to the summary printed; on a fresh SQLite file in that folder
    unless `database_url` names an empty, migrated database."""
    tree = load_default()
    batch = prepare_batch(options, tree)
    spam_share = options.spammers / options.workers if options.workers else 0.0
    workers = build_crowd(options.seed, options.workers, spam_share, batch.leaves)
    folder = Path(tempfile.mkdtemp(prefix="crowdshelf-demo-"))
    clock = FastClock(options.speed)
    draws = random.Random(f"{options.seed}:draws")
    console.print(
        f"A crowd of {options.workers} ({options.spammers} of them spammers) labels {len(batch.products)} products "
        f"of {batch.name} ({batch.task_type.name}) through a local Telegram; the bot's clock runs "
        f"{options.speed:g} times the wall clock."
    )
    async with open_stage(folder, database_url, clock, draws, **SETTINGS) as stage:
        people = cast(stage, batch, workers, clock, options.seed)
        await people.requester.say("/start")
        await people.admin.fund(REQUESTER, FUNDS)
        said = await people.requester.upload(batch.content, batch.name, batch.caption)
        batch_id = await _launched_batch(stage)
        if batch_id is None:
            raise DemoFailed(said)
        console.print(f"[bold]{said.splitlines()[0] if said else ''}[/bold]")
        await _watch(stage, batch_id, people, console)
        files = await _deliver_results(stage, batch_id, people.requester, folder)
        await stage.run_job("release-holds")
        await asyncio.gather(*(member.cash_out(f"worker{member.worker.id}@example.com") for member in people.crowd))
        await people.admin.approve_payouts()
        summary = await read_summary(stage.services, batch_id, workers, batch.known, folder, files)
        chart = await batch_chart(stage.services, batch_id, REQUESTER)
    # The same chart a requester's 📈 Chart button sends, beside the summary.
    (folder / CHART_FILE).write_bytes(await asyncio.to_thread(render_chart, chart))
    if database_url is not None:
        summary = replace(summary, database=database_url)
    elif options.keep:
        summary = replace(summary, database=str(sqlite_file(folder)))
    else:
        database = sqlite_file(folder)
        for path in (database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")):
            path.unlink(missing_ok=True)  # SQLite's write-ahead log and its index go with the file
    print_summary(summary, console)
    save_summary(summary, folder / SUMMARY_FILE)
    return summary


class DemoFailed(Exception):
    """The requester's batch did not launch: what the bot said instead."""


async def _launched_batch(stage: Stage) -> int | None:
    async with stage.services.db.read() as session:
        found = await batches.of_requester(session, REQUESTER, limit=1)
    return found[0].id if found and found[0].status != BatchStatus.DRAFT else None


async def _watch(stage: Stage, batch_id: int, people: Cast, console: Console) -> None:
    """Let the crowd work, showing progress until every worker has left."""
    bar = Progress(TextColumn("labelling"), BarColumn(), MofNCompleteColumn(), TextColumn("answers"))
    task = bar.add_task("answers", total=None)
    working = [asyncio.create_task(member.work()) for member in people.crowd]
    with Live(console=console, refresh_per_second=4, transient=False) as live:
        while not all(job.done() for job in working):
            live.update(await _progress_view(stage, batch_id, people, bar, task))
            await asyncio.sleep(REFRESH)
        live.update(await _progress_view(stage, batch_id, people, bar, task))
    console.print()
    for job in working:
        job.result()  # a worker's failure is the demo's


async def _progress_view(stage: Stage, batch_id: int, people: Cast, bar: Progress, task: object) -> Group:
    async with stage.services.db.read() as session:
        batch = await session.get(Batch, batch_id)
        assert batch is not None
        progress = await batches.progress(session, batch, stage.services.clock.now())
        gold = await session.scalar(batches.gold_count(batch_id)) or 0
        states = await quality.states(session, batch_id)
        products_done = await session.scalar(
            select(func.count(Item.id)).where(
                Item.batch_id == batch_id,
                Item.is_gold == False,  # noqa: E712
                or_(Item.settled == True, Item.answers >= batch.overlap),  # noqa: E712
            )
        )
    bar.update(task, completed=progress.answers, total=progress.answers_needed)  # type: ignore[arg-type]
    table = Table(box=box.SIMPLE)
    for column in ("answers", "products done", "ETA (bot's clock)", "workers active", "held", "removed"):
        table.add_column(column, justify="right")
    table.add_row(
        str(progress.answers),
        f"{products_done}/{progress.items - gold}",
        _eta(progress),
        str(sum(member.working for member in people.crowd)),
        str(sum(state == WorkerState.HELD for state in states.values())),
        str(sum(state == WorkerState.REMOVED for state in states.values())),
    )
    return Group(bar, table)


def _eta(progress: batches.Progress) -> str:
    if progress.answers >= progress.answers_needed:
        return "done"
    return formatting.duration(progress.eta) if progress.eta is not None else "-"


async def _deliver_results(stage: Stage, batch_id: int, requester: Requester, folder: Path) -> list[Path]:
    """Complete the batch (the job's next run, now) and save the files the requester receives: sent on
    completion, or asked for with /results while the crowd left products short of their answers."""
    await stage.run_job("complete-batches")
    await outbox.deliver(stage.app.bot, stage.services)
    async with stage.services.db.read() as session:
        batch = await session.get(Batch, batch_id)
    if batch is not None and batch.status != BatchStatus.COMPLETED:
        await requester.say(f"/results {batch_id}")
    await requester.wait_for(lambda: bool(_documents(requester)), FILE_QUIET)
    saved = []
    for message in _documents(requester):
        path = folder / message.document["file_name"]  # type: ignore[index]
        path.write_bytes(message.document_bytes or b"")
        saved.append(path)
    return saved


def _documents(requester: Requester) -> list[BotMessage]:
    return [m for m in requester.user.messages if m.document and m.document_bytes is not None]
