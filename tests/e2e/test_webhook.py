"""Webhook mode through the real Application and web server: the fake Bot API posts updates to it.

The last tests run it as an operator does: `crowdshelf run` and `crowdshelf webhook set|info|delete`
as processes of their own."""

import asyncio
import json
import random
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from telegram.ext import AIORateLimiter

from bot import outbox, updates
from bot.outbox import Notice
from bot.wiring.app import allowed_updates, build_application, webhook_app
from bot.wiring.services import build_services
from handlers import webhook
from handlers.running import running as bot_running
from sandbox.telegram_server import FakeTelegram, FakeUser
from storage.db import Database, connect
from storage.models import Assignment, SeenUpdate, User
from storage.states import AssignmentStatus
from tests.conftest import MovableClock, ScriptedRandom, make_settings
from tests.e2e.conftest import RunningBot
from tests.e2e.loopback import eventually, free_port
from tests.e2e.processes import (
    PUBLIC_URL,
    SECRET,
    crowdshelf,
    environment,
    start_run,
    telegram_set_webhook,
)
from tests.e2e.test_worker import COOKWARE, begin, press
from tests.factories import load_batch, products


@dataclass
class Instance(RunningBot):
    """One `crowdshelf run` in webhook mode: the bot and its web server on a port of its own."""

    base: str = ""

    @property
    def webhook_url(self) -> str:
        return f"{self.base}/telegram"

    async def register(self) -> None:
        """What `crowdshelf webhook set` does at deploy, pointed at this instance."""
        await self.app.bot.set_webhook(self.webhook_url, secret_token=SECRET, allowed_updates=allowed_updates())


StartInstance = Callable[..., Awaitable[Instance]]


@pytest.fixture
async def start_instance(
    database_url: str, telegram: FakeTelegram, clock: MovableClock, draws: ScriptedRandom
) -> AsyncIterator[StartInstance]:
    """Starts an instance (each with its own connections to the one database); stops them after the test."""
    async with AsyncExitStack() as stack:

        async def start(database: Database | None = None, **overrides: object) -> Instance:
            api = telegram.base_url.removesuffix("/bot")
            settings = make_settings(
                database_url,
                bot_token=telegram.token,
                telegram_api_url=api,
                webhook_url=PUBLIC_URL,
                webhook_secret=SECRET,
                **overrides,
            )
            if database is None:
                database = connect(database_url)
                stack.push_async_callback(database.dispose)
            services = build_services(settings, database, clock, draws)
            app = build_application(services, rate_limiter=AIORateLimiter(overall_max_rate=1000, max_retries=1))
            running = AsyncExitStack()
            port = await running.enter_async_context(
                bot_running(app, webhook.serving(webhook_app(app), "127.0.0.1", 0))
            )
            stack.push_async_callback(running.aclose)
            return Instance(app, telegram, services, running, base=f"http://127.0.0.1:{port}")

        yield start


def start_update(user: FakeUser, update_id: int) -> dict:
    """A /start from `user`, as Telegram posts it."""
    message = {
        "message_id": update_id,
        "from": user.user_dict,
        "chat": user.chat_dict,
        "date": int(time.time()),
        "text": "/start",
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
    }
    return {"update_id": update_id, "message": message}


async def post(url: str, body: bytes | dict, secret: str | None = SECRET) -> int:
    headers = {webhook.SECRET_HEADER: secret} if secret is not None else {}
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers["Content-Type"] = "application/json"
    async with aiohttp.ClientSession() as http, http.post(url, data=data, headers=headers) as response:
        return response.status


def welcomes(user: FakeUser) -> int:
    return sum("Hi " in m.body for m in user.messages)


async def count(db: Database, column: object, *where: object) -> int:
    async with db.read() as session:
        return await session.scalar(select(func.count(column)).where(*where))  # type: ignore[arg-type]


async def test_a_worker_labels_products_through_the_webhook(start_instance: StartInstance, db: Database) -> None:
    bot = await start_instance()
    await bot.register()
    await load_batch(bot.services, products(3), overlap=1)
    ann = bot.user(101, "Ann")
    await begin(bot, ann)
    for _ in range(2):
        for label in COOKWARE:
            await press(bot, ann, label)
        await press(bot, ann, "Skillets & Frying Pans")
    assert "✔ +$0.02 · pending $0.04" in ann.last.body and "Product 3" in ann.last.body
    answered = Assignment.status == AssignmentStatus.ANSWERED
    assert await count(db, Assignment.id, answered, Assignment.worker_id == 101) == 2
    telegram = bot.telegram
    assert not telegram.calls("getUpdates"), "an instance in webhook mode never polls"
    assert telegram.webhook_posts and all(p.status == 200 for p in telegram.webhook_posts)
    assert telegram.pending_updates == 0
    assert await count(db, SeenUpdate.update_id, SeenUpdate.done.is_(True)) == len(telegram.webhook_posts)


