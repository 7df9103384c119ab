"""The bot on a local stage: the local Bot API server and the real bot pointed at it, on a fresh database.

Nothing leaves 127.0.0.1: the bot is the real Application (`bot.wiring.app.build_application`) told
through `TELEGRAM_API_URL` to talk to the local server, and the people on the stage are that server's
users (`sandbox.people`). The demo (`sandbox/demo.py`) starts one stage and plays a crowd on it;
anything else that wants a bot with people around it can do the same::

    async with open_stage(folder, admin_ids="900") as stage:
        ann = stage.telegram.user(5, "Ann")
        ...
"""

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from random import Random

from telegram.ext import Application

from bot.wiring.app import allowed_updates, build_application
from bot.wiring.config import Settings
from bot.wiring.services import Services, build_services
from handlers.running import polling, running
from sandbox.telegram_server import FakeTelegram
from storage import migrate
from storage.clock import utcnow
from storage.db import connect

DATABASE_FILE = "crowdshelf-demo.db"
# The local server takes any rate: the bot's own limiter still runs, only far above Telegram's.
LOCAL_RATE = 10_000


class FastClock:
    """The bot's clock running `speed` times faster than the wall clock, from the moment it is made.

    Workers take seconds per answer and holds last hours; on a stage that shows a day's work in a
    minute, the bot reads time as the people live it, so its speed rule, ETA and holds see their pace."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._start = utcnow()
        self._started = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(time.monotonic() - self._started) * self.speed)

    def real_seconds(self, simulated: float) -> float:
        """How long `simulated` seconds of the bot's time take on the wall clock."""
        return simulated / self.speed


@dataclass
class Stage:
    telegram: FakeTelegram
    app: Application
    services: Services
    database_url: str

    async def run_job(self, name: str) -> None:
        """One run of a scheduled job now, as its timer would run it (a demo cannot wait for the hour)."""
        assert self.app.job_queue is not None  # build_application schedules the jobs
        for job in self.app.job_queue.get_jobs_by_name(name):
            await job.run(self.app)


def sqlite_file(folder: Path) -> Path:
    """Where a stage keeps its database when it is given none."""
    return folder / DATABASE_FILE


@asynccontextmanager
async def open_stage(
    folder: Path,
    database_url: str | None = None,
    clock: FastClock | None = None,
    draws: Random | None = None,
    **settings: object,
) -> AsyncIterator[Stage]:
    """The local server and the bot polling it, on `database_url` (default: a new SQLite file in `folder`,
    `sqlite_file`); `settings` are the bot's settings (Settings fields) beyond the token, the server's
    address and the database."""
    url = database_url or f"sqlite+aiosqlite:///{sqlite_file(folder)}"
    telegram = FakeTelegram()
    await telegram.start()
    try:
        api = telegram.base_url.removesuffix("/bot")
        values = {"telegram_messages_per_second": LOCAL_RATE} | settings
        config = Settings(bot_token=telegram.token, telegram_api_url=api, database_url=url, _env_file=None, **values)  # type: ignore[arg-type]
        # Migrations run their own event loop: in a thread, as ours is running.
        await asyncio.to_thread(migrate.upgrade, url)
        services = build_services(config, connect(url), clock, draws)
        app = build_application(services)
        async with polling_locally(app):
            yield Stage(telegram, app, services, url)
    finally:
        await telegram.stop()


def polling_locally(application: Application) -> AbstractAsyncContextManager[None]:
    """The bot running as `crowdshelf run` runs it (handlers.running) while the block runs, polling the local
    server with short polls, so that it stops soon after the block ends."""
    return running(application, polling(application, allowed_updates(), timeout=1))
