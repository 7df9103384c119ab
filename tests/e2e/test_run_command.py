"""`crowdshelf run` itself: a separate process that migrates a new database and serves a user."""

import asyncio
import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

from tests.e2e.fake_telegram import FakeTelegram


async def eventually(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def test_run_migrates_and_serves(telegram: FakeTelegram, tmp_path: Path) -> None:
    database = tmp_path / "run.db"
    env = {
        **os.environ,
        "BOT_TOKEN": telegram.token,
        "TELEGRAM_API_URL": telegram.base_url.removesuffix("/bot"),
        "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await eventually(lambda: telegram.calls("setMyCommands"), 90, "the bot to start")
        ann = telegram.user(5, "Ann")
        await ann.send("/start")
        await eventually(lambda: any("Hi Ann" in m.body for m in ann.messages), 30, "the welcome")
    finally:
        process.terminate()
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert b"Traceback" not in stderr, stderr.decode()[-2000:]
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchone() == ("0004",)
        assert connection.execute("SELECT count(*) FROM taxonomy_nodes").fetchone() == (5595,)
        assert connection.execute("SELECT id FROM users").fetchall() == [(5,)]