async def test_a_request_without_the_right_secret_gets_403_and_changes_nothing(
    start_instance: StartInstance, db: Database
) -> None:
    bot = await start_instance()
    eve = bot.user(7, "Eve")
    update = start_update(eve, 1)
    for secret in (None, "", "wrong", SECRET + "x", SECRET[:-1]):
        assert await post(bot.webhook_url, update, secret) == 403
    assert await post(bot.webhook_url, b"{not json", SECRET) == 400
    assert await post(bot.webhook_url, b"[1, 2]", SECRET) == 400
    assert await post(bot.webhook_url, {"message": update["message"]}, SECRET) == 400  # no update_id
    assert await post(bot.webhook_url, {"update_id": 2, "message": 5}, SECRET) == 400
    assert await post(bot.webhook_url, {"update_id": 3, "message": {"text": "/start"}}, SECRET) == 400
    await bot.settle()
    assert not eve.messages and not bot.telegram.calls("sendMessage")
    assert await count(db, User.id) == 0
    assert await count(db, SeenUpdate.update_id) == 0
    # The same update with the secret is processed: the refusals above were not for want of a good update.
    assert await post(bot.webhook_url, update, SECRET) == 200
    assert welcomes(eve) == 1


@pytest.mark.parametrize("instances", [1, 2])
async def test_an_update_delivered_twice_is_processed_once(
    start_instance: StartInstance, db: Database, instances: int
) -> None:
    first = await start_instance()
    second = await start_instance() if instances == 2 else first
    users = [first.user(200 + n, f"User{n}") for n in range(5)]
    for n, user in enumerate(users):
        update = start_update(user, 1000 + n)
        # Both at once: one processes it, the other answers 503 (taken, not yet done) or 200 (done already).
        statuses = await asyncio.gather(post(first.webhook_url, update), post(second.webhook_url, update))
        assert sorted(statuses) in ([200, 200], [200, 503]), statuses
        await first.settle()
        # Telegram sends again what got a 503: it is done by now.
        assert await post(second.webhook_url, update) == 200
        assert await post(first.webhook_url, update) == 200
    await first.settle()
    assert [welcomes(user) for user in users] == [1] * 5
    assert await count(db, User.id) == 5


async def test_an_update_whose_request_was_cut_is_sent_again_and_processed_once(
    start_instance: StartInstance, db: Database
) -> None:
    bot = await start_instance()
    await bot.register()
    telegram = bot.telegram
    telegram.webhook_timeout = 0.3  # Telegram stops waiting for the answer, as if the connection broke
    stall = telegram.stall("sendMessage")  # the bot is caught mid-update, its reply not yet sent
    ann = bot.user(5, "Ann")
    await ann.send("/start")
    await asyncio.wait_for(stall.reached.wait(), 30)
    await eventually(lambda: len(telegram.webhook_posts) >= 3, "Telegram to send the update again")
    update_id = telegram.webhook_posts[0].update_id
    cut, *again = telegram.posts_of(update_id)
    assert cut.status is None and cut.error == "Read timeout expired"
    # While the first request's work goes on, its update is another's to wait for: 503, try later.
    assert {post.status for post in again} <= {None, 503}
    telegram.webhook_timeout = 10
    stall.release()
    await bot.settle()
    assert telegram.posts_of(update_id)[-1].status == 200
    assert welcomes(ann) == 1
    assert await count(db, User.id) == 1


async def test_an_update_of_an_instance_that_died_mid_update_is_processed_once_by_another(
    start_instance: StartInstance, db: Database, clock: MovableClock
) -> None:
    """The claim of an instance that died (no answer, no give-back) runs out; then another takes it."""
    bot = await start_instance()
    ann = bot.user(5, "Ann")
    update = start_update(ann, 77)
    # What a killed instance leaves: the update taken, never done, never given back.
    assert await updates.take(bot.services, 77) is updates.Taken.NEW
    assert await post(bot.webhook_url, update) == 503
    assert not ann.messages
    clock.advance(bot.services.update_lease.total_seconds() + 1)
    assert await post(bot.webhook_url, update) == 200
    assert await post(bot.webhook_url, update) == 200
    await bot.settle()
    assert welcomes(ann) == 1


