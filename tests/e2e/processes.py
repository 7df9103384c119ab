"""`crowdshelf run` processes in webhook mode on one database, each on a port of its own, that a test kills
(kill -9) and starts again; the fake Bot API server spreads Telegram's posts over them."""

import asyncio
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.telegram_server import FakeTelegram
from tests.e2e.loopback import free_port
from tests.e2e.test_webhook import PUBLIC_URL, SECRET, environment, start_run, telegram_set_webhook


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
