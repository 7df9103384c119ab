"""Faults while serving at scale: instances killed mid-update (kill -9), the database's connections cut
(a restart of PostgreSQL, as the instances see it, through tests.e2e.tcp_proxy), Telegram's Bot API
failing. `crowdshelf run` processes in webhook mode (tests.e2e.processes) serve workers who keep
answering; afterwards every answer is recorded once and paid once, the books are sound, and no update
was lost. Each test prints its figures (pytest -s). Several processes share one database on PostgreSQL,
as deploy/ runs them: on SQLite these tests skip, but for the claim lease's, which two processes can
show on one SQLite file."""

import asyncio
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from bot import outbox
from bot.money import books
from bot.outbox import Notice
from bot.wiring.services import build_services
from handlers import texts
from sandbox.telegram_server import FakeTelegram, FakeUser
from storage.db import Database
from storage.models import Assignment, LedgerTransaction, OutboxMessage, SeenUpdate, User
from storage.states import AssignmentStatus, OutboxState
from tests.conftest import make_settings
from tests.e2e.loopback import eventually
from tests.e2e.processes import Fleet, start_fleet
from tests.e2e.tcp_proxy import TcpProxy
from tests.e2e.test_webhook import count, welcomes
from tests.e2e.test_worker import COOKWARE
from tests.factories import REQUESTER, load_batch, products

# A product is answered by pressing these, each deeper in the category tree (the last is the answer).
ANSWER = (*COOKWARE, "Skillets & Frying Pans")
NO_TASKS = "No tasks right now"
WORKERS = 20
UNAVAILABLE = texts.TASK_UNAVAILABLE
MOST_STEPS = 200  # far more than one worker's share of the batch takes

# Short enough that three leases pass while the bot's call to Telegram waits (it gives up after 5 s).
LEASE_SECONDS = 1


async def test_a_killed_instances_update_is_taken_by_another_within_the_lease_and_not_before(
    telegram: FakeTelegram, tmp_path: Path, database_url: str, db: Database
) -> None:
    """An instance renews its claim on an update while it processes it, however long that takes; killed,
    it renews no more, and another instance processes the update once the claim has run out."""
    fleet = await start_fleet(
        telegram, tmp_path, 2, DATABASE_URL=database_url, WEBHOOK_LEASE_SECONDS=str(LEASE_SECONDS)
    )
    try:
        first, second = (f"{fleet.url(n)}/telegram" for n in range(2))
        telegram.balance_webhook([first])
        telegram.webhook_timeout = 1  # Telegram stops waiting and sends the update again, to the other
        telegram.webhook_retry_delay = 0.2
        stall = telegram.stall("sendMessage")
        ann = telegram.user(5, "Ann")
        await ann.send("/start")
        await asyncio.wait_for(stall.reached.wait(), 60)  # registered, its welcome under way
        telegram.balance_webhook([second])
        await asyncio.sleep(3 * LEASE_SECONDS)
        to_second = [post.status for post in telegram.webhook_posts if post.url == second]
        assert to_second and set(to_second) == {503}, "the first instance, alive, kept its claim past the lease"
        assert welcomes(ann) == 0

        killed_at = datetime.now(UTC)
        await fleet.kill(0)
        async with db.read() as session:
            claimed_until = await session.scalar(select(SeenUpdate.claimed_until))
        assert claimed_until is not None and claimed_until <= killed_at + timedelta(seconds=LEASE_SECONDS)
        await eventually(lambda: welcomes(ann) == 1, "the other instance to take the update", timeout=60)
    finally:
        await fleet.stop()
    assert telegram.webhook_posts[-1].status == 200 and telegram.webhook_posts[-1].url == second
    assert welcomes(ann) == 1
    assert await count(db, User.id) == 1