async def test_a_failed_update_is_given_back_for_telegram_to_send_again(
    start_instance: StartInstance, db: Database
) -> None:
    bot = await start_instance()
    ann = bot.user(5, "Ann")
    update = start_update(ann, 78)
    bot.telegram.fail_next("sendMessage", "Internal Server Error", status=500)
    # The reply failed (Telegram's 5xx: a passing failure), so the update is not done, and Ann hears no
    # apology: the next try gives her the real answer.
    assert await post(bot.webhook_url, update) == 500
    assert await count(db, SeenUpdate.update_id) == 0
    assert not ann.messages
    assert await post(bot.webhook_url, update) == 200
    await bot.settle()
    assert welcomes(ann) == 1


async def test_the_seen_updates_are_forgotten_by_a_job_once_telegram_cannot_send_them_again(
    start_instance: StartInstance, db: Database, clock: MovableClock
) -> None:
    bot = await start_instance()
    ann = bot.user(5, "Ann")
    assert await post(bot.webhook_url, start_update(ann, 90)) == 200
    clock.advance(updates.REMEMBERED_FOR.total_seconds() - 60)
    assert await post(bot.webhook_url, start_update(ann, 91)) == 200
    await bot.run_job("forget-seen-updates")
    assert await count(db, SeenUpdate.update_id) == 2, "a day has not passed for either"
    clock.advance(120)
    await bot.run_job("forget-seen-updates")
    async with db.read() as session:
        assert list(await session.scalars(select(SeenUpdate.update_id))) == [91]
    assert await post(bot.webhook_url, start_update(ann, 91)) == 200
    await bot.settle()
    assert welcomes(ann) == 2, "91 is still remembered: not processed again"


async def test_healthz_says_whether_the_database_answers_and_updates_wait_while_it_does_not(
    start_instance: StartInstance, database_url: str
) -> None:
    up = await start_instance()
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{up.base}/healthz") as response:
            assert response.status == 200
        down_url = (
            "postgresql+asyncpg://nobody@127.0.0.1:9/nothing"
            if database_url.startswith("postgresql")
            else "sqlite+aiosqlite:////nonexistent-folder/crowdshelf.db"
        )
        down = connect(down_url)
        try:
            services = build_services(up.services.settings, down, up.services.clock)
            app = build_application(services)
            async with webhook.serving(webhook_app(app), "127.0.0.1", 0) as port:
                response = await http.get(f"http://127.0.0.1:{port}/healthz")
                assert response.status == 503 and "database" in await response.text()
                update = start_update(up.user(5, "Ann"), 1)
                assert await post(f"http://127.0.0.1:{port}{services.settings.webhook_path}", update) == 503
                samples = await scrape(f"http://127.0.0.1:{port}")  # the counters, without the backlog's gauges
                assert samples[("crowdshelf_webhook_requests_total", (("outcome", "database_away"),))] == 1
        finally:
            await down.dispose()


async def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The /metrics of the instance at `base`, each sample's value by its name and labels."""
    async with aiohttp.ClientSession() as http, http.get(f"{base}/metrics") as response:
        assert response.status == 200 and response.content_type == "text/plain"
        text = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_count_the_answers_and_time_them(start_instance: StartInstance) -> None:
    bot = await start_instance()
    await bot.register()
    await load_batch(bot.services, products(4), overlap=1)
    ann = bot.user(101, "Ann")
    await begin(bot, ann)
    for _ in range(3):
        for label in COOKWARE:
            await press(bot, ann, label)
        await press(bot, ann, "Skillets & Frying Pans")
    await bot.run_job("reclaim-reservations")
    samples = await scrape(bot.base)
    assert samples[("crowdshelf_answers_total", ())] == 3
    assert samples[("crowdshelf_answer_seconds_count", ())] == 3
    assert samples[("crowdshelf_claim_seconds_count", ())] == 1  # ▶ Start working; answers claim the next
    assert samples[("crowdshelf_open_reservations", ())] == 1  # product 4, on screen
    assert samples[("crowdshelf_payouts_waiting", ())] == 0
    # At least the run above (on a slow machine its schedule may have run it too).
    assert samples[("crowdshelf_job_runs_total", (("job", "reclaim-reservations"),))] >= 1


