"""How many answers per second one crowdshelf process takes, and how long a worker waits for the next product.

What runs: the real python-telegram-bot Application built by ``bot.app.build_application``, long polling
over loopback HTTP against the local Bot API server (``sandbox/telegram_server.py``, which the end-to-end tests use too),
on the default SQLite database (a fresh file in a temporary directory, migrated with
``storage.migrate.upgrade``, batches created and launched through ``bot.batches``).

The bot runs in a child process of its own; the fake server and the simulated workers run in this process.
So the bot has a CPU core to itself, as in production where Telegram is somewhere else, and the figures are
about the bot rather than about the fake serving it. The CPU use of both sides is printed: a Telegram side
near 100% would mean the harness, not the bot, set the pace.

Every simulated worker sends /work, then loops: press a leaf category on its current task message (the batch
root is a category whose children are all leaves, so one press is one answer), wait until the bot has edited
that message to the next product, press again. Latency is measured inside the fake server: from the callback
update being enqueued to the bot's editMessageText/sendMessage for that chat arriving.

Phases, in one run:

1. ``minimal``: a bare python-telegram-bot Application with the same update processor
   (``handlers.ordering.PerUserOrder``) and rate limiter, whose CallbackQueryHandler only answers the
   callback and edits the message text (and its one button) to something new: the ceiling of
   python-telegram-bot plus HTTP on this machine.
2. ``crowdshelf``: the real bot, same workers, same harness: answers/second over the measured window (after
   a warm-up), p50/p99 latency, the ratio crowdshelf/minimal, and where the bot's time goes per answer
   (CPU of the event-loop thread and of the other threads, i.e. the SQLite driver's; SQL statements; hand-offs to
   the driver's thread; HTTP requests). The ratio is also given by bot CPU per answer, which other work on
   the machine disturbs much less than the rates. Phases 1 and 2 alternate for ``--rounds`` rounds (default
   3): a shared machine's speed drifts by tens of percent within a minute, and back-to-back pairs keep
   that drift out of the ratio. The ratio of each round is printed, and the figures of all rounds together.
   With ``--floor``, each round also runs ``floor``: the minimal application that writes, before each
   edit, one transaction of single-row upserts through ``storage.db`` (6 statements with the COMMIT, the
   statement target). No bot on this stack that sends that many statements can beat it, so
   floor/minimal is the highest crowdshelf/minimal ratio any design with 6 statements an answer could reach.
3. ``pool``: next-task latency with a 1,000-item pool against a big pool (``--big``, default 1,000,000:
   1,000 products go through the domain code as a draft, the rest are bulk-inserted as copies of a stored
   item, then the draft is funded and launched, so the ledger reserves the cost of every item), and the
   query plan of the UPDATE that ``storage.assignments.claim_open_item`` sends. Runs go small, big, big,
   small (one of each with ``--quick``), each stopping after the same number of answers, well before a small
   pool runs dry; the bot CPU per answer of each size is printed too.
With ``--webhook`` every phase runs in webhook mode instead: the bot (and the bare application) serve
a webhook with Starlette on uvicorn as ``crowdshelf run`` does with WEBHOOK_URL set
(``handlers.webhook``), and the fake server posts each update to it (``setWebhook``, at most 100
connections) and counts it delivered once answered 200. crowdshelf takes each update in the database
before processing it and marks it done after (``bot.updates``), so its SQL figures include that.

4. With ``--profile N``: one more (slower, profiled) run of each application, printing where the event-loop
   thread spends its time by layer, and the top N functions of the bot. cProfile sees the event-loop thread
   only: the cost of handing work to the SQLite driver's thread (waiting for the GIL to come back) shows up as
   "other threads" CPU and in the hand-offs count, not in the profile.

The bot runs WITHOUT flood limits (a pass-through rate limiter): Telegram itself caps a bot at about 30
messages per second, and the target is 300 answers/s in one process (10x headroom), so the benchmark
measures the bot, not the cap.

Run it from the repository root::

    python benchmarks/answers.py                # defaults: 50 workers, 10 s windows, 1,000,000-item pool
    python benchmarks/answers.py --quick        # a smoke run: 10 workers, 1.5 s windows, 20,000-item big pool
    python benchmarks/answers.py --workers 100 --seconds 20 --big 200000
    python benchmarks/answers.py --profile 30   # also profile both applications
    python benchmarks/answers.py --webhook      # the same, the fake server posting to a webhook
    python benchmarks/answers.py --floor        # also the ceiling of any bot writing 6 statements an answer
    python benchmarks/answers.py --compare-sqlite-driver   # also the bot on SQLAlchemy's stock aiosqlite
    python benchmarks/answers.py --database postgresql --instances 2   # on TEST_DATABASE_URL; 2 instances too

With ``--instances N`` each round also runs N bot processes on the one database (each its own Application
and engine), the fake server handing each update to whichever instance asks first; it prints their bot CPU
per answer against one instance's and checks the database for duplicate claims afterwards.

Output is plain ``name: value`` lines. The exit status is non-zero only when something failed (the bot did
not start, a worker got an unexpected reply or none); targets are printed beside the figures, never enforced.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import cProfile
import hmac
import io
import itertools
import json
import logging
import multiprocessing
import os
import pstats
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import sqlalchemy  # noqa: E402
import telegram  # noqa: E402
from sqlalchemy import event, text, update  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import Response  # noqa: E402
from starlette.routing import Route  # noqa: E402
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update  # noqa: E402
from telegram.ext import (  # noqa: E402
    Application,
    ApplicationBuilder,
    BaseRateLimiter,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from benchmarks.two_processes import empty_database  # noqa: E402
from bot import taxonomies  # noqa: E402
from bot.batches import files as batch_files  # noqa: E402
from bot.batches import lifecycle as batches  # noqa: E402
from bot.money import ledger  # noqa: E402
from bot.wiring.app import allowed_updates, build_application, webhook_app  # noqa: E402
from bot.wiring.config import Settings  # noqa: E402
from bot.wiring.services import build_services  # noqa: E402
from handlers import webhook  # noqa: E402
from handlers.ordering import PerUserOrder  # noqa: E402
from handlers.running import polling, running  # noqa: E402
from sandbox.telegram_server import FakeTelegram, FakeUser  # noqa: E402
from storage import assignments, sqlite_driver  # noqa: E402
from storage import ledger as books  # noqa: E402
from storage.db import Database, connect  # noqa: E402
from storage.models import Batch, Item  # noqa: E402
from tests.factories import REQUESTER, products  # noqa: E402
from tests.statements import purpose as statement_purpose  # noqa: E402

log = logging.getLogger("benchmark")

TOKEN = "123456:BENCHMARK-TOKEN"
# Every child of this category is a leaf: one press on any of its buttons is one answer.
BATCH_ROOT = "Home & Garden > Kitchen & Dining > Cookware & Bakeware > Cookware"
REWARD_MICROS = 20_000
OVERLAP = 3
FIRST_WORKER_ID = 7_000_001
DOMAIN_LOADED = 1_000  # products that go through bot.batches; the rest of a bigger pool is bulk-inserted
BULK_CHUNK = 50_000
SMALL_POOL = 1_000
TARGET_RATE = 300.0
TARGET_RATIO = 0.7
TARGET_POOL_RATIO = 1.5
REPLY_TIMEOUT = 30.0
# Every wait on the bot is this many times longer: benchmarks/instructions.py runs it under valgrind, 50x slower.
PATIENCE = 1.0
# Called with the runners as the measured window opens (True) and closes (False): benchmarks/instructions.py
# counts the bot's instructions over the window alone.
WINDOW_OBSERVERS: list[Callable[[list[BotRunner], bool], Awaitable[None]]] = []
TARGET_INSTANCE_CPU_RATIO = 1.15
STATEMENTS_BY_PURPOSE = threading.Event()  # set by --statements: the bots count statements by purpose too
CROWDSHELF, STOCK_AIOSQLITE = "crowdshelf", "crowdshelf-aiosqlite"  # the bot with its own SQLite driver, or without
FLOOR = "floor"  # the minimal application writing FLOOR_STATEMENTS statements an answer (--floor)
FLOOR_STATEMENTS = 6  # the target for crowdshelf, COMMIT included
_floor_table = text("CREATE TABLE IF NOT EXISTS bench_floor (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)")
_floor_write = text(
    "INSERT INTO bench_floor (id, n) VALUES (:id, 1) ON CONFLICT (id) DO UPDATE SET n = bench_floor.n + 1"
)
WEBHOOK_SECRET = "benchmark-secret"
WEBHOOK_PATH = "/telegram"
WEBHOOK_CONNECTIONS = 100  # Telegram's most: each of the workers' updates can be under way at once
NEXT_TASK_METHODS = ("sendMessage", "sendPhoto", "editMessageText", "editMessageCaption", "editMessageMedia")


# --------------------------------------------------------------------------------------
# the bot side (a child process)
# --------------------------------------------------------------------------------------


class NoRateLimit(BaseRateLimiter):
    """Passes every request straight through: the benchmark measures the bot, not Telegram's cap."""

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def process_request(
        self,
        callback: Callable[..., Awaitable[Any]],
        args: Any,
        kwargs: dict,
        endpoint: str,
        data: dict,
        rate_limit_args: Any,
    ) -> Any:
        return await callback(*args, **kwargs)