async def act(telegram: FakeTelegram, user: FakeUser, press: str | None = None, send: str | None = None) -> str:
    """One press or message, then wait until Telegram has delivered it (an instance answered 200 once it
    had processed it, replies included). Returns what the bot said in answer to the press, if anything."""
    query = await user.press(press) if press is not None else None
    if send is not None:
        await user.send(send)
    await eventually(lambda: telegram.pending_from(user.id) == 0, f"{user!r}'s update to be processed", timeout=120)
    answer = user.callback_answer(query["id"]) if query is not None else None
    return (answer or {}).get("text") or ""


async def answer_until_none_left(telegram: FakeTelegram, user: FakeUser, keep_last: bool = False) -> None:
    """Answer products (Cookware › Skillets) until the bot has none left for this worker; with `keep_last`,
    walk away from the first product instead, leaving it reserved."""
    await act(telegram, user, send="/work")
    for _ in range(MOST_STEPS):
        if NO_TASKS in user.last.body:
            return
        shown = {label for row in user.buttons() for label in row}
        step = next((label for label in reversed(ANSWER) if label in shown), None)
        if keep_last:
            return
        said = await act(telegram, user, press=step or "▶") if step or "▶" in shown else UNAVAILABLE
        if said == UNAVAILABLE:  # the product's reservation ran out under the worker: ask for another
            await act(telegram, user, send="/work")
    raise AssertionError(f"{user!r} is stuck at {user.last.body!r} with {user.buttons()}: {user.texts[-6:]}")


def apologies(users: list[FakeUser]) -> list[str]:
    return [body for user in users for body in user.texts if texts.SOMETHING_WENT_WRONG in body]


async def load_products(database_url: str, db: Database, count: int, overlap: int) -> None:
    services = build_services(make_settings(database_url), db)
    await load_batch(services, products(count), overlap=overlap, gold_rate=0)


async def assert_answers_paid_once_and_books_sound(db: Database, answers: int, overlap: int) -> None:
    """Every answer has exactly one credit and every credit its answer; no product over its overlap, no
    worker twice on one product; every transaction sums to zero and no balance is negative."""
    answered = Assignment.status == AssignmentStatus.ANSWERED
    async with db.read() as session:
        answer_ids = list(await session.scalars(select(Assignment.id).where(answered)))
        keys = await session.scalars(select(LedgerTransaction.key).where(LedgerTransaction.key.like("answer:%")))
        credits = Counter(key for key in keys if key.count(":") == 1)
        per_item = Counter(await session.scalars(select(Assignment.item_id).where(answered)))
        pairs = Counter((await session.execute(select(Assignment.item_id, Assignment.worker_id).where(answered))).all())
        problems = await books.problems(session)
    assert len(answer_ids) == answers
    assert credits == Counter(f"answer:{answer_id}" for answer_id in answer_ids), "one credit per answer"
    assert set(per_item.values()) == {overlap}, "no product over or under its overlap"
    assert set(pairs.values()) == {1}, "no worker answered a product twice"
    assert problems == []


async def kill_and_restart(fleet: Fleet, kills: int, rng: random.Random) -> None:
    """kill -9 the instances in turn, each at a random moment while it serves, and start it again."""
    for kill in range(kills):
        await asyncio.sleep(rng.uniform(0.2, 1.5))
        await fleet.kill(kill % 2)
        await fleet.start(kill % 2)


async def eventually_reserved_none(db: Database, timeout: float) -> None:
    """Wait until no product is reserved: the reclaim job has given back every reservation that ran out."""
    deadline = time.monotonic() + timeout
    while await count(db, Assignment.id, Assignment.status == AssignmentStatus.RESERVED):
        assert time.monotonic() < deadline, "the reservations left behind did not come back"
        await asyncio.sleep(0.5)


