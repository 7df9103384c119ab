"""A simulated crowd against the real domain code: does quality control catch the spammers, for every task type?

The script drives ``bot.work.next_task`` and ``bot.work.answer`` (the calls a worker's Telegram
buttons end in, with the rules of ``bot.quality.gold`` and ``bot.quality.rules`` running inside them:
the qualification quiz, hidden checks, removal on gold, holds, the cap per worker) for a crowd of
simulated workers on one batch of each task type, then reads the outcome back from the database and
through ``bot.batches.results.collect`` (the labels a requester downloads).

The task types (``--type``, default all five), each a batch of the same size, with products drawn as
``sandbox/products.py`` says (a leaf of the batch root's subtree to categorize, a proposed category to
validate, colour, material and a typed brand, a photo that matches or not, a photo's quality).

Each question is answered with its own ``work.answer`` call, as a worker's button or typed text
would: a CHOICE question with its option's index, a TREE question with a category id, a TEXT question
with typed text; a card with several questions returns ``partial=True`` until its last.

The crowd (seeded, the same workers for every type) is the model in ``sandbox/crowd.py``, which the
demo (``crowdshelf demo``) plays through Telegram too: honest workers of accuracy 0.6–0.95, random
clickers, constant answerers, too-fast bots and a ring of copiers, and switchers only with
``--switchers SHARE`` (right through the quiz, random answers after it), each kind with its seconds
per question.

Time per answer is simulated by moving the assignment's ``created_at`` back by the simulated
duration, the sum of its questions', before each answer.

Workers take turns (a seeded shuffle per round), each answering every question of its open product
and receiving the next, until nobody gets a task. A worker stops asking for tasks once removed, held,
or failed in the quiz with no try left; nobody is reinstated. A worker who fails the quiz with tries
left comes back 10 rounds later as if its cool-down had passed (a real batch runs for days, so retries
come within it; the simulated one takes minutes of simulated time).

The same crowd labels each type's batch three times, each on a fresh database:

1. with quality control at a fixed overlap of 3 (the issue's setting);
2. with quality control and dynamic (adaptive) overlap (``overlap=5 min_overlap=3 confidence=0.9``): every
   product gets 3 answers, and up to 5 while the crowd is split (its leading label's posterior under
   0.9 on a question it was asked, ``aggregation.should_stop``);
3. with quality control effectively off (no quiz, min_gold out of reach, min_seconds 1 ms, no cap
   per worker, and any hold lifted at once with ``quality.reinstate``, as an admin waving
   everyone through would; the hidden checks still come at gold_rate, but only grade), for the
   label accuracy and cost without it.

The batch: root "Home & Garden > Kitchen & Dining" of the bundled taxonomy, leaves only (348
leaves); 10 % of products gold (their truth in the type's gold columns: ``gold_category``,
``gold_<attribute>``, ``gold_answer``, ``gold_<question>``); reward 0.02; min_gold 5, min_accuracy
0.7, min_seconds from the crowd, max_share 0.2 (a cap the requester sets here: by default a worker may
answer every product); and the product's defaults for gold: qualification 5, pass_score 0.8,
gold_rate 0.1. Each question of a gold product answered and with gold is one gold answer (a product
with three questions gives three). Gold products are never in the open pool: before their first paid
task each worker answers a quiz of 5 gold products (80 % of their gold answers right to pass), and
after it each task is a hidden check (an unseen gold product) with probability 0.1, else work. Quizzes and checks spend the batch's funded quiz and check slots (``batches.plan_cost``); when
the quiz slots run out, workers not yet through the quiz get no work. With ``--top-up-quizzes`` the
requester, told so by the bot (``jobs.spent_quiz_budgets``, checked at the start of each round),
funds 10 more quizzes each time, as the bot's message suggests, and pays for them: then every failed
worker gets its retries. Which gold product is served, and whether a task is a check, is drawn by
``bot.quality.gold``'s own random generator, which the script seeds per run so that a seed repeats
its figures.

Label accuracy is per question, over the non-gold products that ask it when answered truthfully (a
validate product's category only when its proposed category is wrong; an image_quality product whose
photo does not load only its first question); a type's accuracy is the mean over its questions. A
label is one product's answer to one question, so the cost per correct label is what the workers were
paid over the right labels.

Targets (from the issue), per type: at least 95 % of each spammer kind stopped (removed, held by a
hold rule, or failed in the quiz on every try; all three are shown) within its first 30 answers
(quiz answers count; an answer is a product, whatever its questions), read off the first run; at most
1 % of honest workers removed or held, read off the first run; label accuracy at least 0.95 with
quality control (both overlaps) with 30 % of the crowd spammers. Shares are of the workers who got at
least one task: the others (the batch done, or its quiz budget spent, before their turn) put no answer
in and met no rule; the "no task" column counts them. Honest workers kept out by the quiz after every
try are shown apart, with their accuracy: the quiz exists to keep workers under ``pass`` out, and the
issue counts removals, not failed quizzes, against the 1 %.

Run it from the repository root::

    python benchmarks/crowd_sim.py                         # every type, 80 workers, 300 products
    python benchmarks/crowd_sim.py --quick                 # 40 workers, 150 products
    python benchmarks/crowd_sim.py --type validate --seed 7 --workers 100 --items 600

The fifteen runs (five types, three runs each) go to ``--jobs`` worker processes (default 2), each
on its own SQLite database; all five types at the default sizes take about four minutes on two cores.
Simulated time is only the gap between showing and answering a product: the crowd's answers arrive
as fast as the machine records them, so anything the product keeps for a stretch of wall-clock time
(a cached figure, say, such as the speed rule's crowd floor) sees the whole batch pass within that
stretch. Read such rules' figures with that in mind.

Output is plain ``name: value`` lines and small tables with each target beside its figure, then a
summary table with one line per type and run; the exit status is 0 whatever the figures (missed
targets are printed, not fatal).
"""