@dataclass
class BotCounters:
    """What the bot process did; read at the start and at the end of a measured window."""

    sql: collections.Counter = field(default_factory=collections.Counter)
    purposes: collections.Counter = field(default_factory=collections.Counter)  # "KIND module:function"
    thread_calls: int = 0

    def snapshot(self) -> dict[str, Any]:
        return {
            "cpu": time.process_time(),
            "loop_cpu": time.thread_time(),  # read on the event-loop thread
            "wall": time.perf_counter(),
            "sql": dict(self.sql),
            "purposes": dict(self.purposes),
            "thread_calls": self.thread_calls,
        }


def _count_driver_calls(counters: BotCounters) -> None:
    """Count every hand-off to the SQLite driver's thread (a statement, a commit ...)."""
    original = sqlite_driver.Connection.run

    async def counted(self: Any, function: Any, *args: Any) -> Any:
        counters.thread_calls += 1
        return await original(self, function, *args)

    sqlite_driver.Connection.run = counted  # type: ignore[method-assign]


def _count_statements(db: Database, counters: BotCounters, by_purpose: bool) -> None:
    """Count statements by kind; `by_purpose` also by the project function that sent each (which costs a
    walk up the stack per statement, so only when asked)."""

    @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        kind = statement.lstrip().split(None, 1)[0].upper()
        counters.sql[kind] += 1
        if by_purpose:
            counters.purposes[f"{kind} {statement_purpose()}"] += 1

    @event.listens_for(db.engine.sync_engine, "commit")
    def _commit(conn: Any) -> None:
        counters.sql["COMMIT"] += 1
        if by_purpose:
            counters.purposes[f"COMMIT {statement_purpose()}"] += 1

    @event.listens_for(db.engine.sync_engine, "rollback")
    def _rollback(conn: Any) -> None:
        counters.sql["ROLLBACK"] += 1


def _crowdshelf_app(
    api_root: str, database_url: str, counters: BotCounters, hooked: bool, own_sqlite_driver: bool, by_purpose: bool
) -> tuple[Application, Database]:
    if own_sqlite_driver:
        _count_driver_calls(counters)
    settings = Settings(
        bot_token=TOKEN,
        telegram_api_url=api_root,
        database_url=database_url,
        webhook_url="https://bot.example.com/telegram" if hooked else "",
        webhook_secret=WEBHOOK_SECRET if hooked else "",
        _env_file=None,
    )
    db = connect(database_url, own_sqlite_driver=own_sqlite_driver)
    _count_statements(db, counters, by_purpose)
    return build_application(build_services(settings, db), rate_limiter=NoRateLimit()), db


def _floor_app(api_root: str, database_url: str, counters: BotCounters, hooked: bool) -> tuple[Application, Database]:
    """The minimal application that also writes, before each edit, one transaction of single-row upserts
    through storage.db (FLOOR_STATEMENTS statements with the COMMIT), brief as an answer's: what a bot on
    this stack costs with the statement target met and no logic, no rendering and no lock waits at all."""
    db = connect(database_url)
    _count_statements(db, counters, False)

    async def write(user_id: int) -> None:
        async with db.write(brief=True) as session:
            for row in range(FLOOR_STATEMENTS - 1):
                await session.execute(_floor_write, {"id": user_id * FLOOR_STATEMENTS + row})

    return _minimal_app(api_root, hooked, write), db