async def test_workers_answer_exactly_once_while_instances_are_killed_and_restarted(
    telegram: FakeTelegram, tmp_path: Path, postgres_url: str, db: Database
) -> None:
    """Two instances, one of them killed with kill -9 twenty times (and started again) while twenty workers
    answer through both; two workers walk away from a product, whose reservation comes back to the pool
    once it runs out, for the others to answer."""
    products_, overlap, kills, ttl = 30, 2, 20, 10
    await load_products(postgres_url, db, products_, overlap)
    fleet = await start_fleet(
        telegram,
        tmp_path,
        2,
        DATABASE_URL=postgres_url,
        WEBHOOK_LEASE_SECONDS="2",
        ASSIGNMENT_TTL_SECONDS=str(ttl),
    )
    workers = [telegram.user(300 + n, f"Worker {n}") for n in range(WORKERS)]
    started = time.monotonic()
    try:
        for user in workers:
            await user.send("/start")
        await asyncio.gather(*(act(telegram, user) for user in workers))
        await asyncio.gather(
            kill_and_restart(fleet, kills, random.Random(7)),
            answer_until_none_left(telegram, workers[0], keep_last=True),
            answer_until_none_left(telegram, workers[1], keep_last=True),
            *(answer_until_none_left(telegram, user) for user in workers[2:]),
        )
        left = await count(db, Assignment.id, Assignment.status == AssignmentStatus.RESERVED)
        # The walked-away products come back once their reservations run out (the reclaim job of either
        # instance); then the workers answer them.
        await eventually_reserved_none(db, timeout=4 * ttl + 30)
        await asyncio.gather(*(answer_until_none_left(telegram, user) for user in workers[2:]))
    finally:
        await fleet.stop()
    elapsed = time.monotonic() - started
    await assert_answers_paid_once_and_books_sound(db, products_ * overlap, overlap)
    assert not apologies(workers)
    posts = len(telegram.webhook_posts)
    print(
        f"\n{products_ * overlap} answers by {WORKERS - 2} workers through 2 instances, {kills} kill -9, "
        f"{left} reservations left behind and reclaimed, {posts} webhook posts "
        f"({len(set(post.update_id for post in telegram.webhook_posts))} updates) in {elapsed:.0f} s"
    )


async def cut_the_database_off(proxy: TcpProxy, db: Database, outages: int) -> int:
    """The database goes away under the instances, again and again: every connection closed and none
    possible for a few seconds (a restart, as the instances see it), or their connections terminated by
    the server (pg_terminate_backend). Returns how many server connections were terminated."""
    terminated = 0
    for outage in range(outages):
        await asyncio.sleep(1.5)
        if outage % 2 == 0:
            await proxy.cut()
            await asyncio.sleep(3)
            await proxy.start()
        else:
            async with db.write() as session:
                terminated += len(
                    (
                        await session.execute(
                            text(
                                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = current_database() AND client_port = ANY(:ports)"
                            ),
                            {"ports": list(proxy.upstream_ports)},
                        )
                    ).all()
                )
    return terminated