import argparse
import asyncio
import json
import multiprocessing
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import select, update  # noqa: E402

from bot import jobs, taxonomies, work  # noqa: E402
from bot.aggregation import methods as aggregation  # noqa: E402
from bot.aggregation.methods import Answer  # noqa: E402
from bot.batches import files as batch_files  # noqa: E402
from bot.batches import lifecycle as batches  # noqa: E402
from bot.batches import results  # noqa: E402
from bot.batches.lifecycle import BatchSpec  # noqa: E402
from bot.batches.task import BatchTask, task_of  # noqa: E402
from bot.errors import TaskUnavailable  # noqa: E402
from bot.money import ledger  # noqa: E402
from bot.quality import gold  # noqa: E402
from bot.quality import rules as quality  # noqa: E402
from bot.tasks import registry  # noqa: E402
from bot.tasks.base import Question, TaskContext, TaskType  # noqa: E402
from bot.tasks.reading import typed_label  # noqa: E402
from bot.wiring.config import Settings  # noqa: E402
from bot.wiring.services import Services, build_services  # noqa: E402
from handlers import formatting  # noqa: E402
from sandbox.crowd import (  # noqa: E402
    CHOICE,
    CONSTANT,
    COPIER,
    FAST,
    HONEST,
    RANDOM,
    SECONDS,
    SIBLING_MISTAKE,
    SPAMMERS,
    SWITCHER,
    TEXT,
    Behaviour,
    Leaves,
    Worker,
    build_crowd,
    leaves_under,
)
from sandbox.products import SCENARIOS, Scenario, asked, draw_rows  # noqa: E402
from storage import migrate  # noqa: E402
from storage.clock import utcnow  # noqa: E402
from storage.db import connect  # noqa: E402
from storage.models import Assignment, Batch, BatchWorker, Item, User  # noqa: E402
from storage.states import AssignmentStatus, CreditState, WorkerState  # noqa: E402
from taxonomy import load_default  # noqa: E402

BATCH_ROOT = "Home & Garden > Kitchen & Dining"
REQUESTER = 1
REWARD_MICROS = 20_000
CURRENCY = "USD"
OVERLAP = 3
DYNAMIC_OVERLAP = 5  # the dynamic-overlap run: up to this many answers on a product the crowd splits on
DYNAMIC_CONFIDENCE = 0.9  # … until its leading label's posterior reaches this (aggregation.should_stop)
GOLD_SHARE = 0.10
SPAM_SHARE = 0.30
MIN_GOLD = 5
MIN_ACCURACY = 0.7
MAX_SHARE = 0.2
QUALIFICATION = 5  # quiz size (the product's default), capped at the batch's gold items
PASS_SCORE = 0.8  # share of the quiz right to pass (the product's default)
GOLD_RATE = 0.1  # share of tasks after the quiz that are hidden checks (the product's default)
RETRY_ROUNDS = 10  # a worker who failed the quiz comes back for a retry this many rounds later
QUIZ_TOP_UP = 10  # quizzes the requester funds when told the quiz budget is spent, as the message suggests

STOPPED = (WorkerState.REMOVED, WorkerState.HELD, WorkerState.FAILED)  # "qualifying", "active" or no row: not stopped
NO_ROW = "no row"  # the worker never got a task in the batch: no BatchWorker row
FAILED_QUIZ = "failed the qualification quiz"  # a failed worker's row has no reason text

TARGET_CAUGHT, TARGET_WITHIN = 0.95, 30
TARGET_HONEST_STOPPED = 0.01
TARGET_ACCURACY = 0.95

QUICK = {"workers": 40, "items": 150}
DEFAULT = {"workers": 80, "items": 300}
JOBS = 2
SCRATCH = Path("/dev/shm")


# --------------------------------------------------------------------------------------------
# The simulated batch: its products and crowd
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimItem:
    external_id: str
    title: str
    truth: dict[str, str]  # the right label per question (a typed brand as written)
    scored: tuple[str, ...]  # the questions a truthful worker is asked: where its label is scored
    payload: dict[str, Any]  # as the type reads the row
    gold: dict[str, str] | None  # as the type reads the row's gold columns; None: not a gold product

    @property
    def is_gold(self) -> bool:
        return self.gold is not None


@dataclass(frozen=True)
class Sizes:
    workers: int
    items: int
    spam_share: float = SPAM_SHARE
    gold_share: float = GOLD_SHARE
    switcher_share: float = 0.0


@dataclass(frozen=True)
class Setup:
    scenario: Scenario
    task_type: TaskType
    context: TaskContext
    leaves: Leaves
    crowd: tuple[Worker, ...]
    items: tuple[SimItem, ...]
    rows: list[dict[str, str]]

    @property
    def questions(self) -> tuple[Question, ...]:
        return self.task_type.questions(self.context)

    @property
    def truth(self) -> dict[str, dict[str, str]]:
        """Each product's right labels, by its title (what a worker sees)."""
        return {item.title: item.truth for item in self.items}

    def label(self, question: Question, truth: str) -> str:
        """A true label as the core stores it (a typed one folded)."""
        return typed_label(truth) if question.kind == TEXT else truth


def build_setup(type_name: str, seed: int, sizes: Sizes) -> Setup:
    tree = load_default()
    root = tree.find(BATCH_ROOT)
    assert root is not None, f"{BATCH_ROOT!r} is missing from the bundled taxonomy"
    leaves = leaves_under(tree, root.id)
    scenario = SCENARIOS[type_name]
    task_type = registry.TYPES[type_name]
    context = TaskContext(task_type.configure(dict(scenario.settings), tree), tree, root.id, True)

    items, rows = [], []
    for row, truth in draw_rows(type_name, seed, sizes.items, sizes.gold_share, leaves):
        reading = task_type.read_row(row, context)
        assert not reading.problems, reading.problems
        scored = asked(task_type, context, reading.payload, truth)
        items.append(SimItem(row["item_id"], row["title"], truth, scored, reading.payload, reading.gold))
        rows.append(row)
    crowd = build_crowd(seed, sizes.workers, sizes.spam_share, leaves, sizes.switcher_share)
    return Setup(scenario, task_type, context, leaves, crowd, tuple(items), rows)


