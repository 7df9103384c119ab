"""`crowdshelf run` itself: a separate process that migrates a new database and serves a user."""

import asyncio
import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from bot.wiring.app import build_application
from bot.wiring.services import build_services
from sandbox.telegram_server import FakeTelegram
from storage import migrate
from storage.db import Database
from tests.conftest import make_settings
from tests.e2e.loopback import eventually, free_port
from tests.e2e.processes import environment, spawn

HEAD = ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_current_head()
"""The newest migration: the one a new database is brought to."""


async def test_run_migrates_and_serves(telegram: FakeTelegram, tmp_path: Path) -> None:
    database = tmp_path / "run.db"
    env = environment(telegram, tmp_path, DATABASE_URL=f"sqlite+aiosqlite:///{database}")
    process = await spawn("run", env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await eventually(lambda: telegram.calls("setMyCommands"), "the bot to start", 90)
        ann = telegram.user(5, "Ann")
        await ann.send("/start")
        await eventually(lambda: any("Hi Ann" in m.body for m in ann.messages), "the welcome", 30)
    finally:
        process.terminate()
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert b"Traceback" not in stderr, stderr.decode()[-2000:]
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchone() == (HEAD,)
        # The claim query walks this index in its order; SQLite's table rebuilds in migrations must keep it.
        (claim_index,) = connection.execute("SELECT sql FROM sqlite_master WHERE name = 'ix_items_claim'").fetchone()
        assert claim_index.endswith("(is_open, slots_taken DESC, id)"), claim_index
        assert connection.execute("SELECT count(*) FROM taxonomy_nodes").fetchone() == (5595,)
        assert connection.execute("SELECT id FROM users").fetchall() == [(5,)]


async def test_run_waits_for_telegram_then_serves(tmp_path: Path) -> None:
    """Telegram down at start: one line in the log, tries again with backoff, then serves as usual."""
    telegram = FakeTelegram()
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    run = await Run.start(tmp_path, telegram.token, api, "INFO")
    try:
        await run.logged(f"Telegram is not reachable at {api}")
        await asyncio.sleep(3)  # a few more failed tries
        await telegram.start(port)
        await eventually(lambda: telegram.calls("setMyCommands"), "the bot to start", 90)
        ann = telegram.user(5, "Ann")
        await ann.send("/start")
        await eventually(lambda: any("Hi Ann" in m.body for m in ann.messages), "the welcome", 30)
    finally:
        log = await run.stop()
        await telegram.stop()
    assert log.count("Telegram is not reachable") == 1, log[-3000:]
    assert re.search(r"Telegram answered at try ([2-9]|\d\d+); starting", log), log[-3000:]
    assert "Traceback" not in log, log[-3000:]


async def test_a_rejected_token_is_one_line_and_never_logged(telegram: FakeTelegram, tmp_path: Path) -> None:
    secret = "RejectedSecretPartOfTheToken"
    # DEBUG: the Bot API URLs, which carry the token, are logged too.
    run = await Run.start(tmp_path, f"999999:{secret}", telegram.base_url.removesuffix("/bot"), "DEBUG")
    log = await run.ended()
    assert run.process.returncode == 2, log[-3000:]
    assert telegram.requests and all(call.status == 401 for call in telegram.requests)
    assert secret not in log
    assert re.search(r" DEBUG .*/bot999999:\*\*\*$", log, re.MULTILINE), log[-3000:]
    assert log.splitlines()[-1] == (
        "Telegram rejected BOT_TOKEN (999999:***): copy the token @BotFather gave you into .env again"
    )
    assert "Traceback" not in log, log[-3000:]


@pytest.mark.parametrize("method", ["setMyCommands", "deleteWebhook"])
async def test_a_stop_signal_while_the_bot_starts_ends_it_cleanly(
    telegram: FakeTelegram, tmp_path: Path, method: str
) -> None:
    """SIGTERM while the bot sets its command menu, or while polling starts: the start-up finishes, then
    the bot stops as it would from serving, with status 0 and nothing in the log."""
    stall = telegram.stall(method)
    run = await Run.start(tmp_path, telegram.token, telegram.base_url.removesuffix("/bot"), "WARNING")
    await asyncio.wait_for(stall.reached.wait(), 90)
    run.process.terminate()
    await asyncio.sleep(0.5)  # the signal is in before the start-up goes on
    stall.release()
    log = await run.ended()
    assert run.process.returncode == 0, log[-3000:]
    assert log == "", log[-3000:]


async def test_a_stop_signal_while_telegram_is_not_reachable_ends_the_wait(tmp_path: Path) -> None:
    """Started during an outage, the bot waits for Telegram without end; a stop signal ends that wait."""
    api = f"http://127.0.0.1:{free_port()}"
    run = await Run.start(tmp_path, "1:token", api, "WARNING")
    await run.logged(f"Telegram is not reachable at {api}")
    run.process.terminate()
    log = await asyncio.wait_for(run.ended(), 10)
    assert run.process.returncode == 0, log[-3000:]
    assert "Traceback" not in log, log[-3000:]


@dataclass
class Run:
    """`crowdshelf run` in a process of its own, its standard error read as it comes."""

    process: asyncio.subprocess.Process
    lines: list[str]
    reading: asyncio.Task[None]

    @classmethod
    async def start(cls, tmp_path: Path, token: str, api: str, log_level: str) -> "Run":
        env = {
            **os.environ,
            "BOT_TOKEN": token,
            "TELEGRAM_API_URL": api,
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'run.db'}",
            "LOG_LEVEL": log_level,
        }
        process = await spawn("run", env=env, cwd=tmp_path, stderr=asyncio.subprocess.PIPE)
        lines: list[str] = []
        return cls(process, lines, asyncio.create_task(_read(process, lines)))

    async def logged(self, text: str) -> None:
        """Wait until `text` is in the log; fail if the process ends first."""
        await eventually(lambda: self.reading.done() or any(text in line for line in self.lines), repr(text), 90)
        assert any(text in line for line in self.lines), "\n".join(self.lines)[-3000:]

    async def ended(self) -> str:
        """The whole log, once the process has ended."""
        await asyncio.wait_for(asyncio.gather(self.process.wait(), self.reading), 90)
        return "\n".join(self.lines)

    async def stop(self) -> str:
        if self.process.returncode is None:
            self.process.terminate()
        return await self.ended()


async def _read(process: asyncio.subprocess.Process, lines: list[str]) -> None:
    assert process.stderr is not None
    async for line in process.stderr:
        lines.append(line.decode().rstrip("\n"))


async def test_shutdown_closes_the_database_connections(database_url: str, db: Database) -> None:
    """What run_polling does after the last update: the pooled database connections are closed, not
    left for the process's exit to drop."""
    application = build_application(build_services(make_settings(database_url, bot_token="1:test"), db))
    async with db.read() as session:
        await session.execute(text("SELECT 1"))
    assert db.engine.pool.checkedin() > 0
    await application.post_shutdown(application)
    assert db.engine.pool.checkedin() == 0
