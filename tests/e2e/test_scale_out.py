"""Several `crowdshelf run` processes behind real nginx, configured as deploy/ configures them (the compose
file's environment, nginx's server block and upstream, only addresses changed), on one PostgreSQL: Telegram's webhook posts reach every instance, each update is processed once, and the
money and the labels come out as one process would have left them, even with an instance killed."""

import asyncio
import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.money import books
from bot.wiring.services import build_services
from sandbox.telegram_server import FakeTelegram, FakeUser
from storage.db import Database
from storage.models import Assignment, Item, SeenUpdate
from storage.states import AssignmentStatus
from tests.conftest import make_settings
from tests.deploy import compose
from tests.e2e.loopback import eventually, free_port
from tests.e2e.processes import PUBLIC_URL, SECRET, environment, start_run, telegram_set_webhook
from tests.e2e.test_webhook import count
from tests.e2e.test_worker import COOKWARE
from tests.factories import load_batch, products

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "nginx"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
INSTANCES = len(compose.bot_services())
WORKERS = 6
PRODUCTS, OVERLAP = 10, 2

pytestmark = [
    pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is not installed (.ci/run installs it)"),
]


async def start_nginx(tmp_path: Path, backends: dict[str, int]) -> tuple[subprocess.Popen[bytes], int, Path]:
    """nginx with deploy/'s server block and upstream, in front of the compose services `backends` (name:
    the local port it listens on); its access log names the instance that served each request."""
    port = free_port()
    server = (DEPLOY / "crowdshelf.conf").read_text()
    assert "listen 80;" in server
    (tmp_path / "crowdshelf.conf").write_text(server.replace("listen 80;", f"listen 127.0.0.1:{port};"))
    addresses = {name: f"127.0.0.1:{backend}" for name, backend in backends.items()}
    (tmp_path / "upstream.conf").write_text(compose.upstream(addresses))
    log = tmp_path / "access.log"
    (tmp_path / "nginx.conf").write_text(
        f"daemon off;\npid {tmp_path / 'nginx.pid'};\nerror_log {tmp_path / 'error.log'};\n"
        "events {}\nhttp {\n"
        f"  log_format served '$status $upstream_addr';\n  access_log {log} served;\n"
        + "".join(f"  {kind}_temp_path {tmp_path / kind};\n" for kind in ("client_body", "proxy"))
        + "".join(f"  {kind}_temp_path {tmp_path / kind};\n" for kind in ("fastcgi", "uwsgi", "scgi"))
        + f"  include {tmp_path / 'upstream.conf'};\n  include {tmp_path / 'crowdshelf.conf'};\n}}\n"
    )
    process = subprocess.Popen([NGINX, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)])
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return process, port, log
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    process.kill()
    raise AssertionError(f"nginx did not start: {(tmp_path / 'error.log').read_text()}")


@dataclass(frozen=True)
class Deployment:
    processes: list[asyncio.subprocess.Process]
    log: Path  # nginx's access log: "<status> <the instance's address>" a request
    public: str  # nginx's address: what the world reaches
    instances: list[str]  # each instance's own address, as the compose network reaches it


@pytest.fixture
async def deployment(
    telegram: FakeTelegram, tmp_path: Path, postgres_url: str, db: Database
) -> AsyncIterator[Deployment]:
    """The compose file's `crowdshelf run` instances, in webhook mode, and nginx before them, the webhook set
    once. Each instance has the environment compose gives it, but for the addresses: this PostgreSQL, a
    local port, and the local Bot API server."""
    ports = {name: free_port() for name in compose.bot_services()}
    processes = []
    nginx = None
    variables = {"BOT_TOKEN": telegram.token, "WEBHOOK_URL": PUBLIC_URL, "WEBHOOK_SECRET": SECRET}
    try:
        for name, port in ports.items():
            env = environment(telegram, tmp_path, **compose.bot_environment(name, variables))
            env.update(DATABASE_URL=postgres_url, WEBHOOK_LISTEN=f"127.0.0.1:{port}")
            processes.append(await start_run(env, f"http://127.0.0.1:{port}"))
        nginx, nginx_port, log = await start_nginx(tmp_path, ports)
        public = f"http://127.0.0.1:{nginx_port}"
        telegram.balance_webhook([f"{public}/telegram"])
        await telegram_set_webhook(telegram)
        yield Deployment(processes, log, public, [f"http://127.0.0.1:{port}" for port in ports.values()])
    finally:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            await asyncio.wait_for(process.wait(), 60)
        if nginx is not None:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait(30)