def _minimal_app(
    api_root: str, hooked: bool, before_edit: Callable[[int], Awaitable[None]] | None = None
) -> Application:
    """The ceiling: python-telegram-bot, HTTP, the same update processor and rate limiter, and nothing else
    (but `before_edit(user id)`, when given, before each edit)."""
    builder = ApplicationBuilder().updater(None) if hooked else ApplicationBuilder()
    application = (
        builder.token(TOKEN)
        .base_url(f"{api_root}/bot")
        .base_file_url(f"{api_root}/file/bot")
        .concurrent_updates(PerUserOrder())
        .rate_limiter(NoRateLimit())
        .build()
    )
    numbers = itertools.count(1)

    def keyboard(number: int) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup([[InlineKeyboardButton("pick", callback_data=f"p:{number}:1")]])

    async def on_work(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_text("task 0", reply_markup=keyboard(0))

    async def on_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        await query.answer()
        if before_edit is not None:
            await before_edit(query.from_user.id)
        number = next(numbers)
        await query.edit_message_text(f"task {number}", reply_markup=keyboard(number))

    application.add_handler(CommandHandler("work", on_work))
    application.add_handler(CallbackQueryHandler(on_press))
    return application


def _minimal_web(application: Application) -> Starlette:
    """The ceiling's webhook: the secret checked, the update processed, then acknowledged (as crowdshelf's,
    without taking the update in the database)."""
    secret = WEBHOOK_SECRET.encode()

    async def receive(request: Request) -> Response:
        if not hmac.compare_digest(request.headers.get(webhook.SECRET_HEADER, "").encode(), secret):
            return Response(status_code=403)
        update = Update.de_json(await request.json(), application.bot)
        await application.update_processor.process_update(update, application.process_update(update))
        return Response()

    return Starlette(routes=[Route(WEBHOOK_PATH, receive, methods=["POST"])])


def bot_process(
    kind: str, api_root: str, database_url: str, hooked: bool, connection: Any, by_purpose: bool = False
) -> None:
    """Entry point of the child process: run one bot until told to stop, answering the parent's requests."""
    logging.basicConfig(level=logging.WARNING, format=f"{kind} bot: %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(_serve_bot(kind, api_root, database_url, hooked, connection, by_purpose))
    except BaseException as error:  # tell the parent instead of leaving it waiting
        with contextlib.suppress(Exception):
            connection.send(("failed", repr(error)))
        raise


async def _serve_bot(
    kind: str, api_root: str, database_url: str, hooked: bool, connection: Any, by_purpose: bool
) -> None:
    counters = BotCounters()
    db: Database | None = None
    if kind in (CROWDSHELF, STOCK_AIOSQLITE):
        own_driver = kind == CROWDSHELF
        application, db = _crowdshelf_app(api_root, database_url, counters, hooked, own_driver, by_purpose)
    elif kind == FLOOR:
        application, db = _floor_app(api_root, database_url, counters, hooked)
        async with db.write() as session:
            await session.execute(_floor_table)
    else:
        application = _minimal_app(api_root, hooked)
    receiving: contextlib.AbstractAsyncContextManager[int | None]
    if hooked:
        web = webhook_app(application) if kind == "crowdshelf" else _minimal_web(application)
        receiving = webhook.serving(web, "127.0.0.1", 0)
    else:
        receiving = polling(application, allowed_updates(), timeout=1)
    async with running(application, receiving) as port:
        connection.send(("ready", port))
        await _obey(connection, counters)
        # Stopping cancels a long poll in flight; the Updater then logs a harmless "pool timeout" on its way out.
        logging.getLogger("telegram.ext.Updater").setLevel(logging.CRITICAL + 1)
    if db is not None:
        await db.dispose()
    connection.send(("stopped", None))


async def _obey(connection: Any, counters: BotCounters) -> None:
    """Answer the parent's requests until it says stop."""
    loop = asyncio.get_running_loop()
    profiler: cProfile.Profile | None = None
    while True:
        command, argument = await loop.run_in_executor(None, connection.recv)
        if command == "snapshot":
            connection.send(("snapshot", counters.snapshot()))
        elif command == "profile-start":
            profiler = cProfile.Profile()
            profiler.enable()
            connection.send(("ok", None))
        elif command == "profile-stop":
            report: dict[str, Any] = {}
            if profiler is not None:
                profiler.disable()
                report = _profile_report(profiler, int(argument))
                profiler = None
            connection.send(("profile", report))
        elif command == "stop":
            break


# Where a function's own time goes, by the file it lives in (first match wins).
IDLE = "idle (waiting in epoll for I/O)"
LAYERS = (
    (IDLE, ("select.epoll' objects>",)),
    ("python-telegram-bot", ("/telegram/",)),
    ("HTTP client (httpx, httpcore, anyio, h11)", ("/httpx/", "/httpcore/", "/anyio/", "/h11/", "/sniffio/")),
    ("failed imports (module lookups on the file system)", ("<frozen importlib",)),
    ("SQLAlchemy (+ greenlet bridge)", ("/sqlalchemy/", "/greenlet/", "greenlet.greenlet")),
    (
        "SQLite driver hand-offs (executor, futures)",
        ("/storage/sqlite_driver.py", "/concurrent/futures/", "_queue.SimpleQueue", "/queue.py", "/threading.py"),
    ),
    ("asyncio event loop", ("/asyncio/", "/selectors.py", "select.epoll", "_asyncio.")),
    ("crowdshelf code", (f"{ROOT}/bot/", f"{ROOT}/handlers/", f"{ROOT}/storage/", f"{ROOT}/taxonomy/")),
    ("this benchmark's hooks", (f"{ROOT}/benchmarks/",)),
)


def _layer(key: tuple[str, int, str]) -> str | None:
    filename, _, name = key
    where = f"{filename}:{name}"
    for layer, marks in LAYERS:
        if any(mark in where for mark in marks):
            return layer
    return None


def _profile_report(profiler: cProfile.Profile, top: int) -> dict[str, Any]:
    """Own time by layer (a built-in's time goes to its callers' layers) and the top functions."""
    stats = pstats.Stats(profiler)
    raw = stats.stats  # type: ignore[attr-defined]
    layers: collections.Counter = collections.Counter()
    for key, (_, _, own, _, callers) in raw.items():
        layer = _layer(key)
        if layer is None and key[0] == "~" and callers:
            edge_time = sum(edge[2] for edge in callers.values()) or 1.0
            for caller, edge in callers.items():
                layers[_layer(caller) or "other (stdlib: json, re, ssl, ...)"] += own * edge[2] / edge_time
            continue
        layers[layer or "other (stdlib: json, re, ssl, ...)"] += own
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    busy = sum(seconds for layer, seconds in layers.items() if layer != IDLE)
    return {"layers": dict(layers), "total": busy, "text": out.getvalue()}


class BotRunner:
    """The parent's handle on a bot child process."""

    def __init__(self, kind: str, api_root: str, database_url: str = "", hooked: bool = False) -> None:
        context = multiprocessing.get_context("spawn")
        self._connection, child_end = context.Pipe()
        self.process = context.Process(
            target=bot_process,
            args=(kind, api_root, database_url, hooked, child_end, STATEMENTS_BY_PURPOSE.is_set()),
            name=f"bot-{kind}",
            daemon=True,
        )
        self.kind = kind
        self.failed = False

    async def _ask(self, command: str, argument: Any = None, timeout: float = 60) -> Any:
        loop = asyncio.get_running_loop()
        try:
            if command:
                self._connection.send((command, argument))
            ready = await loop.run_in_executor(None, self._connection.poll, timeout * PATIENCE)
            if not ready:
                raise RuntimeError(
                    f"the {self.kind} bot did not answer {command or 'start'!r} within {timeout * PATIENCE:.0f}s"
                )
            reply, value = self._connection.recv()
        except (EOFError, OSError):
            self.failed = True
            raise RuntimeError(f"the {self.kind} bot process ended (exit code {self.process.exitcode})") from None
        if reply == "failed":
            self.failed = True
            raise RuntimeError(f"the {self.kind} bot failed: {value}")
        return value

    async def start(self) -> int | None:
        """Start the bot; in webhook mode, the port its web server listens on."""
        self.process.start()
        return await self._ask("", timeout=120)

    async def snapshot(self) -> dict[str, Any]:
        return await self._ask("snapshot")

    async def profile_start(self) -> None:
        await self._ask("profile-start")

    async def profile_stop(self, top: int) -> dict[str, Any]:
        return await self._ask("profile-stop", top)

    async def stop(self) -> None:
        try:
            if self.process.is_alive() and not self.failed:
                await self._ask("stop", timeout=30)
        finally:
            if self.process.pid is not None:
                await asyncio.get_running_loop().run_in_executor(None, self.process.join, 10 * PATIENCE)
                if self.process.is_alive():
                    self.process.kill()
                    self.process.join()


# --------------------------------------------------------------------------------------
# the Telegram side: the fake server with a stopwatch, and the simulated workers
# --------------------------------------------------------------------------------------


class _RecentCalls(list):
    """The fake's request log, kept short (a long run would otherwise keep every request in memory)."""

    def __init__(self, owner: TimedTelegram) -> None:
        super().__init__()
        self._owner = owner

    def append(self, call: Any) -> None:
        self._owner._counted(call)
        super().append(call)
        if len(self) > 2_000:
            del self[:1_000]


# Each run's fake server starts its update ids past the previous run's, as Telegram's grow for one bot: in
# webhook mode the bot remembers the ids it processed (in the pool's database, which runs share).
FIRST_UPDATE_IDS = itertools.count(100_000_001, 10_000_000)


class TimedTelegram(FakeTelegram):
    """The fake Bot API server, timing each press until the next task arrives for that chat."""

    def __init__(self) -> None:
        super().__init__(token=TOKEN, first_update_id=next(FIRST_UPDATE_IDS))
        self.requests = _RecentCalls(self)
        self.recording = False
        self.latencies: list[float] = []
        self.answers = 0
        self.methods: collections.Counter = collections.Counter()
        self.failed_calls: collections.Counter = collections.Counter()
        self._pressed_at: dict[int, float] = {}
        self._waiting: dict[int, asyncio.Future] = {}
        for method in NEXT_TASK_METHODS:
            self._handlers[method] = self._timed(self._handlers[method])
        self._handlers["answerCallbackQuery"] = self._forgetting(self._handlers["answerCallbackQuery"])

    def expect(self, chat_id: int) -> asyncio.Future:
        """A future resolved when the bot next sends or edits a message in this chat."""
        future = asyncio.get_running_loop().create_future()
        self._waiting[chat_id] = future
        return future

    def enqueue(self, update: dict) -> dict:
        if "callback_query" in update:
            self._pressed_at[update["callback_query"]["from"]["id"]] = time.perf_counter()
        return super().enqueue(update)

    def _timed(self, handler: Callable[[dict, dict], Any]) -> Callable[[dict, dict], Any]:
        def timed(params: dict, files: dict) -> Any:
            arrived = time.perf_counter()
            result = handler(params, files)
            chat_id = int(params["chat_id"])
            user = self._users.get(chat_id)
            if user is not None and isinstance(result, dict):
                message = user._by_id.get(result.get("message_id"))
                if message is not None:
                    message.history.clear()  # the fake keeps every earlier version; nobody reads them here
            pressed = self._pressed_at.pop(chat_id, None)
            if pressed is not None and self.recording:
                self.latencies.append(arrived - pressed)
                self.answers += 1
            waiting = self._waiting.pop(chat_id, None)
            if waiting is not None and not waiting.done():
                waiting.set_result(None)
            return result

        return timed

    def _forgetting(self, handler: Callable[[dict, dict], Any]) -> Callable[[dict, dict], Any]:
        def forgetting(params: dict, files: dict) -> Any:
            result = handler(params, files)
            self.callback_queries.pop(params["callback_query_id"], None)  # answered: nobody needs it again
            return result

        return forgetting

    def _counted(self, call: Any) -> None:
        if self.recording:
            self.methods[call.method] += 1
            if not call.ok:
                self.failed_calls[f"{call.method}: {call.description}"] += 1

    async def drain(self, timeout: float = 10) -> None:
        """Wait until the bot has fetched what is queued and finished its requests (before stopping it)."""
        deadline = time.perf_counter() + timeout
        while (self.pending_updates or self.inflight) and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)

    def start_recording(self) -> None:
        self.latencies = []
        self.answers = 0
        self.methods.clear()
        self.failed_calls.clear()
        self.recording = True

    def stop_recording(self) -> None:
        self.recording = False


class SpreadingTelegram(TimedTelegram):
    """The fake server in front of several bot instances: each update goes to exactly one of their
    concurrent getUpdates calls (handed out once, whoever asks first), as a load balancer would spread
    webhook requests. The real server allows one poller; this is the benchmark's stand-in for that."""

    def __init__(self) -> None:
        super().__init__()
        self._arrived = asyncio.Event()

    def enqueue(self, update: dict) -> dict:
        queued = super().enqueue(update)
        self._arrived.set()
        return queued

    async def _get_updates(self, p: dict) -> list[dict]:
        limit = min(max(p.get("limit", 100), 1), 100)
        deadline = time.perf_counter() + max(p.get("timeout", 0), 0)
        while True:
            handed = self._updates[:limit]
            if handed or self._closing or time.perf_counter() >= deadline:
                del self._updates[: len(handed)]
                return handed
            arrived = self._arrived = asyncio.Event() if self._arrived.is_set() else self._arrived
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(arrived.wait(), max(deadline - time.perf_counter(), 0))


@dataclass
class Crew:
    """The simulated workers, and what went wrong for them."""

    telegram: TimedTelegram
    size: int
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    unexpected: collections.Counter = field(default_factory=collections.Counter)
    tasks: list[asyncio.Task] = field(default_factory=list)
    started: int = 0

    def launch(self) -> None:
        for n in range(self.size):
            user = self.telegram.user(FIRST_WORKER_ID + n, f"Worker{n}")
            self.tasks.append(asyncio.create_task(self._work(user)))

    async def _work(self, user: FakeUser) -> None:
        try:
            arrived = self.telegram.expect(user.chat_id)
            await user.send("/work")
            await asyncio.wait_for(arrived, REPLY_TIMEOUT * PATIENCE)
            self.started += 1
            while not self.stop.is_set():
                message = user.last
                data = next((d for row in message.callback_data for d in row if d and d.startswith("p:")), None)
                if data is None:
                    self.unexpected[f"no category to pick in: {message.body[:100]!r}"] += 1
                    return
                arrived = self.telegram.expect(user.chat_id)
                await user.press_data(data, message.message_id)
                await asyncio.wait_for(arrived, REPLY_TIMEOUT * PATIENCE)
        except TimeoutError:
            self.unexpected[f"no reply within {REPLY_TIMEOUT * PATIENCE:.0f}s"] += 1

    async def wait_started(self, timeout: float = 120) -> None:
        deadline = time.perf_counter() + timeout
        while self.started + sum(self.unexpected.values()) < self.size:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"only {self.started} of {self.size} workers got a first task")
            await asyncio.sleep(0.01)

    @property
    def active(self) -> int:
        return sum(1 for task in self.tasks if not task.done())

    async def halt(self) -> None:
        self.stop.set()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