async def test_instances_serve_on_without_a_restart_when_the_database_goes_away_and_comes_back(
    telegram: FakeTelegram, tmp_path: Path, postgres_url: str, db: Database
) -> None:
    """Workers answer while the instances' database connections are cut (a restart of PostgreSQL, as they
    see it) and terminated by the server: the updates of the outage wait at Telegram, which sends them
    again, and the same processes, never restarted, process them once each."""
    products_, overlap, workers_, outages = 16, 2, 8, 4
    await load_products(postgres_url, db, products_, overlap)
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    through_proxy = url.set(port=proxy.port).render_as_string(hide_password=False)
    fleet = await start_fleet(telegram, tmp_path, 2, DATABASE_URL=through_proxy, WEBHOOK_LEASE_SECONDS="2")
    pids = {n: process.pid for n, process in fleet.processes.items()}
    workers = [telegram.user(400 + n, f"Worker {n}") for n in range(workers_)]
    started = time.monotonic()
    try:
        for user in workers:
            await user.send("/start")
        await asyncio.gather(*(act(telegram, user) for user in workers))
        terminated, *_ = await asyncio.gather(
            cut_the_database_off(proxy, db, outages), *(answer_until_none_left(telegram, user) for user in workers)
        )
        assert all(fleet.alive(n) for n in pids) and {n: p.pid for n, p in fleet.processes.items()} == pids
        late = telegram.user(499, "Late")  # after the last outage the instances still serve, and answer healthz
        for _ in pids:
            await act(telegram, late, send="/start")
        assert welcomes(late) == len(pids)
        async with aiohttp.ClientSession() as http:
            for n in pids:
                async with http.get(f"{fleet.url(n)}/healthz") as response:
                    assert response.status == 200, f"instance {n} has its database back"
    finally:
        await fleet.stop()
        await proxy.stop()
    elapsed = time.monotonic() - started
    await assert_answers_paid_once_and_books_sound(db, products_ * overlap, overlap)
    assert telegram.pending_updates == 0
    assert not apologies(workers)
    failed = sum(post.status != 200 for post in telegram.webhook_posts)
    print(
        f"\n{products_ * overlap} answers by {workers_} workers through 2 instances, {outages} database outages "
        f"({terminated} connections terminated), {failed} webhook posts refused or failed and sent again, "
        f"in {elapsed:.0f} s"
    )


async def test_answers_and_notices_stay_exact_while_telegram_fails_answers_late_and_resets(
    telegram: FakeTelegram, tmp_path: Path, postgres_url: str, db: Database
) -> None:
    """Telegram's Bot API answers 502 to some calls, takes 2-5 s over others (the bot gives up on some of
    those) and resets the connection of others: workers answer all the same, each answer is paid once,
    and every message the bot owes arrives once, late perhaps."""
    products_, overlap, workers_ = 12, 2, 6
    await load_products(postgres_url, db, products_, overlap)
    owed = [telegram.user(5_000 + n, f"Person {n}") for n in range(20)]
    telegram.user(REQUESTER, "Shop")  # the batch's completion, when its job runs in time, owes them its results
    async with db.write() as session:
        for person in owed:
            await outbox.owe(session, f"test:{person.id}", person.id, Notice.PAYOUT_METHOD_REMINDER)
    fleet = await start_fleet(telegram, tmp_path, 2, DATABASE_URL=postgres_url, WEBHOOK_LEASE_SECONDS="2")
    workers = [telegram.user(600 + n, f"Worker {n}") for n in range(workers_)]
    calls = ("sendMessage", "editMessageText", "answerCallbackQuery")
    rng = random.Random(3)
    telegram.fail_at_random(calls, 0.1, rng)
    telegram.slow_at_random(calls, 0.05, rng)
    telegram.reset_at_random(calls, 0.05, rng)
    started = time.monotonic()
    try:
        for user in workers:
            await user.send("/start")
        await asyncio.gather(*(act(telegram, user) for user in workers))
        await asyncio.gather(*(answer_until_none_left(telegram, user) for user in workers))
        await eventually(lambda: all(person.messages for person in owed), "every owed message", timeout=120)
    finally:
        await fleet.stop()
    elapsed = time.monotonic() - started
    await assert_answers_paid_once_and_books_sound(db, products_ * overlap, overlap)
    assert [len(person.messages) for person in owed] == [1] * len(owed), "each owed message arrived once"
    assert not apologies(workers), "a failed update is Telegram's to send again, not the worker's to hear about"
    async with db.read() as session:
        mine = OutboxMessage.dedupe_key.like("test:%")
        assert Counter(await session.scalars(select(OutboxMessage.state).where(mine))) == {OutboxState.SENT: len(owed)}
    failed = [call for call in telegram.requests if call.method in calls and call.status != 200]
    print(
        f"\n{products_ * overlap} answers by {workers_} workers and {len(owed)} owed messages, "
        f"{len(failed)} Bot API calls failed and others slowed or reset, in {elapsed:.0f} s"
    )
