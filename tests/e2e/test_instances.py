"""Two bot instances on one database serve one bot: what each user sends may reach either, at the same
instant. On SQLite the two are two engines on one file (BEGIN IMMEDIATE serialises their writes); the
races these tests look for are PostgreSQL's, where transactions of two processes interleave."""

import asyncio
from collections import Counter

from sqlalchemy import func, select

from bot import outbox
from bot.outbox import Notice
from handlers import notify, texts
from sandbox.telegram_server import FakeTelegram
from storage.db import Database
from storage.models import Assignment, OutboxMessage, Payout, User
from storage.states import AssignmentStatus, OutboxState
from tests.bot.test_payouts import add_worker, make_available
from tests.conftest import MovableClock, ScriptedRandom
from tests.e2e.instances import instances, spread
from tests.factories import REQUESTER, load_batch, products

WORKERS = range(3001, 3041)
ADMIN = 77
YES = "✔ Yes"


async def test_a_new_user_on_two_instances_at_once_is_registered_once_quietly(
    database_url: str, telegram: FakeTelegram, clock: MovableClock, draws: ScriptedRandom
) -> None:
    people = [telegram.user(worker, f"W{worker}") for worker in WORKERS]
    async with instances(2, database_url, telegram, clock, draws) as (first, second):
        for person in people:  # two /start at once, one to each instance
            await person.send("/start")
            await person.send("/start")
        await spread(telegram, first, second)
        async with first.services.db.read() as session:
            registered = Counter(await session.scalars(select(User.id).where(User.id.in_(WORKERS))))
    assert registered == Counter(WORKERS)
    for person in people:
        assert texts.SOMETHING_WENT_WRONG not in person.texts
        assert [f"Hi W{person.id}" in body for body in person.texts] == [True, True]


async def test_the_per_worker_cap_holds_when_work_reaches_two_instances_at_once(
    database_url: str, telegram: FakeTelegram, clock: MovableClock, draws: ScriptedRandom
) -> None:
    """A cap of one answer per worker: each worker's two /work sent at once (one to each instance) get one
    product between them, and pressing every card they were shown records one answer."""
    async with instances(2, database_url, telegram, clock, draws) as (first, second):
        rows = [
            {"item_id": f"p{n}", "title": f"Product {n}", "image_url": f"https://img.example.com/{n}.jpg"}
            for n in range(100)
        ]
        await load_batch(
            first.services, rows, task_type="image_match", overlap=1, gold_rate=0, max_share=0.01, root=None
        )
        people = [telegram.user(worker, f"W{worker}") for worker in WORKERS]
        for person in people:
            await person.send("/start")
        await spread(telegram, first)
        for person in people:
            await person.send("/work")
            await person.send("/work")
        await spread(telegram, first, second)
        async with first.services.db.read() as session:
            held = Counter(
                await session.scalars(
                    select(Assignment.worker_id).where(Assignment.status == AssignmentStatus.RESERVED)
                )
            )
        assert held == Counter(WORKERS), "one product each"
        for person in people:
            for card in [message for message in person.messages if any(YES in row for row in message.buttons)]:
                await person.press(YES, card.message_id)
        await spread(telegram, first, second)
        async with first.services.db.read() as session:
            answers = dict(
                (
                    await session.execute(
                        select(Assignment.worker_id, func.count())
                        .where(Assignment.status == AssignmentStatus.ANSWERED)
                        .group_by(Assignment.worker_id)
                    )
                ).all()
            )
    assert answers == dict.fromkeys(WORKERS, 1)


async def test_scheduled_jobs_on_two_instances_at_once_create_and_send_each_message_once(
    database_url: str, db: Database, telegram: FakeTelegram, clock: MovableClock, draws: ScriptedRandom
) -> None:
    """Both instances run the payout sweep and the daily digest at the same moment, then both deliver what
    is owed: each worker hears once (a payout requested, or the reminder to set a method), the admin
    gets one notice per payout, the requester one digest; the books stay sound (checked after every
    test that has `db`)."""
    paid, unpaid = WORKERS[:10], WORKERS[10:20]
    async with instances(2, database_url, telegram, clock, draws, admin_ids=str(ADMIN)) as (first, second):
        threshold = first.services.settings.payout_threshold_micros
        async with first.services.db.write() as session:
            for worker_id in [*paid, *unpaid]:
                method = ("paypal", f"w{worker_id}@example.com") if worker_id in paid else None
                await add_worker(session, worker_id, method=method)
                await make_available(session, worker_id, threshold)
        await load_batch(first.services, products(3), overlap=1, gold_rate=0)
        people = {person: telegram.user(person, f"P{person}") for person in [*paid, *unpaid, ADMIN, REQUESTER]}
        jobs = ("payout-sweep", "daily-digest")
        await asyncio.gather(*(instance.run_job(job) for job in jobs for instance in (first, second)))
        while sum(await asyncio.gather(first.deliver(), second.deliver())):
            pass
        async with first.services.db.read() as session:
            payouts = Counter(await session.scalars(select(Payout.worker_id)))
    assert payouts == Counter(paid)
    heard = {person: len(user.messages) for person, user in people.items()}
    assert heard == {**dict.fromkeys([*paid, *unpaid], 1), ADMIN: len(paid), REQUESTER: 1}
    assert all("don't know where to send the money" in people[worker].last.body for worker in unpaid)
    assert people[REQUESTER].last.body.startswith("🗓 Daily digest")


async def test_the_delivery_jobs_of_two_instances_at_once_send_each_owed_message_once(
    database_url: str, telegram: FakeTelegram, clock: MovableClock, draws: ScriptedRandom
) -> None:
    people = [telegram.user(person, f"P{person}") for person in range(5_000, 5_000 + 3 * outbox.CLAIM_LIMIT)]
    async with instances(2, database_url, telegram, clock, draws) as (first, second):
        async with first.services.db.write() as session:
            for person in people:
                await outbox.owe(session, f"test:{person.id}", person.id, Notice.PAYOUT_METHOD_REMINDER)
        await asyncio.gather(first.run_job(notify.DELIVERY_JOB), second.run_job(notify.DELIVERY_JOB))
        async with first.services.db.read() as session:
            states = Counter(await session.scalars(select(OutboxMessage.state)))
    assert [len(person.messages) for person in people] == [1] * len(people)
    assert states == {OutboxState.SENT: len(people)}