async def test_webhook_set_info_delete(telegram: FakeTelegram, tmp_path: Path) -> None:
    hook = f"http://127.0.0.1:{free_port()}/telegram"  # nothing listens there
    env = environment(telegram, tmp_path, WEBHOOK_URL=hook, WEBHOOK_SECRET=SECRET)

    assert await crowdshelf(env, "webhook", "info") == (
        0,
        "No webhook is set: the bot takes its updates by polling.\n",
        "",
    )
    code, out, err = await crowdshelf(env, "webhook", "set", "--max-connections", "5")
    assert (code, err) == (0, "")
    assert out == (
        f"Webhook set: Telegram posts message, callback_query to {hook} with the secret, at most 5 at a time.\n"
    )
    assert telegram.webhook == {"url": hook, "secret_token": SECRET, "max_connections": 5}
    (call,) = telegram.calls("setWebhook")
    assert call.params["allowed_updates"] == ["message", "callback_query"]

    # An update Telegram cannot deliver: info shows it waiting, and why.
    await telegram.user(5, "Ann").send("/start")
    await eventually(lambda: telegram.webhook_posts, "a post to the webhook")
    code, out, err = await crowdshelf(env, "webhook", "info")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[:4] == [
        f"Webhook: {hook}",
        "Pending updates: 1",
        "Max connections: 5",
        "Updates: callback_query, message",
    ]
    assert lines[4].startswith("Last error: Connection failed") and lines[4].endswith(" UTC)"), out

    assert await crowdshelf(env, "webhook", "delete", "--drop-pending-updates") == (
        0,
        "Webhook deleted: the bot takes its updates by polling again.\n",
        "",
    )
    assert telegram.webhook is None and telegram.pending_updates == 0
    assert await crowdshelf(env, "webhook", "info") == (
        0,
        "No webhook is set: the bot takes its updates by polling.\n",
        "",
    )


async def test_webhook_set_says_telegrams_refusal_in_one_line(telegram: FakeTelegram, tmp_path: Path) -> None:
    env = environment(telegram, tmp_path, WEBHOOK_URL="http://bot.example.com/telegram", WEBHOOK_SECRET=SECRET)
    code, out, err = await crowdshelf(env, "webhook", "set")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("Telegram refused: ") and "HTTPS" in err.upper(), err
    assert telegram.webhook is None


async def test_webhook_set_needs_the_url(telegram: FakeTelegram, tmp_path: Path) -> None:
    code, out, err = await crowdshelf(environment(telegram, tmp_path), "webhook", "set")
    assert (code, out) == (2, "")
    assert err.startswith("WEBHOOK_URL is not set") and err.count("\n") == 1
    assert not telegram.calls("setWebhook")


async def test_run_by_polling_refuses_while_a_webhook_is_set(telegram: FakeTelegram, tmp_path: Path) -> None:
    """An instance of a deploy started without WEBHOOK_URL would poll, and python-telegram-bot's polling
    deletes the webhook as it starts: the other instances would get nothing. It refuses instead."""
    await telegram_set_webhook(telegram)

    code, out, err = await crowdshelf(environment(telegram, tmp_path), "run")

    assert (code, out) == (2, "")
    assert err == (
        f"Telegram has a webhook set ({PUBLIC_URL}), so the bot's updates go there: set WEBHOOK_URL to serve it, "
        "or run `crowdshelf webhook delete` to take them by polling\n"
    )
    assert telegram.webhook is not None and telegram.webhook["url"] == PUBLIC_URL
    assert not telegram.calls("getUpdates") and not telegram.calls("deleteWebhook")


@pytest.fixture
def run_environment(telegram: FakeTelegram, tmp_path: Path, database_url: str) -> tuple[dict[str, str], str]:
    """`crowdshelf run` in webhook mode on the test's database, and the address it serves."""
    port = free_port()
    env = environment(
        telegram,
        tmp_path,
        DATABASE_URL=database_url,
        WEBHOOK_URL=PUBLIC_URL,
        WEBHOOK_SECRET=SECRET,
        WEBHOOK_LISTEN=f"127.0.0.1:{port}",
    )
    return env, f"http://127.0.0.1:{port}"