# --------------------------------------------------------------------------------------
# one measured run
# --------------------------------------------------------------------------------------


@dataclass
class RunResult:
    name: str
    answers: int
    seconds: float
    latencies: list[float]
    bot: dict[str, Any]
    telegram_cpu: float
    methods: dict[str, int]
    failed_calls: dict[str, int]
    unexpected: dict[str, int]
    profile: dict[str, Any] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)  # duplicate claims found afterwards (several instances)

    @property
    def rate(self) -> float:
        return self.answers / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000

    def per_answer(self, value: float) -> float:
        return value / self.answers if self.answers else float("nan")

    @property
    def problems(self) -> dict[str, int]:
        return {**self.failed_calls, **self.unexpected}


async def measure(
    name: str,
    kind: str,
    database_url: str,
    workers: int,
    warmup: float,
    window: float,
    max_answers: int | None = None,
    profile_top: int = 0,
    hooked: bool = False,
    instances: int = 1,
) -> RunResult:
    """Start a fresh fake server and bot (`instances` of it, on one database), let `workers` label, and
    measure one window after the warm-up."""
    telegram = SpreadingTelegram() if instances > 1 else TimedTelegram()
    await telegram.start()
    runners = [BotRunner(kind, telegram.base_url.removesuffix("/bot"), database_url, hooked) for _ in range(instances)]
    runner = runners[0]
    crew = Crew(telegram, workers)
    profile: dict[str, Any] = {}
    try:
        port = (await asyncio.gather(*(each.start() for each in runners)))[0]
        if port is not None:  # webhook mode, with one instance (see parse_args)
            await set_webhook(telegram, f"http://127.0.0.1:{port}{WEBHOOK_PATH}")
        crew.launch()
        await crew.wait_started(120 * PATIENCE)
        await asyncio.sleep(warmup)
        if profile_top:
            await runner.profile_start()
        before = await _snapshot(runners)
        for observe in WINDOW_OBSERVERS:
            await observe(runners, True)
        telegram_cpu = time.process_time()
        telegram.start_recording()
        started = time.perf_counter()
        deadline = started + window
        while time.perf_counter() < deadline and crew.active:
            if max_answers is not None and telegram.answers >= max_answers:
                break
            await asyncio.sleep(0.02)
        telegram.stop_recording()
        elapsed = time.perf_counter() - started
        telegram_cpu = time.process_time() - telegram_cpu
        for observe in WINDOW_OBSERVERS:
            await observe(runners, False)
        after = await _snapshot(runners)
        if profile_top:
            profile = await runner.profile_stop(profile_top)
    finally:
        await crew.halt()
        try:
            await telegram.drain(10 * PATIENCE)
            await asyncio.gather(*(each.stop() for each in runners))
        finally:
            await telegram.stop()
    bot = {
        "cpu": after["cpu"] - before["cpu"],
        "loop_cpu": after["loop_cpu"] - before["loop_cpu"],
        "wall": after["wall"] - before["wall"],
        "thread_calls": after["thread_calls"] - before["thread_calls"],
        "sql": {verb: after["sql"].get(verb, 0) - before["sql"].get(verb, 0) for verb in after["sql"]},
        "purposes": {key: n - before["purposes"].get(key, 0) for key, n in after["purposes"].items()},
    }
    return RunResult(
        name=name,
        answers=telegram.answers,
        seconds=elapsed,
        latencies=telegram.latencies,
        bot=bot,
        telegram_cpu=telegram_cpu / elapsed if elapsed else 0.0,
        methods=dict(telegram.methods),
        failed_calls=dict(telegram.failed_calls),
        unexpected=dict(crew.unexpected),
        profile=profile,
    )