async def act(telegram: FakeTelegram, user: FakeUser, press: str | None = None, send: str | None = None) -> None:
    """One press or message, then wait until Telegram has no update left to deliver."""
    if press is not None:
        await user.press(press)
    if send is not None:
        await user.send(send)
    await eventually(lambda: telegram.pending_updates == 0, "every update to be acknowledged", timeout=60)


async def work_until_none_left(telegram: FakeTelegram, user: FakeUser) -> int:
    """Label products (Cookware › Skillets) until the bot has none left for this worker."""
    await act(telegram, user, send="/start")
    await act(telegram, user, press="▶ Start working")
    answered = 0
    while "No tasks right now" not in user.last.body:
        for label in (*COOKWARE, "Skillets & Frying Pans"):
            while not any(label in row for row in user.buttons()):
                await act(telegram, user, press="▶")
            await act(telegram, user, press=label)
        answered += 1
    return answered


async def test_nginx_spreads_the_webhook_over_instances_that_process_each_update_once(
    telegram: FakeTelegram,
    deployment: Deployment,
    postgres_url: str,
    db: Database,
) -> None:
    processes, log = deployment.processes, deployment.log
    services = build_services(make_settings(postgres_url), db)
    await load_batch(services, products(PRODUCTS), overlap=OVERLAP, gold_rate=0)
    workers = [telegram.user(200 + n, f"Worker {n}") for n in range(WORKERS)]

    # Half the workers label while all instances serve; then one instance is killed (kill -9, between
    # requests: nginx skips it from then on) and the others finish the batch.
    first = await asyncio.gather(*(work_until_none_left(telegram, user) for user in workers[:3]))
    os.kill(processes[0].pid, signal.SIGKILL)
    await processes[0].wait()
    rest = await asyncio.gather(*(work_until_none_left(telegram, user) for user in workers[3:]))

    answered = AssignmentStatus.ANSWERED
    assert sum(first) + sum(rest) == PRODUCTS * OVERLAP
    assert await count(db, Assignment.id, Assignment.status == answered) == PRODUCTS * OVERLAP
    async with db.read() as session:
        per_item = (
            await session.execute(
                select(Item.id, func.count(Assignment.id))
                .join(Assignment, Assignment.item_id == Item.id)
                .where(Assignment.status == answered)
                .group_by(Item.id)
            )
        ).all()
        assert sorted(n for _, n in per_item) == [OVERLAP] * PRODUCTS, "no product over or under its overlap"
        assert await books.problems(session) == []
    posted = {post.update_id for post in telegram.webhook_posts}
    assert await count(db, SeenUpdate.update_id, SeenUpdate.done.is_(True)) == len(posted), "each update once"
    assert all(user.last.body.count("No tasks right now") == 1 for user in workers)

    # "200 127.0.0.1:A" or, where nginx found an instance dead and went on to the next, "200 127.0.0.1:A, 127.0.0.1:B"
    served = [line.split(" ", 1) for line in log.read_text().splitlines()]
    by_instance = {addresses.split(", ")[-1] for status, addresses in served if status == "200"}
    assert len(by_instance) == INSTANCES, f"nginx spread the posts over every instance: {by_instance}"


async def test_nginx_serves_the_world_the_webhook_and_healthz_and_nothing_else(deployment: Deployment) -> None:
    """/metrics stays inside: through nginx each scrape would read another instance's counters."""
    async with aiohttp.ClientSession() as http:

        async def status(url: str) -> int:
            async with http.get(url) as response:
                return response.status

        assert await status(f"{deployment.public}/healthz") == 200
        assert await status(f"{deployment.public}/metrics") == 404
        assert await status(f"{deployment.public}/") == 404
        async with http.post(f"{deployment.public}/telegram", json={"update_id": 1}) as response:
            assert response.status == 403, "the webhook reaches an instance, which wants the secret"
        for instance in deployment.instances:
            async with http.get(f"{instance}/metrics") as response:
                assert response.status == 200
                assert "crowdshelf_answers_total" in await response.text()