def encoded(question: Question, answer: str) -> str:
    """An answer as the button or message carries it: a CHOICE question's option by its index."""
    return str(question.options.index(answer)) if question.kind == CHOICE else answer


def honest_ceiling(setup: Setup, seed: int) -> dict[str, float]:
    """Label accuracy per question (non-gold products) if every product got OVERLAP answers from
    honest workers only, aggregated the same way (in memory, no database): the most spam control can reach."""
    honest = [worker for worker in setup.crowd if worker.kind == HONEST]
    if len(honest) < OVERLAP:
        return {}
    behaviour = Behaviour(setup.truth, setup.leaves, seed, "ceiling answers")
    rng = random.Random(f"{seed}:ceiling")
    answers: list[tuple[str, str, dict[str, str]]] = []
    for item in setup.items:
        for worker in rng.sample(honest, OVERLAP):
            labels: dict[str, str] = {}
            while (question := setup.task_type.next_question(item.payload, labels, setup.context)) is not None:
                label = setup.task_type.accept(question, behaviour.pick(worker, item.title, question), setup.context)
                assert label is not None
                labels[question.key] = label
            answers.append((item.external_id, str(worker.id), labels))
    return _accuracy(setup, _aggregate(setup, answers))[0]


def _aggregate(setup: Setup, answers: Sequence[tuple[str, str, Mapping[str, str]]]) -> dict[str, dict[str, str]]:
    """Labels per question and product from (product, worker, labels) answers, as the results aggregate them."""
    labels: dict[str, dict[str, str]] = {}
    for question in setup.questions:
        crowd = [Answer(item, worker, given[question.key]) for item, worker, given in answers if question.key in given]
        families = setup.task_type.label_space(question, setup.context).families
        found = aggregation.aggregate(crowd, "auto", _gold_labels(setup, question), families) if crowd else {}
        labels[question.key] = {item: label.label for item, label in found.items()}
    return labels


def _gold_labels(setup: Setup, question: Question) -> dict[str, str]:
    """The gold products' right labels for `question`, as the results aggregate with them."""
    return {item.external_id: item.gold[question.key] for item in setup.items if question.key in (item.gold or {})}


def _accuracy(setup: Setup, labels: Mapping[str, Mapping[str, str]]) -> tuple[dict[str, float], int, int]:
    """Per question, the share of non-gold products whose label is right; the right labels; the products
    with a scored question left without a label."""
    shares, right_labels, unlabelled = {}, 0, set()
    for question in setup.questions:
        scored = [item for item in setup.items if not item.is_gold and question.key in item.scored]
        right = 0
        for item in scored:
            label = labels[question.key].get(item.external_id, "")
            right += label == setup.label(question, item.truth[question.key])
            if not label:
                unlabelled.add(item.external_id)
        if scored:
            shares[question.key] = right / len(scored)
        right_labels += right
    return shares, right_labels, len(unlabelled)


# --------------------------------------------------------------------------------------------
# One run: a fresh database, the batch, the crowd at work, the figures read back
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """One labelling of the batch: with or without quality control, at a fixed or dynamic overlap."""

    title: str
    quality_control: bool
    overlap: int = OVERLAP  # the most answers a product gets
    min_overlap: int = OVERLAP  # the fewest; below `overlap` it stops once `confidence` is reached
    confidence: float | None = None
    short: str = ""  # its name in the summary


WITH_QC = Plan("with quality control", quality_control=True, short="QC, overlap 3")
DYNAMIC = Plan(
    f"with quality control and dynamic overlap ({OVERLAP}-{DYNAMIC_OVERLAP})",
    quality_control=True,
    overlap=DYNAMIC_OVERLAP,
    confidence=DYNAMIC_CONFIDENCE,
    short=f"QC, overlap {OVERLAP}-{DYNAMIC_OVERLAP}",
)
WITHOUT_QC = Plan("without quality control", quality_control=False, short="no QC, overlap 3")
PLANS = (WITH_QC, DYNAMIC, WITHOUT_QC)


@dataclass
class WorkerOutcome:
    worker: Worker
    answers: int  # every product they answered (quiz, checks, work), so before any stop
    gold: int  # of which on gold (quiz and checks)
    state: str  # active, qualifying, failed (the quiz), removed, held, or NO_ROW (never got a task)
    reason: str
    rejected: int


@dataclass
class RunResult:
    type_name: str
    plan: Plan
    seconds: float
    rounds: int
    answers: int
    quiz_answers: int
    check_answers: int
    rejected: int
    outcomes: list[WorkerOutcome]
    accuracy_by_question: dict[str, float]  # aggregated labels vs truth on non-gold products
    answers_per_product: float  # work answers (not quiz, not checks) per non-gold product
    short_products: int  # non-gold products with fewer accepted answers than min_overlap
    unlabelled: int
    correct: int  # right labels (a product's answer to one question is a label)
    paid_micros: int
    methods: dict[str, str]  # aggregation method per question
    max_answers: int | None
    qualification: int  # the batch's quiz size (0: no quiz)
    gold_slots_left: int  # funded gold answers (quiz and checks) not spent
    honest_only_accuracy: float  # the same products aggregated from honest answers alone
    accepted_by_kind: Counter[str] = field(default_factory=Counter)
    answers_by_kind: Counter[str] = field(default_factory=Counter)
    reasons: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # kind → rule → the reasons given
    lifted: Counter[str] = field(default_factory=Counter)  # run without quality control: stops undone

    @property
    def accuracy(self) -> float:
        """The mean over the type's questions."""
        return statistics.mean(self.accuracy_by_question.values()) if self.accuracy_by_question else 0.0

    @property
    def cost_per_label(self) -> float:
        return self.paid_micros / self.correct / 1e6 if self.correct else float("nan")