async def _snapshot(runners: list[BotRunner]) -> dict[str, Any]:
    """The counters of every instance added up (wall time: the first instance's)."""
    snapshots = [await runner.snapshot() for runner in runners]
    total = {key: sum(each[key] for each in snapshots) for key in ("cpu", "loop_cpu", "thread_calls")}
    total["wall"] = snapshots[0]["wall"]
    for key in ("sql", "purposes"):
        total[key] = dict(sum((collections.Counter(each[key]) for each in snapshots), collections.Counter()))
    return total


async def set_webhook(telegram: TimedTelegram, url: str) -> None:
    """What `crowdshelf webhook set` does at deploy: the fake server posts updates to `url` from now on."""
    parameters = {
        "url": url,
        "secret_token": WEBHOOK_SECRET,
        "max_connections": WEBHOOK_CONNECTIONS,
        "allowed_updates": allowed_updates(),
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{telegram.base_url}{TOKEN}/setWebhook", json=parameters) as response,
    ):
        if response.status != 200:
            raise RuntimeError(f"setWebhook failed: {await response.text()}")


def combine(name: str, runs: list[RunResult]) -> RunResult:
    """Several runs of the same kind as one: answers, time, latencies and bot counters added up."""
    bot: dict[str, Any] = {
        key: sum(run.bot[key] for run in runs) for key in ("cpu", "loop_cpu", "wall", "thread_calls")
    }
    for key in ("sql", "purposes"):
        bot[key] = dict(sum((collections.Counter(run.bot[key]) for run in runs), collections.Counter()))
    return RunResult(
        name=name,
        answers=sum(run.answers for run in runs),
        seconds=sum(run.seconds for run in runs),
        latencies=[latency for run in runs for latency in run.latencies],
        bot=bot,
        telegram_cpu=sum(run.telegram_cpu for run in runs) / len(runs),
        methods=dict(sum((collections.Counter(run.methods) for run in runs), collections.Counter())),
        failed_calls=dict(sum((collections.Counter(run.failed_calls) for run in runs), collections.Counter())),
        unexpected=dict(sum((collections.Counter(run.unexpected) for run in runs), collections.Counter())),
    )


# --------------------------------------------------------------------------------------
# databases
# --------------------------------------------------------------------------------------


