"""The real Application, polling a fake Bot API server over loopback HTTP."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass

import pytest
from telegram.ext import Application

from bot.wiring.app import build_application
from bot.wiring.services import Services, build_services
from handlers import notify, outbox
from sandbox.stage import polling_locally
from sandbox.telegram_server import FakeTelegram, FakeUser
from storage import outbox as owed_messages
from storage.db import Database
from tests.conftest import MovableClock, ScriptedRandom, make_settings
from tests.e2e.processes import end_left_behind


@pytest.fixture(autouse=True)
async def no_process_outlives_its_test() -> AsyncIterator[None]:
    """Whatever happened in the test, the crowdshelf processes it started have ended when it is over.

    Set up before the fixtures the test asks for, so it ends them after the test's own bots have stopped and
    before the test's database is handed to the next test."""
    yield
    await end_left_behind()


@dataclass
class RunningBot:
    app: Application
    telegram: FakeTelegram
    services: Services
    running: AsyncExitStack  # closed, it stops the bot

    async def settle(self, timeout: float = 10) -> None:
        """Wait until every update sent so far has been handled and its replies have arrived, and every
        message the bot owes is delivered (or waits for a retry that is not due yet)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            await self.telegram.idle(timeout=timeout)
            busy = self.app.update_processor.current_concurrent_updates or not self.app.update_queue.empty()
            quiet = not busy and self.telegram.pending_updates == 0 and self.telegram.inflight == 0
            # The delivery job may not have run yet (leases keep runs apart), or may be sending.
            if quiet and not await self.deliver() and not await self.being_delivered():
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("the bot did not settle")
            await asyncio.sleep(0.01)

    async def deliver(self) -> int:
        """One run of the delivery of owed messages, as the job would run it."""
        return await outbox.deliver(self.app.bot, self.services)

    async def being_delivered(self) -> int:
        """Owed messages due now at the head of their chat: ones another delivery run holds (claiming them in
        a transaction not yet committed, or claimed and not yet reported on), and ones that became due while
        it ran, as the next message to a chat once the one before it was sent.

        A count of the held ones alone missed those: the run sent an admin's first payout notice after
        `deliver` had looked, and the bot looked settled with the second and third still owed (a rare
        failure under load). A message behind one waiting for a retry is not due: its chat waits."""
        async with self.services.db.read() as session:
            return await owed_messages.count_due(session, self.services.clock.now())

    def user(self, user_id: int, first_name: str = "Ann") -> FakeUser:
        return self.telegram.user(user_id, first_name)

    async def stop(self) -> None:
        """Shut the bot down as an operator would; what users do from now on waits at the server."""
        await self.running.aclose()

    async def run_job(self, name: str) -> None:
        (job,) = self.app.job_queue.get_jobs_by_name(name)
        await job.run(self.app)
        await self.settle()  # and what it owes is delivered


@pytest.fixture
def postgres_url(database_url: str) -> str:
    """The test's database when it is PostgreSQL; on SQLite the test skips (several processes serve one
    bot on PostgreSQL, as deploy/ runs them)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("several processes serve one bot on PostgreSQL, as deploy/ runs them")
    return database_url


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()


StartBot = Callable[..., Awaitable[RunningBot]]


@pytest.fixture
async def start_bot(
    database_url: str, db: Database, telegram: FakeTelegram, clock: MovableClock, draws: ScriptedRandom
) -> AsyncIterator[StartBot]:
    """Starts the bot against the fake server, with any settings overridden; stops it after the test."""
    started: list[RunningBot] = []

    async def start(**overrides: object) -> RunningBot:
        api = telegram.base_url.removesuffix("/bot")
        settings = make_settings(database_url, bot_token=telegram.token, telegram_api_url=api, **overrides)
        services = build_services(settings, db, clock, draws)
        app = build_application(services)
        # The tests run the scheduled jobs themselves (run_job): a run the queue started at that moment
        # would hold the job's lease, and the test's run would skip. Owed messages still go out on the tick.
        for job in app.job_queue.jobs():
            job.enabled = job.name == notify.DELIVERY_JOB
        running = AsyncExitStack()
        await running.enter_async_context(polling_locally(app))
        started.append(RunningBot(app, telegram, services, running))
        return started[-1]

    yield start
    for bot in started:
        await bot.stop()  # nothing more for a bot the test stopped


@pytest.fixture
async def bot(start_bot: StartBot) -> RunningBot:
    return await start_bot()