async def test_run_serves_the_webhook_and_stops_on_sigterm(
    telegram: FakeTelegram, run_environment: tuple[dict[str, str], str], db: Database
) -> None:
    env, base = run_environment
    process = await start_run(env, base)
    try:
        telegram.balance_webhook([f"{base}/telegram"])
        await telegram_set_webhook(telegram)
        ann = telegram.user(5, "Ann")
        await ann.send("/start")
        await eventually(lambda: welcomes(ann) == 1, "the welcome")
        assert not telegram.calls("getUpdates") and not telegram.calls("setWebhook")[1:]
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()[-3000:]
    assert "Traceback" not in stderr.decode()
    # It started before the webhook was set: the operator is told why no update reaches it yet.
    warning = (
        f"Telegram's webhook (none) is not WEBHOOK_URL ({PUBLIC_URL}): no update reaches this instance until "
        "`crowdshelf webhook set` registers it"
    )
    assert stderr.decode().count(warning) == 1, stderr.decode()[-3000:]
    assert await count(db, User.id) == 1


async def test_an_update_of_a_killed_instance_is_processed_once_by_another(
    telegram: FakeTelegram,
    run_environment: tuple[dict[str, str], str],
    start_instance: StartInstance,
    db: Database,
    clock: MovableClock,
) -> None:
    """kill -9 in the middle of an update: Telegram sends it again; once the dead instance's claim has
    run out, the other instance processes it, once."""
    env, base = run_environment
    process = await start_run(env, base)
    other = await start_instance()
    try:
        telegram.balance_webhook([f"{base}/telegram"])
        await telegram_set_webhook(telegram)
        stall = telegram.stall("sendMessage")
        ann = telegram.user(5, "Ann")
        await ann.send("/start")
        await asyncio.wait_for(stall.reached.wait(), 60)  # registered, its welcome under way
    finally:
        process.kill()
        await process.wait()
    telegram.balance_webhook([other.webhook_url])
    await eventually(lambda: any(post.status == 503 for post in telegram.webhook_posts), "the other instance to wait")
    assert welcomes(ann) == 0
    clock.advance(other.services.update_lease.total_seconds() + 1)
    await other.settle()
    assert welcomes(ann) == 1
    assert telegram.webhook_posts[-1].status == 200
    assert await count(db, User.id) == 1


async def test_metrics_count_each_post_by_what_became_of_it(start_instance: StartInstance) -> None:
    bot = await start_instance()
    ann, bob = bot.user(5, "Ann"), bot.user(6, "Bob")
    assert await post(bot.webhook_url, start_update(ann, 1), "wrong") == 403
    assert await post(bot.webhook_url, b"{not json") == 400
    assert await post(bot.webhook_url, start_update(ann, 1)) == 200
    assert await post(bot.webhook_url, start_update(ann, 1)) == 200  # Telegram sends it again
    assert await updates.take(bot.services, 2) is updates.Taken.NEW  # another instance is on update 2
    assert await post(bot.webhook_url, start_update(bob, 2)) == 503
    bot.telegram.fail_next("sendMessage", "Internal Server Error", status=500)
    assert await post(bot.webhook_url, start_update(bob, 3)) == 500
    samples = await scrape(bot.base)
    counted = {
        outcome: samples[("crowdshelf_webhook_requests_total", (("outcome", outcome),))] for outcome in webhook.Outcome
    }
    assert counted == {
        "processed": 1,
        "done_before": 1,
        "busy": 1,
        "failed": 1,
        "database_away": 0,
        "forbidden": 1,
        "malformed": 1,
    }


async def test_metrics_read_the_messages_owed_and_given_up(start_instance: StartInstance) -> None:
    bot = await start_instance()
    samples = await scrape(bot.base)
    assert samples[("crowdshelf_messages_owed", ())] == 0
    assert samples[("crowdshelf_oldest_owed_message_seconds", ())] == 0
    async with bot.services.db.write() as session:  # a chat the bot never talked to: Telegram refuses it
        await outbox.owe(session, "test:stranger", 555, Notice.PAYOUT_METHOD_REMINDER)
    await bot.settle()
    bot.telegram.fail_at_random(["sendMessage"], 1.0, random.Random(0))  # Telegram down from now on
    ann = bot.user(5, "Ann")
    async with bot.services.db.write() as session:
        await outbox.owe(session, "test:ann", ann.id, Notice.PAYOUT_METHOD_REMINDER)
    await bot.settle()  # tried, failed, due again later
    assert bot.telegram.errors
    await asyncio.sleep(0.2)
    samples = await scrape(bot.base)
    assert samples[("crowdshelf_messages_owed", ())] == 1
    assert 0.2 <= samples[("crowdshelf_oldest_owed_message_seconds", ())] < 60
    assert samples[("crowdshelf_messages_given_up", ())] == 1
