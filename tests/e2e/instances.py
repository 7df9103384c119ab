"""Several bot instances on one database, as behind a load balancer: each an Application built by
`build_application` with its own database engine, all talking to one fake Bot API server. The test hands
each update to the instance of its choice (FakeTelegram.take_updates), so it decides which updates race."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from telegram import Update
from telegram.ext import Application

from bot.wiring.app import build_application
from bot.wiring.services import Services, build_services
from handlers import outbox
from sandbox.telegram_server import FakeTelegram
from storage.db import connect
from tests.conftest import MovableClock, ScriptedRandom, make_settings


@dataclass
class Instance:
    app: Application
    services: Services

    async def handle(self, update: dict) -> None:
        """Process one update as this instance's webhook or poller would, replies included."""
        await self.app.process_update(Update.de_json(update, self.app.bot))

    async def run_job(self, name: str) -> None:
        (job,) = self.app.job_queue.get_jobs_by_name(name)
        await job.run(self.app)

    async def deliver(self) -> int:
        """One run of this instance's delivery of owed messages."""
        return await outbox.deliver(self.app.bot, self.services)


async def spread(telegram: FakeTelegram, *instances: Instance) -> None:
    """Every pending update, handed round-robin to the instances and processed by them all at once."""
    updates = telegram.take_updates()
    await asyncio.gather(*(instances[n % len(instances)].handle(update) for n, update in enumerate(updates)))


@asynccontextmanager
async def instances(
    count: int,
    database_url: str,
    telegram: FakeTelegram,
    clock: MovableClock,
    draws: ScriptedRandom,
    **overrides: object,
) -> AsyncIterator[list[Instance]]:
    """`count` initialised instances (their job queues are not started: the test runs jobs itself)."""
    api = telegram.base_url.removesuffix("/bot")
    settings = make_settings(database_url, bot_token=telegram.token, telegram_api_url=api, **overrides)
    started: list[Instance] = []
    try:
        for _ in range(count):
            services = build_services(settings, connect(database_url), clock, draws)
            app = build_application(services)
            started.append(Instance(app, services))
            await app.initialize()
            await app.post_init(app)
        yield started
    finally:
        for instance in started:
            await instance.app.shutdown()
            await instance.services.db.dispose()
