"""Owed messages (a payout requested, a batch completed, …) survive Telegram's errors and go out once."""

import asyncio
import csv
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot import outbox, work
from bot.outbox import Notice
from bot.wiring.services import build_services
from handlers import notify
from handlers import outbox as delivery
from storage.clock import utcnow
from storage.db import connect
from storage.models import OutboxMessage, PayoutNotice, User
from storage.states import OutboxState
from tests.bot.test_payouts import add_worker, make_available
from tests.e2e.conftest import RunningBot, StartBot
from tests.factories import REQUESTER, SKILLETS, load_batch, products

WORKERS, ADMINS = (101, 102, 103), (900, 901)
BAD_GATEWAY = ("Bad Gateway", 502)


@pytest.fixture
async def bot(start_bot: StartBot) -> RunningBot:
    return await start_bot(admin_ids=",".join(map(str, ADMINS)), payout_threshold="10", hold_hours=0)


async def time_passes(bot: RunningBot) -> None:
    """Every retry that waits comes due, as it would after its backoff."""
    async with bot.services.db.write() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.state == OutboxState.PENDING)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )


async def workers_due_a_payout(bot: RunningBot) -> None:
    async with bot.services.db.write() as session:
        for worker_id in WORKERS:
            await add_worker(session, worker_id, method=("paypal", f"w{worker_id}@example.com"))
            await make_available(session, worker_id, 12_000_000)


async def test_a_502_during_the_payout_sweep_delays_one_message_and_loses_none(bot: RunningBot) -> None:
    workers = [bot.user(worker_id, f"W{worker_id}") for worker_id in WORKERS]
    admins = [bot.user(admin_id, f"A{admin_id}") for admin_id in ADMINS]
    await workers_due_a_payout(bot)
    bot.telegram.fail_next("sendMessage", *BAD_GATEWAY)  # the first message the sweep owes
    await bot.run_job("payout-sweep")
    await bot.settle()
    told = [len(person.messages) for person in workers + admins]
    assert sorted(told) == [0, 1, 1, 3, 3] or sorted(told) == [1, 1, 1, 2, 3], "one failure holds up nobody else"

    await time_passes(bot)
    await bot.settle()
    for number, (worker_id, worker) in enumerate(zip(WORKERS, workers, strict=True), start=1):
        assert [message.body for message in worker.messages] == [
            f"📤 Payout of $12.00 to PayPal e-mail: w{worker_id}@example.com requested (#{number}). "
            "An admin will review it; you'll get a message either way."
        ]
    for admin in admins:
        assert sorted(re.search(r"Payout #(\d+)", message.body)[1] for message in admin.messages) == ["1", "2", "3"]
        assert all(message.buttons == [["✅ Approve", "❌ Reject"]] for message in admin.messages)
    async with bot.services.db.read() as session:
        notices = (await session.execute(select(PayoutNotice.admin_id, PayoutNotice.message_id))).all()
    assert len(notices) == 6, "every admin's copy is remembered, so a decision can edit it"

    # A decision reaches the worker, and takes the buttons off both admins' copies.
    first = admins[0]
    notice = next(m for m in first.messages if "Payout #1" in m.body)
    await first.press("✅ Approve", message_id=notice.message_id)
    await bot.settle()
    assert "was approved" in workers[0].last.body
    for admin in admins:
        assert all(m.buttons == [] for m in admin.messages if "Payout #1" in m.body)


async def test_a_502_to_the_requester_at_completion_delays_the_news_and_its_files(bot: RunningBot) -> None:
    shop = bot.user(REQUESTER, "Shop")
    await load_batch(bot.services, products(2), overlap=1, gold_rate=0)
    async with bot.services.db.write() as session:
        session.add(User(id=WORKERS[0], first_name="Wendy"))
    leaf = (await bot.services.taxonomies.get(1)).tree.find(SKILLETS).id
    task = await work.next_task(bot.services, WORKERS[0])
    while task is not None:
        task = (await work.answer(bot.services, WORKERS[0], task.assignment_id, 0, str(leaf))).next_task
    bot.telegram.fail_next("sendMessage", *BAD_GATEWAY)
    await bot.run_job("complete-batches")
    await bot.settle()
    assert shop.messages == [], "the files wait behind the message that announces them"
    await bot.run_job("complete-batches")  # the batch is completed: a later run owes nothing more
    await time_passes(bot)
    await bot.settle()
    assert shop.messages[0].body.startswith("✅ Batch #1 “Kitchen” is complete.")
    assert [message.document["file_name"] for message in shop.messages[1:]] == [
        "batch-1-results.csv",
        "batch-1-answers.csv",
    ]
    rows = list(csv.DictReader(io.StringIO(shop.messages[1].document_bytes.decode())))
    assert [row["answers"] for row in rows] == ["1", "1"]
    assert len(shop.messages) == 3