@dataclass
class Pool:
    url: str
    path: Path | None  # the SQLite file; None on PostgreSQL
    items: int
    batch_id: int
    load_seconds: float

    def remove(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


async def make_pool(directory: Path, name: str, items: int, postgresql_url: str = "") -> Pool:
    """A migrated database with one funded, launched batch of `items` products under BATCH_ROOT: a new
    SQLite file, or the PostgreSQL database at `postgresql_url` emptied first (its schema dropped).

    Up to DOMAIN_LOADED products go through the domain code as a draft; the rest are bulk-inserted into that
    draft as copies of a stored item; then the draft is funded and launched like any other, so the ledger
    reserves reward x overlap x every item and stays consistent.
    """
    started = time.perf_counter()
    path = None if postgresql_url else directory / f"{name}.db"
    url = postgresql_url or f"sqlite+aiosqlite:///{path}"
    await empty_database(url)
    settings = Settings(bot_token=TOKEN, database_url=url, _env_file=None)
    loaded = min(items, DOMAIN_LOADED)
    db = connect(url)
    try:
        services = build_services(settings, db)
        taxonomy_id = await taxonomies.ensure_default(db)
        tree = (await services.taxonomies.get(taxonomy_id)).tree
        root = tree.find(BATCH_ROOT)
        if root is None or not all(tree.is_leaf(child.id) for child in tree.children(root.id)):
            raise RuntimeError(f"{BATCH_ROOT!r} must be a category whose children are all leaves")
        spec = batches.BatchSpec(
            name=f"Benchmark {name}",
            task_type="categorize",
            reward_micros=REWARD_MICROS,
            overlap=OVERLAP,
            root=BATCH_ROOT,
            max_share=1.0,  # simulated workers may answer as much as they like
            # They also press the moment a card shows, as the speed rule is there to catch: 0 turns it off.
            min_seconds=0,
        )
        rows = batch_files.read_rows("\n".join(json.dumps(row) for row in products(loaded)).encode(), "batch.jsonl")
        async with db.write() as session:
            batches.check_spec(spec, tree)
            batch_id = (await batches.create_draft(session, REQUESTER, taxonomy_id, tree, spec, rows, "benchmark")).id
    finally:
        await db.dispose()
    if items > loaded and path is not None:
        await asyncio.to_thread(_bulk_items, path, batch_id, loaded, items - loaded)
    elif items > loaded:
        await _bulk_items_postgresql(url, batch_id, loaded, items - loaded)
    db = connect(url)
    try:
        async with db.write() as session:
            await session.execute(update(Batch).where(Batch.id == batch_id).values(item_count=items))
            cost = await batches.cost_of(session, await session.get(Batch, batch_id))
            await ledger.fund_requester(
                session, f"batch:{batch_id}:fund", REQUESTER, cost.total, f"benchmark batch {batch_id}"
            )
            await batches.launch(session, batch_id, REQUESTER, settings.currency, services.clock.now())
        await db.analyze()  # PostgreSQL's statistics of the launched pool, as a launch through the bot gathers them
        async with db.read() as session:
            problems = await books.inconsistencies(session)
    finally:
        await db.dispose()
    if problems:
        raise RuntimeError("the ledger is inconsistent after loading: " + "; ".join(problems[:5]))
    return Pool(url, path, items, batch_id, time.perf_counter() - started)


async def _bulk_items_postgresql(url: str, batch_id: int, after: int, count: int) -> None:
    """`_bulk_items` on PostgreSQL: copies of the batch's first item, made by one INSERT … SELECT."""
    varying = {
        "external_id": "'bulk-' || lpad(n::text, 7, '0')",
        "title": "'Product ' || n",
        "description": "'Description of product ' || n",
    }
    columns = [column.name for column in Item.__table__.columns if column.name != "id"]
    values = ", ".join(varying.get(name, f"t.{name}") for name in columns)
    statement = (
        f"INSERT INTO items ({', '.join(columns)}) SELECT {values} FROM items t, generate_series(CAST(:first AS INTEGER), CAST(:last AS INTEGER)) n "
        "WHERE t.id = (SELECT min(id) FROM items WHERE batch_id = :batch)"
    )
    db = connect(url)
    try:
        async with db.engine.begin() as connection:
            await connection.execute(text(statement), {"first": after + 1, "last": after + count, "batch": batch_id})
    finally:
        await db.dispose()


def _bulk_items(path: Path, batch_id: int, after: int, count: int) -> None:
    """Copy the batch's first item, as the domain code stored it, `count` times with new ids and titles.

    Copying a stored row keeps every column of the current schema, with the values the domain code gives them.
    """
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(items)") if row[1] != "id"]
        template = connection.execute(
            f"SELECT {', '.join(columns)} FROM items WHERE batch_id = ? ORDER BY id LIMIT 1", (batch_id,)
        ).fetchone()
        if template is None:
            raise RuntimeError("the batch has no item to copy")
        varying: dict[str, Callable[[int], str]] = {
            "external_id": lambda n: f"bulk-{n:07d}",
            "title": lambda n: f"Product {n}",
            "description": lambda n: f"Description of product {n}",
        }
        makers = [(varying.get(name), value) for name, value in zip(columns, template, strict=True)]
        statement = f"INSERT INTO items ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
        connection.execute("BEGIN IMMEDIATE")
        for start in range(after + 1, after + count + 1, BULK_CHUNK):
            stop = min(start + BULK_CHUNK, after + count + 1)
            connection.executemany(
                statement, ([make(n) if make else value for make, value in makers] for n in range(start, stop))
            )
        connection.execute("COMMIT")
    finally:
        connection.close()


async def claim_query_plan(pool: Pool) -> list[str]:
    """EXPLAIN QUERY PLAN of the UPDATE that storage.assignments.claim_open_item really sends (then rolled back)."""
    db = connect(pool.url)
    captured: list[tuple[str, Any]] = []

    @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
    def _capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("UPDATE ITEMS"):
            captured.append((statement, parameters))

    try:
        async with db.sessions() as session:
            await assignments.claim_open_item(session, REQUESTER)
            await session.rollback()
    finally:
        await db.dispose()
    if not captured:
        raise RuntimeError("claim_open_item sent no UPDATE on items")
    statement, parameters = captured[0]
    if pool.path is None:
        return [" ".join(statement.split()), *await _postgresql_plan(pool.url, statement, parameters)]
    connection = sqlite3.connect(pool.path)
    try:
        rows = connection.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
    finally:
        connection.close()
    depth = {0: -1}
    lines = []
    for node, parent, _, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node] + detail)
    return [" ".join(statement.split()), *lines]


async def _postgresql_plan(url: str, statement: str, parameters: Any) -> list[str]:
    db = connect(url)
    try:
        async with db.engine.connect() as connection:
            rows = await connection.exec_driver_sql("EXPLAIN " + statement, parameters)
            return [row[0] for row in rows]
    finally:
        await db.dispose()


async def duplicate_claims(url: str) -> list[str]:
    """What several instances must never do: an item over its overlap, a worker given an item twice, or
    holding two reservations at once."""
    checks = {
        "items over their overlap": "SELECT count(*) FROM items i JOIN batches b ON b.id = i.batch_id WHERE "
        "(SELECT count(*) FROM assignments a WHERE a.item_id = i.id AND a.status IN ('reserved', 'answered') "
        "AND NOT a.is_gold) > b.overlap",
        "items given twice to one worker": "SELECT count(*) FROM (SELECT item_id, worker_id FROM assignments "
        "GROUP BY item_id, worker_id HAVING count(*) > 1) twice",
        "workers holding two reservations": "SELECT count(*) FROM (SELECT worker_id FROM assignments "
        "WHERE status = 'reserved' GROUP BY worker_id HAVING count(*) > 1) two",
    }
    db = connect(url)
    try:
        async with db.read() as session:
            found = {name: (await session.execute(text(sql))).scalar_one() for name, sql in checks.items()}
    finally:
        await db.dispose()
    return [f"{count} {name}" for name, count in found.items() if count]


# --------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------


