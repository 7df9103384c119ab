"""`crowdshelf sandbox`: the local Bot API server, the real bot and a web page to act as its people.

One process runs the local Bot API server (:class:`~sandbox.telegram_server.FakeTelegram`) on
127.0.0.1, the real bot polling it through ``TELEGRAM_API_URL``, a fresh database and a cast of
simulated people: an admin, a requester and a few workers. The page at ``/`` (:mod:`sandbox.web`)
shows each person's chat as Telegram would and lets whoever opens it act as any of them; every Bot
API call is logged with its outcome. Any other Bot API client can use the same server with the
token printed at start.
"""

import asyncio
import logging
import signal
import tempfile
from contextlib import AsyncExitStack
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from telegram.ext import Application

from bot.wiring.app import build_application
from bot.wiring.config import Settings
from bot.wiring.services import Services, build_services
from sandbox import web as page
from sandbox.cast import CAST, Role, ids_of
from sandbox.stage import polling_locally
from sandbox.telegram_server import ApiCall, FakeTelegram
from storage import migrate
from storage.db import connect

log = logging.getLogger(__name__)

TOKEN = "700700:SANDBOX-TOKEN"
BOT_USERNAME = "crowdshelf_sandbox_bot"
DEFAULT_PORT = 8080
# A person trying the bot sees the whole way of money in minutes: a credit is available at the next
# release run, and a few answers reach the payout threshold.
SANDBOX_MONEY = {"hold_hours": 0.0, "payout_threshold": Decimal("0.10")}


@dataclass
class Sandbox:
    """The server with its page, and the bot polling it, on the running event loop."""

    telegram: FakeTelegram
    application: Application
    services: Services
    bot_running: AsyncExitStack  # closed, it stops the bot

    @property
    def url(self) -> str:
        """The web page."""
        return f"http://127.0.0.1:{self.telegram.port}/"

    @property
    def api_url(self) -> str:
        return page.api_address(self.telegram)

    @classmethod
    async def start(cls, settings: Settings, port: int = 0) -> "Sandbox":
        """Serve the page and the Bot API on `port` (0: a free one), then start the bot on `settings`
        (their database migrated already) with the sandbox's token, server and people."""
        telegram = FakeTelegram(token=TOKEN, bot_username=BOT_USERNAME)
        telegram.observers.append(log_call)
        await telegram.start(port, routes=page.routes(telegram, CAST))
        settings = settings.model_copy(
            update={
                "bot_token": TOKEN,
                "telegram_api_url": telegram.base_url.removesuffix("/bot"),
                "admin_ids": ids_of(CAST, Role.ADMIN),
                "requester_ids": ids_of(CAST, Role.REQUESTER),
                "webhook_url": "",  # the bot polls this server
            }
        )
        services = build_services(settings, connect(settings.database_url))
        application = build_application(services)
        bot_running = AsyncExitStack()
        await bot_running.enter_async_context(polling_locally(application))
        telegram.application = application  # the page waits for the bot to finish what an action started
        # Everyone has said /start: the bot knows them (an admin can fund the requester at once) and each
        # chat opens with the bot's welcome for that role.
        for person in CAST:
            await telegram.user(person.user_id, person.name).send("/start")
        await telegram.idle(timeout=60)
        return cls(telegram, application, services, bot_running)

    async def stop(self) -> None:
        await self.bot_running.aclose()
        await self.telegram.stop()


def log_call(call: ApiCall) -> None:
    """One line per Bot API call: the method and its outcome (polls that brought nothing are left out)."""
    if call.method == "getUpdates":
        if call.ok and call.result:
            log.info("getUpdates -> %d update(s)", len(call.result))
        elif not call.ok:
            log.info("getUpdates -> %d %s", call.status, call.description)
        return
    chat = call.params.get("chat_id")
    where = f" (chat {chat})" if chat is not None else ""
    outcome = "ok" if call.ok else f"{call.status} {call.description}"
    log.info("%s%s -> %s", call.method, where, outcome)


def run(settings: Settings, port: int = DEFAULT_PORT) -> None:
    """Run the sandbox on a fresh SQLite database until Ctrl-C (or SIGTERM)."""
    # A line for each run of a job every few seconds would drown the Bot API calls this log is for.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="crowdshelf-sandbox-") as folder:
        database = Path(folder) / "sandbox.db"
        url = f"sqlite+aiosqlite:///{database}"
        migrate.upgrade(url)
        asyncio.run(_serve(settings.model_copy(update={"database_url": url, **SANDBOX_MONEY}), port, database))


async def _serve(settings: Settings, port: int, database: Path) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    sandbox = await Sandbox.start(settings, port)
    try:
        print(banner(sandbox, database), flush=True)
        await stop.wait()
    finally:
        await sandbox.stop()


def banner(sandbox: Sandbox, database: Path) -> str:
    people = ", ".join(f"{p.name} ({p.role}, id {p.user_id})" for p in CAST)
    return "\n".join(
        (
            "crowdshelf sandbox",
            f"  web page:          {sandbox.url}",
            f"  Bot API base URL:  {sandbox.api_url}",
            f"  token:             {sandbox.telegram.token}",
            f"  database:          {database} (removed on exit)",
            f"  people:            {people}",
            "Open the web page and act as any of them. Ctrl-C stops the sandbox.",
        )
    )