def run_job(job: tuple[str, int, Sizes, Plan, bool]) -> RunResult:
    """One run from scratch (a worker process builds its own setup: the same, from the same seed)."""
    type_name, seed, sizes, plan, top_up = job
    return run(build_setup(type_name, seed, sizes), seed, plan, top_up)


def run(setup: Setup, seed: int, plan: Plan, top_up: bool = False) -> RunResult:
    # In memory where the system offers a folder there (Linux): the figures are the rules', not the disk's.
    with tempfile.TemporaryDirectory(prefix="crowd-sim-", dir=SCRATCH if SCRATCH.is_dir() else None) as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'crowd.db'}"
        migrate.upgrade(url)  # runs its own event loop, so before ours
        return asyncio.run(_simulate(url, setup, seed, plan, top_up))


async def _simulate(url: str, setup: Setup, seed: int, plan: Plan, top_up: bool) -> RunResult:
    started = time.perf_counter()
    db = connect(url)
    # The bot draws checks and picks gold products at random: seed its draws so a seed repeats its
    # figures (as each run's own streams are).
    draws = random.Random(f"{seed}:gold:{plan.title}")
    services = build_services(Settings(bot_token="", database_url=url, _env_file=None), db, draws=draws)
    try:
        batch_id = await _load_batch(services, setup, plan)
        async with db.write() as session:
            for worker in setup.crowd:
                session.add(User(id=worker.id, first_name=f"Sim {worker.id}"))
        rounds, lifted = await _work(services, setup, seed, batch_id, not plan.quality_control, top_up)
        result = await _read_back(services, setup, batch_id, plan, time.perf_counter() - started, rounds)
        result.lifted = lifted
        return result
    finally:
        await db.dispose()


async def _load_batch(services: Services, setup: Setup, plan: Plan) -> int:
    taxonomy_id = await taxonomies.ensure_default(services.db)
    tree = (await services.taxonomies.get(taxonomy_id)).tree
    if plan.quality_control:
        rules = {
            "min_gold": MIN_GOLD,
            "min_accuracy": MIN_ACCURACY,
            "min_seconds": None,
            "max_share": MAX_SHARE,
            "qualification": QUALIFICATION,
            "pass_score": PASS_SCORE,
        }
    else:  # no quiz; the same checks, out of reach (they still come at gold_rate, but only grade)
        rules = {"min_gold": 10**9, "min_accuracy": 0.0, "min_seconds": 0.001, "max_share": 1.0, "qualification": 0}
    spec = BatchSpec(
        name=f"Crowd simulation: {setup.scenario.name}",
        task_type=setup.scenario.name,
        task_settings=setup.scenario.settings,
        reward_micros=REWARD_MICROS,
        overlap=plan.overlap,
        min_overlap=plan.min_overlap,
        confidence=plan.confidence,
        root=BATCH_ROOT,
        leaf_only=True,
        gold_rate=GOLD_RATE,
        **rules,
    )
    data = "\n".join(json.dumps(row) for row in setup.rows).encode()
    parsed = batch_files.read_rows(data, "products.jsonl")
    async with services.db.write() as session:
        batch = await batches.load_funded_batch(
            session, REQUESTER, taxonomy_id, tree, spec, parsed, CURRENCY, services.clock.now()
        )
        return batch.id


async def _work(
    services: Services, setup: Setup, seed: int, batch_id: int, lift_stops: bool, top_up: bool
) -> tuple[int, Counter[str]]:
    """Turns until a whole round passes with nobody holding or getting a task, and nobody due back.

    In a turn a worker answers every question of its open product. A removal, a hold or a failed quiz
    with no try left is a stop: the worker asks for no more tasks. A failed quiz with tries left sends
    the worker away for RETRY_ROUNDS rounds; then the cool-down is over (its end is moved to now) and
    they ask again. With `top_up`, a spent quiz budget the bot reports is funded again at the start of
    the next round.

    Returns the rounds, and (with `lift_stops`: the run without quality control) how many
    stops of each kind of worker were lifted at once, as an admin reinstating everyone would.
    """
    behaviour = Behaviour(setup.truth, setup.leaves, seed)
    order_rng = random.Random(f"{seed}:order")
    tasks: dict[int, work.TaskScreen | None] = {}
    stopped: set[int] = set()
    due_back: dict[int, int] = {}  # worker → the round their quiz cool-down ends
    lifted: Counter[str] = Counter()
    rounds = 0
    while True:
        rounds += 1
        for budget in await jobs.spent_quiz_budgets(services) if top_up else ():
            await _top_up_quizzes(services, budget.batch_id, rounds)
        for worker_id in [w for w, at in due_back.items() if at <= rounds]:
            await _end_cool_down(services, batch_id, worker_id)
            del due_back[worker_id]
        order = list(setup.crowd)
        order_rng.shuffle(order)
        busy = False
        for worker in order:
            if worker.id in stopped or worker.id in due_back:
                continue
            task = tasks.get(worker.id) or await work.next_task(services, worker.id)
            if task is None:
                continue
            busy = True
            try:
                done = await _answer_product(services, behaviour, worker, task)
            except TaskUnavailable:
                tasks[worker.id] = None
                continue
            tasks[worker.id] = done.next_task
            if isinstance(done.verdict, gold.QuizStep) and done.verdict.passed is False and done.verdict.retries_left:
                due_back[worker.id] = rounds + RETRY_ROUNDS
            elif not _stops(done.verdict):
                continue
            elif lift_stops:
                async with services.db.write() as session:
                    await quality.reinstate(session, batch_id, worker.id, services.clock.now())
                lifted[worker.kind] += 1
            else:
                stopped.add(worker.id)
        if not busy:
            if not due_back:
                return rounds - 1, lifted
            rounds = min(due_back.values()) - 1  # nobody is working: skip to the next return