async def test_a_blocked_user_is_given_up_and_the_others_still_hear(bot: RunningBot) -> None:
    workers = [bot.user(worker_id, f"W{worker_id}") for worker_id in WORKERS]
    admins = [bot.user(admin_id, f"A{admin_id}") for admin_id in ADMINS]
    workers[1].blocked = True
    await workers_due_a_payout(bot)
    await bot.run_job("payout-sweep")
    await bot.settle()
    assert [len(worker.messages) for worker in workers] == [1, 0, 1]
    assert [len(admin.messages) for admin in admins] == [3, 3]
    async with bot.services.db.read() as session:
        given_up = (
            await session.execute(
                select(OutboxMessage.chat_id, OutboxMessage.last_error).where(
                    OutboxMessage.state == OutboxState.GIVEN_UP
                )
            )
        ).all()
        assert given_up == [(WORKERS[1], "blocked by the user")]
        assert (await session.get(User, WORKERS[1])).is_reachable is False
        pending = await session.scalar(select(OutboxMessage.id).where(OutboxMessage.state == OutboxState.PENDING))
        assert pending is None


async def test_two_delivery_runs_racing_send_each_message_once(bot: RunningBot, database_url: str) -> None:
    """Two processes' delivery runs (one database engine each) over one outbox: every message once."""
    people = range(2_000, 2_000 + 3 * outbox.CLAIM_LIMIT)
    for person in people:
        bot.user(person, f"P{person}")
    # Owed directly: the scheduled job and kicks of this bot must not take part.
    bot.app.job_queue.scheduler.pause()
    async with bot.services.db.write() as session:
        for person in people:
            await outbox.owe(session, f"test:{person}", person, Notice.PAYOUT_METHOD_REMINDER)
            await outbox.owe(session, f"test:{person}", person, Notice.PAYOUT_METHOD_REMINDER)  # the same cause
    other = connect(database_url)
    try:
        first, second = await asyncio.gather(
            delivery.deliver(bot.app.bot, bot.services),
            delivery.deliver(bot.app.bot, build_services(bot.services.settings, other)),
        )
    finally:
        await other.dispose()
    sent = bot.telegram.calls("sendMessage")
    assert sorted(call.params["chat_id"] for call in sent) == list(people)
    assert first + second == len(people)
    async with bot.services.db.read() as session:
        states = (await session.scalars(select(OutboxMessage.state))).all()
    assert states == [OutboxState.SENT] * len(people)


async def test_a_message_telegram_refuses_is_given_up_with_the_reason(bot: RunningBot) -> None:
    """A BadRequest (here: a chat the bot never talked to) would be refused again: no retry."""
    known = bot.user(WORKERS[0], "Wendy")
    async with bot.services.db.write() as session:
        await outbox.owe(session, "test:stranger", 555, Notice.PAYOUT_METHOD_REMINDER)
        await outbox.owe(session, "test:known", WORKERS[0], Notice.PAYOUT_METHOD_REMINDER)
    await bot.settle()
    assert "don't know where to send the money" in known.last.body
    async with bot.services.db.read() as session:
        rows = (
            await session.execute(select(OutboxMessage.chat_id, OutboxMessage.state, OutboxMessage.last_error))
        ).all()
    assert sorted(rows) == [(WORKERS[0], OutboxState.SENT, None), (555, OutboxState.GIVEN_UP, "Chat not found")]


async def test_the_daily_digest_goes_out_once_a_day_however_many_processes_run_it(bot: RunningBot) -> None:
    shop = bot.user(REQUESTER, "Shop")
    await load_batch(bot.services, products(2), overlap=1, gold_rate=0)
    await bot.run_job("daily-digest")
    await bot.run_job("daily-digest")  # another process's run of the same job
    assert [message.body.split("\n")[0] for message in shop.messages] == ["🗓 Daily digest"]


async def test_a_change_delivers_what_it_owes_at_once(bot: RunningBot) -> None:
    """No waiting for the next tick: the handler that made the change starts a delivery run."""
    (tick,) = bot.app.job_queue.get_jobs_by_name(notify.DELIVERY_JOB)
    tick.enabled = False  # only the kick can deliver now (settle() would deliver too: not used here)
    worker, admin = bot.user(WORKERS[0], "Wendy"), bot.user(ADMINS[0], "Ada")
    await worker.send("/start")
    await bot.settle()  # registered (nothing is owed yet)
    await admin.send(f"/suspend {WORKERS[0]} spam")
    deadline = asyncio.get_running_loop().time() + 10
    while not any("suspended: spam" in message.body for message in worker.messages):
        assert asyncio.get_running_loop().time() < deadline, "the suspension was not delivered"
        await asyncio.sleep(0.02)