def say(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def report_run(run: RunResult) -> None:
    p = run.name
    bot = run.bot
    say(f"{p} answers", f"{run.answers} in {run.seconds:.1f} s")
    say(f"{p} answers/s", f"{run.rate:.1f}")
    say(f"{p} latency p50 ms", f"{run.percentile(0.50):.1f}")
    say(f"{p} latency p99 ms", f"{run.percentile(0.99):.1f}")
    other = bot["cpu"] - bot["loop_cpu"]
    say(
        f"{p} bot CPU ms/answer",
        f"{run.per_answer(bot['cpu'] * 1000):.2f} (event-loop thread {run.per_answer(bot['loop_cpu'] * 1000):.2f}, "
        f"other threads {run.per_answer(other * 1000):.2f})",
    )
    say(f"{p} bot process CPU %", f"{100 * bot['cpu'] / bot['wall']:.0f}" if bot["wall"] else "n/a")
    say(f"{p} telegram side CPU %", f"{100 * run.telegram_cpu:.0f}")
    requests = ", ".join(f"{method} {run.per_answer(count):.2f}" for method, count in sorted(run.methods.items()))
    say(f"{p} HTTP requests/answer", requests or "none")
    if bot["sql"]:
        total = sum(bot["sql"].values())
        detail = ", ".join(f"{verb} {run.per_answer(count):.2f}" for verb, count in sorted(bot["sql"].items()) if count)
        say(f"{p} SQL statements/answer", f"{run.per_answer(total):.2f} ({detail})")
        for purpose, count in sorted(bot["purposes"].items(), key=lambda pair: -pair[1]):
            if count:
                say(f"{p} SQL statements/answer by purpose", f"{run.per_answer(count):.2f} {purpose}")
        if bot["thread_calls"]:  # counted on the SQLite driver of the project only
            say(f"{p} SQLite driver thread hand-offs/answer", f"{run.per_answer(bot['thread_calls']):.2f}")
    for problem, count in run.problems.items():
        say(f"{p} PROBLEM", f"{count}x {problem}")
    if run.telegram_cpu > 0.9:
        say(f"{p} note", "the fake server's process was saturated: this figure is bounded by the harness")


def report_profile(run: RunResult) -> None:
    profile = run.profile
    if not profile or not run.answers:
        return
    total = profile["total"] or 1.0
    say(f"{run.name} profiled answers/s", f"{run.rate:.1f} (cProfile slows everything down)")
    for layer, seconds in sorted(profile["layers"].items(), key=lambda pair: -pair[1]):
        if layer == IDLE:
            continue
        say(
            f"{run.name} event-loop time: {layer}",
            f"{100 * seconds / total:.0f}% ({run.per_answer(seconds * 1000):.2f} ms/answer)",
        )


async def main_async(args: argparse.Namespace) -> int:
    warmup = 0.5 if args.quick else 3.0
    throughput_items = 3_000 if args.quick else 20_000
    postgresql = args.postgresql_url
    say("benchmark", "crowdshelf answers: the real Application over loopback HTTP against the fake Bot API server")
    database = "PostgreSQL (the database given, emptied first)" if postgresql else "SQLite (WAL)"
    say("setup", f"the bot in a process of its own; the fake server and the simulated workers in another; {database}")
    hooked = args.webhook
    say(
        "updates",
        "by webhook: the fake server posts each to the bot's web server (Starlette on uvicorn), acknowledged once processed"
        if hooked
        else "by long polling (getUpdates)",
    )
    say(
        "rate limiter",
        "none (pass-through): Telegram caps a bot at ~30 messages/s; the target of 300 answers/s on one "
        "process is 10x that, so this measures the bot, not the cap",
    )
    say(
        "machine",
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, python-telegram-bot {telegram.__version__}, "
        f"SQLAlchemy {sqlalchemy.__version__}, SQLite {sqlite3.sqlite_version}",
    )
    loads = " ".join(f"{load:.2f}" for load in os.getloadavg())
    say("load average at start", f"{loads} (other work on the machine skews the rates; the CPU ratios much less)")
    say("workers", f"{args.workers} (closed loop: press, wait for the next task, press again)")
    say("warm-up s", warmup)
    say("measured window s", args.seconds)
    failed = False
    with tempfile.TemporaryDirectory(prefix="crowdshelf-bench-") as scratch:
        directory = Path(scratch)

        # 1 + 2: the ceiling, then the bot, on the same harness; in alternating rounds, because this
        # machine's speed drifts by tens of percent over a minute and a ratio must not read the drift.
        minimal_runs, our_runs, stock_runs, spread_runs, floor_runs = [], [], [], [], []
        floor_url = postgresql or f"sqlite+aiosqlite:///{directory / 'floor.db'}"

        async def on_fresh_pool(name: str, kind: str, instances: int = 1) -> RunResult:
            # Each run labels a pool of its own: one that earlier runs used up would slow the later ones.
            pool = await make_pool(directory, "throughput", throughput_items, postgresql)
            try:
                run = await measure(
                    name, kind, pool.url, args.workers, warmup, args.seconds, None, 0, hooked, instances
                )
                if instances > 1:
                    run.duplicates = await duplicate_claims(pool.url)
                return run
            finally:
                pool.remove()

        for _ in range(args.rounds):
            minimal_runs.append(
                await measure("minimal", "minimal", "", args.workers, warmup, args.seconds, hooked=hooked)
            )
            our_runs.append(await on_fresh_pool(CROWDSHELF, CROWDSHELF))
            if args.floor:
                floor_runs.append(
                    await measure(FLOOR, FLOOR, floor_url, args.workers, warmup, args.seconds, hooked=hooked)
                )
            if args.compare_sqlite_driver:
                stock_runs.append(await on_fresh_pool(STOCK_AIOSQLITE, STOCK_AIOSQLITE))
            if args.instances > 1:
                spread_runs.append(await on_fresh_pool(f"crowdshelf x{args.instances}", CROWDSHELF, args.instances))
        minimal, ours = combine("minimal", minimal_runs), combine(CROWDSHELF, our_runs)
        say("rounds", f"{args.rounds} (minimal, then crowdshelf, each round; figures below add the rounds up)")
        report_run(minimal)
        say("crowdshelf pool items", f"{throughput_items} (a new pool for each run)")
        report_run(ours)
        by_round = [o.rate / m.rate for m, o in zip(minimal_runs, our_runs, strict=True) if m.rate]
        say("ratio crowdshelf/minimal by round", ", ".join(f"{r:.2f}" for r in by_round))
        cpu_by_round = [
            (m.per_answer(m.bot["cpu"]), o.per_answer(o.bot["cpu"]))
            for m, o in zip(minimal_runs, our_runs, strict=True)
        ]
        say(
            "bot CPU ms/answer by round (minimal/crowdshelf)",
            ", ".join(f"{m * 1000:.2f}/{o * 1000:.2f}" for m, o in cpu_by_round),
        )
        say(
            "ratio crowdshelf/minimal by bot CPU per answer, median of the rounds",
            f"{statistics.median([m / o for m, o in cpu_by_round]):.2f} (a round whose run the machine slowed moves it least)",
        )
        ratio = ours.rate / minimal.rate if minimal.rate else float("nan")
        say("ratio crowdshelf/minimal", f"{ratio:.2f} (target >= {TARGET_RATIO}: {verdict(ratio >= TARGET_RATIO)})")
        say(
            "crowdshelf answers/s vs target",
            f"{ours.rate:.1f} (target >= {TARGET_RATE:.0f}: {verdict(ours.rate >= TARGET_RATE)}; "
            f"the minimal application's ceiling here is {minimal.rate:.1f})",
        )
        cpu_ratio = minimal.per_answer(minimal.bot["cpu"]) / ours.per_answer(ours.bot["cpu"])
        say(
            "ratio crowdshelf/minimal by bot CPU per answer",
            f"{cpu_ratio:.2f} (the same comparison by cost: less sensitive to other load on the machine)",
        )
        failed |= bool(minimal.unexpected or ours.unexpected or not minimal.answers or not ours.answers)
        if floor_runs:
            floor = combine(FLOOR, floor_runs)
            report_run(floor)
            floor_cpu = floor.per_answer(floor.bot["cpu"])
            say(
                "ratio floor/minimal",
                f"{floor.rate / minimal.rate:.2f} by rate, {minimal.per_answer(minimal.bot['cpu']) / floor_cpu:.2f} by "
                f"bot CPU per answer (the most any bot writing {FLOOR_STATEMENTS} statements an answer on this stack reaches)",
            )
            say(
                "ratio crowdshelf/floor",
                f"{ours.rate / floor.rate:.2f} by rate, {floor_cpu / ours.per_answer(ours.bot['cpu']):.2f} by bot CPU per answer",
            )
            failed |= bool(floor.unexpected or not floor.answers)
        if stock_runs:
            stock = combine(STOCK_AIOSQLITE, stock_runs)
            report_run(stock)
            say(
                "own SQLite driver against aiosqlite",
                f"answers/s {ours.rate / stock.rate:.2f}x, bot CPU per answer "
                f"{ours.per_answer(ours.bot['cpu']) / stock.per_answer(stock.bot['cpu']):.2f}x",
            )
            failed |= bool(stock.unexpected or not stock.answers)
        if spread_runs:
            spread = combine(f"crowdshelf x{args.instances}", spread_runs)
            report_run(spread)
            growth = spread.per_answer(spread.bot["cpu"]) / ours.per_answer(ours.bot["cpu"])
            say(
                f"bot CPU per answer, {args.instances} instances against 1",
                f"{growth:.2f} (target <= {TARGET_INSTANCE_CPU_RATIO}: {verdict(growth <= TARGET_INSTANCE_CPU_RATIO)})",
            )
            duplicates = [problem for run in spread_runs for problem in run.duplicates]
            say("duplicate claims", "; ".join(duplicates) or "none")
            failed |= bool(spread.unexpected or not spread.answers or duplicates)

        # 3: next-task latency against the size of the pool; small, big, big, small cancels drift in the machine.
        big = await make_pool(directory, "big", max(args.big, SMALL_POOL), postgresql)
        say("pool small items", SMALL_POOL)
        say("pool big items", big.items)
        say("pool big load s", f"{big.load_seconds:.1f}")
        plan = await claim_query_plan(big)
        say("claim query", plan[0])
        for line in plan[1:]:
            say("claim query plan (big pool)", line)
        # A small pool has SMALL_POOL * OVERLAP slots; every run stops at the same count, well before that.
        cap = int(SMALL_POOL * OVERLAP * 0.6) - args.workers
        pool_runs: dict[str, list[RunResult]] = {"pool small": [], "pool big": []}
        order = ("pool small", "pool big") if args.quick else ("pool small", "pool big", "pool big", "pool small")
        for round_number, label in enumerate(order):
            if label == "pool small":
                which = await make_pool(directory, f"small-{round_number}", SMALL_POOL, postgresql)
            elif postgresql and round_number:  # one database: the small pool replaced the big one
                which = big = await make_pool(directory, "big", big.items, postgresql)
            else:
                which = big
            run = await measure(
                label, "crowdshelf", which.url, args.workers, min(warmup, 1.0), args.seconds, cap, hooked=hooked
            )
            pool_runs[label].append(run)
            for problem, count in run.problems.items():
                say(f"{label} PROBLEM", f"{count}x {problem}")
            failed |= bool(run.unexpected or not run.answers)
        small_run, big_run = (combine(label, runs) for label, runs in pool_runs.items())
        for run in (small_run, big_run):
            runs = len(pool_runs[run.name])
            say(f"{run.name} answers", f"{run.answers} in {run.seconds:.1f} s over {runs} run(s) ({run.rate:.1f}/s)")
            say(f"{run.name} latency p50 ms", f"{run.percentile(0.50):.1f}")
            say(f"{run.name} latency p99 ms", f"{run.percentile(0.99):.1f}")
            say(f"{run.name} bot CPU ms/answer", f"{run.per_answer(run.bot['cpu'] * 1000):.2f}")
        p50 = big_run.percentile(0.50) / small_run.percentile(0.50)
        p99 = big_run.percentile(0.99) / small_run.percentile(0.99)
        say(
            "pool latency ratio big/small",
            f"p50 {p50:.2f}, p99 {p99:.2f} "
            f"(target <= {TARGET_POOL_RATIO}: {verdict(max(p50, p99) <= TARGET_POOL_RATIO)})",
        )
        cpu_ratio = big_run.per_answer(big_run.bot["cpu"]) / small_run.per_answer(small_run.bot["cpu"])
        say("pool CPU-per-answer ratio big/small", f"{cpu_ratio:.2f} (less sensitive to other load on the machine)")
        big.remove()

        # 4: where the time goes (extra, slower runs, so the figures above stay unprofiled).
        if args.profile:
            pool = await make_pool(directory, "profile", throughput_items, postgresql)
            window = max(args.seconds / 2, 2.0)
            profiled = [
                await measure(
                    "minimal", "minimal", "", args.workers, warmup, window, profile_top=args.profile, hooked=hooked
                ),
                await measure(
                    "crowdshelf",
                    "crowdshelf",
                    pool.url,
                    args.workers,
                    warmup,
                    window,
                    profile_top=args.profile,
                    hooked=hooked,
                ),
            ]
            for run in profiled:
                report_profile(run)
            print("\ncrowdshelf bot, event-loop thread, top functions (cProfile):", flush=True)
            print(profiled[1].profile.get("text", ""), flush=True)
    if failed:
        say("result", "FAILED: see the PROBLEM lines above")
        return 1
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=50, help="simulated workers labeling at once (default 50)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per run (default 10)")
    parser.add_argument("--big", type=int, default=1_000_000, help="items in the big pool (default 1,000,000)")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run (well under a minute)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating minimal/crowdshelf runs (default 3)")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="also profile; print the top N functions")
    parser.add_argument(
        "--webhook",
        action="store_true",
        help="updates by webhook (the fake server posts them to the bot's web server), for both applications",
    )
    parser.add_argument(
        "--database", choices=("sqlite", "postgresql"), default="sqlite", help="where the bot keeps its data"
    )
    parser.add_argument(
        "--database-url",
        default="",
        help="PostgreSQL's async URL (default: TEST_DATABASE_URL); the benchmark empties that database",
    )
    parser.add_argument(
        "--instances",
        type=int,
        default=1,
        help="also run N bot instances on the one database, the fake server spreading the updates (default 1)",
    )
    parser.add_argument(
        "--statements", action="store_true", help="also count the bot's statements by the function that sent them"
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help=f"also run the minimal application writing {FLOOR_STATEMENTS} statements an answer: the ceiling of any bot on this stack",
    )
    parser.add_argument(
        "--compare-sqlite-driver", action="store_true", help="also run the bot on aiosqlite without its own driver"
    )
    args = parser.parse_args(argv)
    args.postgresql_url = ""
    if args.database == "postgresql":
        args.postgresql_url = args.database_url or os.environ.get("TEST_DATABASE_URL", "")
        if not args.postgresql_url.startswith("postgresql+asyncpg://"):
            parser.error("--database postgresql needs --database-url or TEST_DATABASE_URL: postgresql+asyncpg://…")
    if args.compare_sqlite_driver and args.postgresql_url:
        parser.error("--compare-sqlite-driver compares SQLite drivers: leave --database at sqlite")
    if args.webhook and args.instances > 1:
        parser.error("--instances spreads polled updates; a webhook for several instances needs a load balancer")
    if args.quick:
        args.workers = min(args.workers, 10)
        args.seconds = min(args.seconds, 1.5)
        args.big = min(args.big, 20_000)
        args.rounds = 1
    if args.workers < 1 or args.seconds <= 0 or args.big < 1 or args.rounds < 1 or args.instances < 1:
        parser.error("--workers, --seconds, --big, --rounds and --instances must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.statements:
        STATEMENTS_BY_PURPOSE.set()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(main_async(args))
    except Exception as error:
        log.error("benchmark failed: %s", error, exc_info=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