async def _answer_product(
    services: Services, behaviour: Behaviour, worker: Worker, task: work.TaskScreen
) -> work.Answered:
    """Every question of the product, one `work.answer` each, as its buttons or typed text would; the
    product was shown the sum of its questions' seconds before the answer that completes it."""
    screen, seconds = task, 0.0
    while True:
        answer = behaviour.pick(worker, screen.card.title, screen.question)
        seconds += behaviour.seconds(worker, screen.question)
        await _backdate(services, screen.assignment_id, seconds)
        value = encoded(screen.question, answer)
        done = await work.answer(services, worker.id, screen.assignment_id, screen.question_index, value)
        if not done.partial:
            return done
        assert done.next_task is not None and done.next_task.assignment_id == screen.assignment_id
        screen = done.next_task


def _stops(verdict: quality.Removal | quality.Hold | gold.QuizStep | None) -> bool:
    """Whether the worker is out of the batch: removed, held, or failed in the quiz."""
    if isinstance(verdict, gold.QuizStep):
        return verdict.passed is False
    return verdict is not None


async def _top_up_quizzes(services: Services, batch_id: int, round_number: int) -> None:
    """The requester, told by the bot that no new worker can join, pays in and funds more quizzes."""
    request = f"crowd-sim:quizzes:{round_number}"
    async with services.db.write() as session:
        await ledger.fund_requester(session, request, REQUESTER, QUIZ_TOP_UP * QUALIFICATION * REWARD_MICROS)
        await batches.add_quizzes(session, batch_id, REQUESTER, QUIZ_TOP_UP, request, CURRENCY)


async def _end_cool_down(services: Services, batch_id: int, worker_id: int) -> None:
    """The quiz's cool-down (retry_hours of wall-clock time) has passed for this worker."""
    async with services.db.write() as session:
        await session.execute(
            update(BatchWorker)
            .where(BatchWorker.batch_id == batch_id, BatchWorker.worker_id == worker_id)
            .values(retry_at=utcnow() - timedelta(seconds=1))
        )


async def _backdate(services: Services, assignment_id: int, seconds: float) -> None:
    """The product was shown `seconds` ago: what the speed rule measures."""
    async with services.db.write() as session:
        await session.execute(
            update(Assignment)
            .where(Assignment.id == assignment_id)
            .values(created_at=utcnow() - timedelta(seconds=seconds))
            .execution_options(synchronize_session=False)
        )


async def _read_back(
    services: Services, setup: Setup, batch_id: int, plan: Plan, elapsed: float, rounds: int
) -> RunResult:
    kinds = {worker.id: worker.kind for worker in setup.crowd}
    async with services.db.read() as session:
        task = await task_of(await services.batches.get(batch_id, session), services.taxonomies, session)
        labels = _labels_of(task, (await results.collect(session, batch_id, task)).labels.rows)
        states = {
            worker_id: (state, reason or "")
            for worker_id, state, reason in await session.execute(
                select(BatchWorker.worker_id, BatchWorker.state, BatchWorker.reason).where(
                    BatchWorker.batch_id == batch_id
                )
            )
        }
        rows = (
            await session.execute(
                select(
                    Assignment.worker_id,
                    Item.external_id,
                    Assignment.answer,
                    Assignment.gold_graded,
                    Assignment.credit_state,
                    Assignment.quiz_attempt,
                )
                .join(Item, Item.id == Assignment.item_id)
                .where(Assignment.batch_id == batch_id, Assignment.status == AssignmentStatus.ANSWERED)
                .order_by(Assignment.id)
            )
        ).all()
        paid = 0
        for worker in setup.crowd:
            balance = await ledger.worker_balance(session, worker.id)
            paid += balance.pending + balance.available + balance.in_flight + balance.paid
        max_answers, qualification, gold_slots_left = (
            await session.execute(
                select(Batch.max_answers, Batch.qualification, Batch.gold_slots + Batch.quiz_slots).where(
                    Batch.id == batch_id
                )
            )
        ).one()

    answers: Counter[int] = Counter()
    on_gold: Counter[int] = Counter()
    rejected: Counter[int] = Counter()
    accepted_by_kind: Counter[str] = Counter()
    answers_by_kind: Counter[str] = Counter()
    quiz_answers = check_answers = 0
    for worker_id, _external, _labels, gold_graded, credit_state, quiz_attempt in rows:
        quiz_answers += quiz_attempt is not None
        check_answers += gold_graded > 0 and quiz_attempt is None
        answers[worker_id] += 1
        answers_by_kind[kinds[worker_id]] += 1
        on_gold[worker_id] += gold_graded > 0
        if credit_state == CreditState.REJECTED:
            rejected[worker_id] += 1
        else:
            accepted_by_kind[kinds[worker_id]] += 1
    outcomes = [
        WorkerOutcome(w, answers[w.id], on_gold[w.id], *states.get(w.id, (NO_ROW, "")), rejected[w.id])
        for w in setup.crowd
    ]
    reasons: dict[str, dict[str, list[str]]] = {}
    for outcome in outcomes:
        if outcome.state in STOPPED:
            reason = outcome.reason or (FAILED_QUIZ if outcome.state == WorkerState.FAILED else outcome.state)
            # "gold answers right 1/5, at best 62%" and "… 0/5, at best 43%" are the same reason
            key = re.sub(r"\d+(\.\d+)?", "#", reason)
            reasons.setdefault(outcome.worker.kind, {}).setdefault(key, []).append(reason)

    accepted_work = Counter(
        ext for _w, ext, _l, gold_graded, state, _q in rows if gold_graded == 0 and state != CreditState.REJECTED
    )
    scored = [item for item in setup.items if not item.is_gold]
    accuracy, correct, unlabelled = _accuracy(setup, labels)
    accepted = [(ext, str(w), given or {}) for w, ext, given, _g, state, _q in rows if state != CreditState.REJECTED]
    honest = [(ext, str(w), given or {}) for w, ext, given, _g, _s, _q in rows if kinds[w] == HONEST]
    honest_accuracy = _accuracy(setup, _aggregate(setup, honest))[0] if honest else {}
    work_answers = len(rows) - quiz_answers - check_answers

    return RunResult(
        type_name=setup.scenario.name,
        plan=plan,
        seconds=elapsed,
        rounds=rounds,
        answers=len(rows),
        quiz_answers=quiz_answers,
        check_answers=check_answers,
        rejected=sum(rejected.values()),
        outcomes=outcomes,
        accuracy_by_question=accuracy,
        answers_per_product=work_answers / len(scored) if scored else 0.0,
        short_products=sum(1 for item in scored if accepted_work[item.external_id] < plan.min_overlap),
        unlabelled=unlabelled,
        correct=correct,
        paid_micros=paid,
        methods=_methods(setup, accepted),
        max_answers=max_answers,
        qualification=qualification,
        gold_slots_left=gold_slots_left,
        honest_only_accuracy=statistics.mean(honest_accuracy.values()) if honest_accuracy else 0.0,
        accepted_by_kind=accepted_by_kind,
        answers_by_kind=answers_by_kind,
        reasons=reasons,
    )


