"""crowdshelf's commands as an operator runs them, each in a process of its own, talking to the fake Bot API
server: `crowdshelf run` in webhook mode, alone or as a fleet on one database whose processes a test kills
(kill -9) and starts again while the fake server spreads Telegram's posts over them.

Every process is started by `spawn`, and the e2e tests' teardown ends any a test left running
(`end_left_behind`). A test that failed between starting `crowdshelf run` and stopping it once left two
serving for two hours, taking later tests' updates and scheduled jobs on their shared PostgreSQL database."""

import asyncio
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from sandbox.telegram_server import FakeTelegram
from tests.e2e.loopback import free_port

SECRET = "s3cret-Token_for-tests"
PUBLIC_URL = "https://bot.example.com/telegram"
WEBHOOK_KEYS = ("WEBHOOK_URL", "WEBHOOK_LISTEN", "WEBHOOK_PATH", "WEBHOOK_SECRET")

_started: list[asyncio.subprocess.Process] = []


async def spawn(*command: str, env: dict[str, str], **options: Any) -> asyncio.subprocess.Process:
    """`crowdshelf <command>` in a process of its own; `options` as asyncio.create_subprocess_exec takes them
    (cwd, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.wiring.cli", *command, env=env, **options)
    _started.append(process)
    return process


async def end_left_behind() -> None:
    """kill -9 every process `spawn` started that still runs, and wait until each has ended."""
    left = [process for process in _started if process.returncode is None]
    _started.clear()
    for process in left:
        process.kill()
    for process in left:
        await process.wait()


def environment(telegram: FakeTelegram, tmp_path: Path, **settings: str) -> dict[str, str]:
    """This environment but its webhook settings, pointed at the fake server and a database in `tmp_path`,
    with `settings` on top."""
    env = {key: value for key, value in os.environ.items() if key not in WEBHOOK_KEYS}
    env.update(
        BOT_TOKEN=telegram.token,
        TELEGRAM_API_URL=telegram.base_url.removesuffix("/bot"),
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        LOG_LEVEL="WARNING",
    )
    env.update(settings)
    return env


async def crowdshelf(env: dict[str, str], *command: str) -> tuple[int, str, str]:
    """Run `crowdshelf <command>` to its end: its exit status, standard output and standard error."""
    process = await spawn(*command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def start_run(env: dict[str, str], base: str, log: Path | None = None) -> asyncio.subprocess.Process:
    """`crowdshelf run`, once it serves /healthz at `base`; its stderr piped, or appended to `log` (which a
    process started again after a kill keeps adding to)."""
    if log is None:
        process = await spawn("run", env=env, stderr=asyncio.subprocess.PIPE)
    else:
        with log.open("ab") as stderr:
            process = await spawn("run", env=env, stderr=stderr)
    async with aiohttp.ClientSession() as http:
        for _ in range(900):
            if process.returncode is not None:
                raise AssertionError(f"crowdshelf run exited {process.returncode}:\n{await _said(process, log)}")
            try:
                async with http.get(f"{base}/healthz") as response:
                    if response.status == 200:
                        return process
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:] if log is not None else ""
    raise AssertionError(f"crowdshelf run did not serve /healthz\n{tail}")


async def _said(process: asyncio.subprocess.Process, log: Path | None) -> str:
    """The end of what an exited process wrote to stderr."""
    if log is not None:
        return log.read_text(errors="replace")[-3000:]
    assert process.stderr is not None
    return (await process.stderr.read()).decode(errors="replace")[-3000:]


async def telegram_set_webhook(telegram: FakeTelegram) -> None:
    """The deploy's `crowdshelf webhook set`, straight to the fake server."""
    url = f"{telegram.base_url}{telegram.token}/setWebhook"
    payload = {"url": PUBLIC_URL, "secret_token": SECRET, "allowed_updates": ["message", "callback_query"]}
    async with aiohttp.ClientSession() as http, http.post(url, json=payload) as response:
        assert response.status == 200


@dataclass
class Fleet:
    telegram: FakeTelegram
    logs: Path  # each process's stderr, appended to across restarts
    settings: dict[str, str]
    ports: list[int] = field(default_factory=list)
    processes: dict[int, asyncio.subprocess.Process] = field(default_factory=dict)

    def url(self, n: int) -> str:
        return f"http://127.0.0.1:{self.ports[n]}"

    async def start(self, n: int) -> None:
        """Start process `n` (again) and wait until it serves /healthz."""
        env = environment(
            self.telegram,
            self.logs,
            WEBHOOK_URL=PUBLIC_URL,
            WEBHOOK_SECRET=SECRET,
            WEBHOOK_LISTEN=f"127.0.0.1:{self.ports[n]}",
            **self.settings,
        )
        self.processes[n] = await start_run(env, self.url(n), self.logs / f"instance-{n}.log")

    async def kill(self, n: int) -> None:
        """kill -9: no request finished, no claim given back, no connection closed politely."""
        process = self.processes[n]
        os.kill(process.pid, signal.SIGKILL)
        await process.wait()

    def alive(self, n: int) -> bool:
        return self.processes[n].returncode is None

    async def stop(self) -> None:
        for process in self.processes.values():
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            await asyncio.wait_for(process.wait(), 60)


async def start_fleet(telegram: FakeTelegram, logs: Path, count: int, **settings: str) -> Fleet:
    """`count` processes with these settings (environment keys), the webhook set and spread over them all."""
    fleet = Fleet(telegram, logs, settings, [free_port() for _ in range(count)])
    try:
        await asyncio.gather(*(fleet.start(n) for n in range(count)))
    except BaseException:
        await fleet.stop()
        raise
    telegram.balance_webhook([f"{fleet.url(n)}/telegram" for n in range(count)])
    await telegram_set_webhook(telegram)
    return fleet