def _labels_of(task: BatchTask, rows: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """The results file's label per question and product: `label_id` for a one-question type, else the
    question's own column."""
    questions = task.questions
    return {
        question.key: {row["item_id"]: row["label_id" if len(questions) == 1 else question.key] for row in rows}
        for question in questions
    }


def _methods(setup: Setup, accepted: Sequence[tuple[str, str, Mapping[str, str]]]) -> dict[str, str]:
    """The aggregation method "auto" chose for each question."""
    methods = {}
    for question in setup.questions:
        crowd = [Answer(ext, worker, given[question.key]) for ext, worker, given in accepted if question.key in given]
        methods[question.key] = aggregation.choose_method(crowd, _gold_labels(setup, question)) if crowd else "-"
    return methods


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _mean(values: Sequence[float]) -> str:
    return f"{statistics.mean(values):.3f}" if values else "-"


def spread(values: Sequence[int]) -> str:
    return f"{statistics.median(values):g}/{max(values)}" if values else "-"


def per_question(accuracy: Mapping[str, float]) -> str:
    return ", ".join(f"{key} {share:.3f}" for key, share in accuracy.items())


@dataclass(frozen=True)
class KindFigures:
    """One kind of worker in one run: shares of those who got a task."""

    workers: int
    no_task: int  # never got a task: shares are of the others, and without others there are none
    removed: float
    held: float
    failed: float
    early: float  # stopped within TARGET_WITHIN answers
    stopped_at: str
    answers: str
    accepted: float


def kind_figures(result: RunResult, kind: str) -> KindFigures | None:
    group = [o for o in result.outcomes if o.worker.kind == kind]
    if not group:
        return None
    # Shares of the workers who got at least one task: the others (the batch done, or its quiz
    # budget spent, before their turn) put no answer in and met no rule.
    seen = [o for o in group if o.state != NO_ROW]
    base = len(seen) or 1
    stopped = [o for o in seen if o.state in STOPPED]
    total = result.answers_by_kind[kind]
    return KindFigures(
        workers=len(group),
        no_task=len(group) - len(seen),
        removed=sum(1 for o in seen if o.state == WorkerState.REMOVED) / base,
        held=sum(1 for o in seen if o.state == WorkerState.HELD) / base,
        failed=sum(1 for o in seen if o.state == WorkerState.FAILED) / base,
        early=sum(1 for o in stopped if o.answers <= TARGET_WITHIN) / base,
        stopped_at=spread([o.answers for o in stopped]),
        answers=spread([o.answers for o in seen]),
        accepted=result.accepted_by_kind[kind] / total if total else 0.0,
    )


def checks_of(result: RunResult) -> dict[str, bool]:
    """The targets a run is checked against: the crowd's on the fixed-overlap run, accuracy on both runs
    with quality control."""
    checks: dict[str, bool] = {}
    if result.plan == WITH_QC:
        for kind in (*SPAMMERS, HONEST):
            figures = kind_figures(result, kind)
            if figures is None or figures.no_task == figures.workers:
                continue
            if kind == HONEST:
                ok = figures.removed + figures.held <= TARGET_HONEST_STOPPED
                checks[f"honest workers removed or held <= {TARGET_HONEST_STOPPED:.0%}"] = ok
            else:
                checks[f"{kind}s stopped within {TARGET_WITHIN} answers >= {TARGET_CAUGHT:.0%}"] = (
                    figures.early >= TARGET_CAUGHT
                )
    if result.plan.quality_control:
        checks[f"label accuracy >= {TARGET_ACCURACY} {result.plan.title}"] = result.accuracy >= TARGET_ACCURACY
    return checks


def report_run(result: RunResult) -> None:
    """Print one run in detail."""
    print(f"\n== {result.type_name}, {result.plan.title} ==")
    print(f"time: {result.seconds:.1f} s ({result.rounds} rounds of turns)")
    cap = f"{result.max_answers} answers per worker" if result.max_answers else "none"
    print(f"per-worker cap: {cap}")
    share = result.rejected / result.answers if result.answers else 0.0
    print(f"answers: {result.answers}, rejected by quality control: {result.rejected} ({share:.1%})")
    print(
        f"answers on gold: quiz {result.quiz_answers}, hidden checks {result.check_answers}; "
        f"funded gold answers left unspent: {result.gold_slots_left}"
    )
    states = Counter(o.state for o in result.outcomes)
    if result.qualification:
        through = len(result.outcomes) - states[WorkerState.FAILED] - states[WorkerState.QUALIFYING] - states[NO_ROW]
        print(
            f"quiz ({result.qualification} questions): failed {states[WorkerState.FAILED]}, "
            f"still qualifying {states[WorkerState.QUALIFYING]}, never got a task {states[NO_ROW]}, through it {through}"
        )
    else:
        print("quiz: none")
    golds = [o.gold for o in result.outcomes]
    loads = [o.answers for o in result.outcomes]
    print(f"answers per worker: median {statistics.median(loads):g}, max {max(loads)}")
    enough = sum(1 for g in golds if g >= MIN_GOLD)
    print(
        f"gold answers per worker: median {statistics.median(golds):g}, max {max(golds)}; "
        f"workers with at least {MIN_GOLD} (min_gold): {enough} of {len(golds)}"
    )
    print()
    print(
        f"{'kind':<15}{'workers':>8}{'no task':>8}{'removed':>9}{'held':>7}{'failed quiz':>13}{'stopped<=30':>13}"
        f"{'stopped at med/max':>20}{'answers med/max':>17}{'accepted':>10}"
    )
    for kind in (*SPAMMERS, SWITCHER, HONEST):
        figures = kind_figures(result, kind)
        if figures is not None:
            print(
                f"{kind:<15}{figures.workers:>8}{figures.no_task:>8}{figures.removed:>9.2f}{figures.held:>7.2f}"
                f"{figures.failed:>13.2f}{figures.early:>13.2f}{figures.stopped_at:>20}{figures.answers:>17}"
                f"{figures.accepted:>10.2f}"
            )
    honest = [o for o in result.outcomes if o.worker.kind == HONEST and o.state != NO_ROW]
    stopped_by_rules = [o for o in honest if o.state in (WorkerState.REMOVED, WorkerState.HELD)]
    if stopped_by_rules:
        print(
            "honest workers removed or held: "
            + ", ".join(f"{o.state} at accuracy {o.worker.accuracy:.3f}" for o in stopped_by_rules)
        )
    if result.qualification and honest:
        failed = [o.worker.accuracy for o in honest if o.state == WorkerState.FAILED]
        passed = [o.worker.accuracy for o in honest if o.state != WorkerState.FAILED]
        print(
            f"honest workers kept out by the quiz after every try: {len(failed)} of {len(honest)}, "
            f"accuracy mean {_mean(failed)} (those let in: {_mean(passed)})"
        )
    for kind, why in result.reasons.items():
        said = sorted(why.values(), key=len, reverse=True)
        print(
            f"stopped {kind}s: "
            + "; ".join(f"{len(given)} × {given[0]!r}" + (" …" if len(set(given)) > 1 else "") for given in said)
        )
    if result.lifted:
        print(
            "holds lifted at once (no quality control): "
            + ", ".join(f"{kind} {count}" for kind, count in result.lifted.most_common())
        )
    print()
    print("aggregation method (auto): " + ", ".join(f"{key} {method}" for key, method in result.methods.items()))
    print(
        f"work answers per non-gold product: {result.answers_per_product:.2f}; "
        f"products left with fewer accepted answers than {result.plan.min_overlap}: {result.short_products}"
    )
    print(f"label accuracy (non-gold products): {result.accuracy:.3f} ({per_question(result.accuracy_by_question)})")
    if result.unlabelled:
        print(f"products with a question left without a label: {result.unlabelled}")
    print(f"reference, this run's honest answers alone (spam dropped, not replaced): {result.honest_only_accuracy:.3f}")
    print(f"paid to workers: {formatting.money(result.paid_micros, CURRENCY)}")
    print(f"correct labels: {result.correct}; cost per correct label: {result.cost_per_label:.4f} {CURRENCY}")


SHORT = {RANDOM: "random", CONSTANT: "constant", FAST: "bot", COPIER: "copier"}


def report_summary(results: Sequence[RunResult]) -> None:
    """One line per type and run: accuracy, answers per product, spammers caught, honest workers
    stopped, cost per correct label, and each question's accuracy."""
    print("\n== summary ==")
    print(
        f"{'type':<14}{'run':<18}{'accuracy':>9}{'ans/prod':>9}"
        + "".join(f"{SHORT[kind]:>9}" for kind in SPAMMERS)
        + f"{'honest':>8}{'$/label':>9}  accuracy per question"
    )
    for result in results:
        cells = ""
        for kind in (*SPAMMERS, HONEST):
            figures = kind_figures(result, kind)
            width = 8 if kind == HONEST else 9
            if not result.plan.quality_control or figures is None or figures.no_task == figures.workers:
                cells += f"{'-':>{width}}"
            else:
                cells += f"{figures.removed + figures.held if kind == HONEST else figures.early:>{width}.2f}"
        questions = per_question(result.accuracy_by_question) if len(result.accuracy_by_question) > 1 else ""
        print(
            f"{result.type_name:<14}{result.plan.short:<18}{result.accuracy:>9.3f}{result.answers_per_product:>9.2f}"
            f"{cells}{result.cost_per_label:>9.4f}  {questions}".rstrip()
        )
    print(
        f"accuracy: mean over the type's questions; ans/prod: work answers per non-gold product; "
        f"{', '.join(SHORT.values())}: share of that spammer kind stopped within {TARGET_WITHIN} answers; "
        f"honest: share of honest workers removed or held; $/label: paid to workers per correct label ({CURRENCY})"
    )


def describe_setup(setup: Setup, seed: int) -> None:
    questions = ", ".join(f"{q.key} ({q.kind})" for q in setup.questions)
    print(f"\n{setup.scenario.name}: {questions}; {setup.scenario.summary}")
    settings = " ".join(f'{key}="{value}"' for key, value in setup.scenario.settings)
    if settings:
        print(f"  settings: {settings}")
    gold = sum(item.is_gold for item in setup.items)
    print(f"  products: {len(setup.items)}, gold {gold}")
    ceiling = honest_ceiling(setup, seed)
    if ceiling:
        print(
            f"  reference label accuracy, {OVERLAP} honest answers on every product (no spammers, in memory): "
            f"{statistics.mean(ceiling.values()):.3f} ({per_question(ceiling)})"
        )


def describe_crowd(seed: int, sizes: Sizes, top_up: bool) -> None:
    setup = build_setup("categorize", seed, sizes)
    kinds = Counter(w.kind for w in setup.crowd)
    print("crowd_sim: a simulated crowd labelling one batch of each task type through bot.work, three times")
    print(f"seed: {seed}")
    print(
        f"workers: {sizes.workers} ("
        + ", ".join(f"{kind} {kinds[kind]}" for kind in (HONEST, *SPAMMERS, SWITCHER) if kinds[kind])
        + ")"
    )
    print(
        f"products per batch: {sizes.items}, overlap {OVERLAP}, reward {formatting.money(REWARD_MICROS, CURRENCY)} an answer"
    )
    print(f"batch root: {BATCH_ROOT} ({len(setup.leaves.all)} leaves, leaf_only)")
    print(
        f"quality rules: min_gold {MIN_GOLD}, min_accuracy {MIN_ACCURACY}, "
        f"min_seconds a third of the crowd's median, max_share {MAX_SHARE}"
    )
    print(
        f"gold: qualification {QUALIFICATION} (quiz before the first paid task), pass_score {PASS_SCORE}, "
        f"gold_rate {GOLD_RATE} (hidden checks after it); without quality control no quiz, checks only grade"
    )
    honest = [w.accuracy for w in setup.crowd if w.kind == HONEST]
    if honest:
        print(
            f"honest accuracy per question: 0.60-0.95 uniform, this crowd's mean {statistics.mean(honest):.3f}; "
            f"{SIBLING_MISTAKE:.0%} of wrong categories a sibling leaf"
        )
    print(
        "seconds per question (category/button/typed): "
        + ", ".join(
            f"{kind} " + "/".join(f"{lo:g}-{hi:g}" for lo, hi in SECONDS[kind].values())
            for kind in (HONEST, RANDOM, FAST)
        )
        + " (constant answerers and copiers as random clickers, switchers as honest workers)"
    )
    print(
        "copier model: a ring sharing a notebook; the first member on a product's question answers at "
        "random, later members copy it"
    )
    print(
        "quiz budget: "
        + (
            f"the requester funds {QUIZ_TOP_UP} more quizzes whenever the bot says it is spent"
            if top_up
            else "as launched (plan_cost); once spent, no new worker and no retry gets a quiz"
        )
    )
    print(
        f"stopped = removed (gold rule), held (the hold rules) or failed the quiz on every try (a retry "
        f"comes {RETRY_ROUNDS} rounds after a failure); with quality control no admin reinstates anyone"
    )


def run_all(jobs_wanted: list[tuple[str, int, Sizes, Plan, bool]], processes: int) -> list[RunResult]:
    """Every run, in `processes` worker processes; results in the order asked."""
    if processes <= 1:
        return [run_job(job) for job in jobs_wanted]
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(run_job, jobs_wanted))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--type",
        nargs="+",
        choices=tuple(SCENARIOS),
        default=list(SCENARIOS),
        help="the task types to simulate (default: all five)",
    )
    parser.add_argument("--workers", type=int, help=f"default {DEFAULT['workers']} ({QUICK['workers']} with --quick)")
    parser.add_argument(
        "--items", type=int, help=f"products per batch; default {DEFAULT['items']} ({QUICK['items']} with --quick)"
    )
    parser.add_argument("--spammers", type=float, default=SPAM_SHARE, help="share of the crowd (default 0.3)")
    parser.add_argument(
        "--switchers",
        type=float,
        default=0.0,
        help="share of the crowd who answer right through the quiz, then at random (default 0)",
    )
    parser.add_argument("--gold", type=float, default=GOLD_SHARE, help="share of products with gold (default 0.1)")
    parser.add_argument("--quick", action="store_true", help="a smaller crowd and batch, for a first look")
    parser.add_argument(
        "--top-up-quizzes",
        action="store_true",
        help="the requester funds 10 more quizzes whenever the bot says the quiz budget is spent",
    )
    parser.add_argument("--jobs", type=int, default=JOBS, help=f"runs at once, in worker processes (default {JOBS})")
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else DEFAULT
    sizes = Sizes(
        args.workers or defaults["workers"], args.items or defaults["items"], args.spammers, args.gold, args.switchers
    )
    types = [name for name in SCENARIOS if name in args.type]

    started = time.perf_counter()
    describe_crowd(args.seed, sizes, args.top_up_quizzes)
    for name in types:
        describe_setup(build_setup(name, args.seed, sizes), args.seed)
    wanted = [(name, args.seed, sizes, plan, args.top_up_quizzes) for name in types for plan in PLANS]
    results = run_all(wanted, args.jobs)
    for result in results:
        report_run(result)
    report_summary(results)

    print()
    for name in types:
        checks = {
            check: ok for result in results if result.type_name == name for check, ok in checks_of(result).items()
        }
        missed = [check for check, ok in checks.items() if not ok]
        print(
            f"targets {name}: {len(checks) - len(missed)} of {len(checks)} met"
            + (f"; missed: {'; '.join(missed)}" if missed else "")
        )
    print(f"wall time: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
