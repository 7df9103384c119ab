"""Quality control through the bot: a spammer removed with the reasons, a too-fast worker held for an admin."""

import re

from sqlalchemy import update

from bot import admin as admins
from bot.money import ledger
from sandbox.telegram_server import FakeUser
from storage import ledger as books
from storage.models import Batch
from tests.conftest import ScriptedRandom
from tests.e2e.conftest import RunningBot, StartBot
from tests.e2e.test_worker import COOKWARE, begin, press, send
from tests.factories import SKILLETS, load_batch, products

ADMIN = 900


async def test_spammer_removed_with_message_and_rejections(start_bot: StartBot, checks_first: None) -> None:
    # checks_first: the five gold products are served first as checks, all answered wrong.
    bot: RunningBot = await start_bot(admin_ids=str(ADMIN))
    await load_batch(bot.services, products(8, gold={n: SKILLETS for n in range(1, 6)}), overlap=2)
    spam = bot.user(101, "Sam")
    await begin(bot, spam)
    task_id = spam.last.message_id
    for _ in range(5):
        for label in (*COOKWARE, "Woks"):
            await press(bot, spam, label)
    removal = spam.last.body
    assert "You were removed from “Kitchen”" in removal and "at best 43%" in removal
    assert removal.count("you chose Home & Garden › Kitchen & Dining › Cookware & Bakeware › Cookware › Woks") == 5
    assert "5 answers since your last correct check were rejected" in removal
    assert "No tasks right now" in spam.message(task_id).body
    async with bot.services.db.read() as session:
        assert await ledger.worker_balance(session, 101) == ledger.WorkerBalance(0, 0, 0, 0)
        assert await books.inconsistencies(session) == []
    await send(bot, spam, "/work")
    assert "No tasks right now" in spam.last.body, "the batch is closed to them"


async def test_products_of_a_removed_spammer_go_to_the_next_worker(start_bot: StartBot, draws: ScriptedRandom) -> None:
    """Two products of work, then five wrong checks: the spammer is removed, all seven answers are
    rejected, and the two products come back to the pool, paid for by the money the rejection put
    back in the batch's reserve."""
    draws.script(1.0, 1.0, *[0.0] * 5, then=1.0)
    bot: RunningBot = await start_bot(admin_ids=str(ADMIN))
    await load_batch(bot.services, products(8, gold={n: SKILLETS for n in range(1, 6)}), overlap=1, gold_rate=0.5)
    spam, hana = bot.user(101, "Sam"), bot.user(102, "Hana")
    await begin(bot, spam)
    for _ in range(7):
        for label in (*COOKWARE, "Woks"):
            await press(bot, spam, label)
    assert "7 answers since your last correct check were rejected" in spam.last.body

    await begin(bot, hana)
    seen = []
    for _ in range(3):
        seen.append(re.search(r"Product \d+", hana.last.body).group())
        for label in (*COOKWARE, "Skillets & Frying Pans"):
            await press(bot, hana, label)
    assert seen == ["Product 6", "Product 7", "Product 8"], "the spammer's two products, then the last"
    assert "No tasks right now" in hana.last.body
    await send(bot, hana, "/balance")
    assert "$0.06" in hana.last.body
    async with bot.services.db.read() as session:
        assert await ledger.worker_balance(session, 101) == ledger.WorkerBalance(0, 0, 0, 0)
        assert await books.inconsistencies(session) == []


async def test_careless_after_a_perfect_quiz_is_removed(start_bot: StartBot, checks_first: None) -> None:
    """Five right quiz answers, then five wrong checks: out of the batch, told so, the checks' pay taken
    back; the quiz stays paid."""
    bot: RunningBot = await start_bot(admin_ids=str(ADMIN))
    await load_batch(bot.services, products(14, gold={n: SKILLETS for n in range(1, 11)}), overlap=1, qualification=5)
    sly = bot.user(101, "Sly")
    await begin(bot, sly)
    for _ in range(5):
        for label in (*COOKWARE, "Skillets & Frying Pans"):
            await press(bot, sly, label)
    assert "Qualified for “Kitchen”: 5 of 5 right" in sly.last.body
    for _ in range(5):
        for label in (*COOKWARE, "Woks"):
            await press(bot, sly, label)
    removal = sly.last.body
    assert "You were removed from “Kitchen”" in removal and "known-answer questions" in removal
    assert "at best 43%" in removal and "5 answers since your last correct check were rejected" in removal
    async with bot.services.db.read() as session:
        assert await ledger.worker_balance(session, 101) == ledger.WorkerBalance(5 * 20_000, 0, 0, 0)
        assert await books.inconsistencies(session) == []


async def test_too_fast_worker_held_and_reinstated(start_bot: StartBot) -> None:
    bot: RunningBot = await start_bot(admin_ids=str(ADMIN))
    await load_batch(bot.services, products(6), overlap=1, name="Pots & <Pans>")  # names are text, not markup
    async with bot.services.db.write() as session:
        await session.execute(update(Batch).values(min_seconds=60))
    fast, admin = bot.user(101, "Flash"), bot.user(ADMIN, "Ada")
    await begin(bot, fast)
    task_id = fast.last.message_id
    for _ in range(3):
        for label in (*COOKWARE, "Woks"):
            await press(bot, fast, label)
    assert "paused for a review" in fast.last.body and "No tasks right now" in fast.message(task_id).body
    assert "held in batch #1 “Pots & <Pans>”" in admin.last.body and "/reinstate 101 1" in admin.last.body
    await send(bot, fast, "/work")
    assert "No tasks right now" in fast.last.body
    await send(bot, bot.user(102, "Nobody"), "/reinstate 101 1")
    assert "only admins" in bot.user(102).last.body
    await send(bot, admin, "/reinstate 101 1")
    assert "can work on batch 1 again" in admin.last.body
    await send(bot, fast, "/work")
    assert "Product 4" in fast.last.body


async def hold_a_fast_worker(bot: RunningBot) -> tuple[FakeUser, FakeUser]:
    """Flash answers three products in no time on a batch whose floor is 60 s: held, the admins told."""
    await load_batch(bot.services, products(6), overlap=1, name="Pots & <Pans>")
    async with bot.services.db.write() as session:
        await session.execute(update(Batch).values(min_seconds=60))
    fast, admin = bot.user(101, "Flash"), bot.user(ADMIN, "Ada")
    await send(bot, admin, "/start")
    await begin(bot, fast)
    for _ in range(3):
        for label in (*COOKWARE, "Woks"):
            await press(bot, fast, label)
    assert "paused for a review" in fast.last.body
    return fast, admin


async def test_an_admin_removes_a_held_worker_and_their_answers_are_rejected(start_bot: StartBot) -> None:
    bot: RunningBot = await start_bot(admin_ids=str(ADMIN))
    fast, admin = await hold_a_fast_worker(bot)
    notice = admin.last
    assert notice.buttons == [["▶ Let them continue", "✖ Remove, reject answers"]]
    let_continue, remove = notice.callback_data[0]
    await send(bot, bot.user(102, "Nobody"), "/start")
    await bot.user(102).press_data(remove, bot.user(102).last.message_id)
    await bot.settle()
    assert "only admins" in bot.user(102).last.body, "a forged button from a non-admin decides nothing"
    await press(bot, admin, "✖ Remove, reject answers")
    assert admin.message(notice.message_id).body.endswith("✖ Removed by Ada: 3 answers rejected.")
    assert admin.message(notice.message_id).buttons == []
    told = fast.last.body
    assert "After a review you are removed from “Pots & <Pans>” (3 of their last 10 answers took under 60.0 s)" in told
    assert "3 of your answers there, whose pay was still in its hold, are rejected" in told
    async with bot.services.db.read() as session:
        assert await ledger.worker_balance(session, 101) == ledger.WorkerBalance(0, 0, 0, 0)
        assert await books.inconsistencies(session) == []
    await admin.press_data(let_continue, notice.message_id)  # a second admin's stale tap
    await bot.settle()
    assert admin.last.body == "Worker 101 is not held in batch #1 any more: the hold was already decided."
    await send(bot, fast, "/work")
    assert "No tasks right now" in fast.last.body, "out of the batch"
    await send(bot, fast, "/stats")
    reason = "3 of their last 10 answers took under 60.0 s; confirmed by an admin"
    assert fast.last.body.endswith(f"✖ #1 “Pots & <Pans>”: removed ({reason})")
    careful = bot.user(103, "Cleo")
    await begin(bot, careful)
    assert "Product 1" in careful.last.body, "the rejected answers' products are open again"
    await send(bot, admin, "/held")
    assert admin.last.body == "No worker is held by quality control."


async def test_held_workers_listed_for_admins_and_let_back_in(start_bot: StartBot) -> None:
    bot: RunningBot = await start_bot(admin_ids=str(ADMIN))
    fast, admin = await hold_a_fast_worker(bot)
    await send(bot, fast, "/stats")
    assert fast.last.body.endswith(
        "⏸ #1 “Pots & <Pans>”: paused for a review (3 of their last 10 answers took under 60.0 s)"
    )
    await send(bot, admin, "/held")
    listed = admin.last
    assert listed.body.startswith("⏸ Flash (101) in batch #1 “Pots & <Pans>”, held since ")
    assert listed.body.endswith(
        ": 3 of their last 10 answers took under 60.0 s. 3 answers in the batch still in their hold."
    )
    assert admin.texts[-2] == "1 worker held by quality control, oldest first."
    await press(bot, admin, "▶ Let them continue")
    assert admin.message(listed.message_id).body.endswith("▶ Let back in by Ada.")
    assert fast.last.body == "▶ Your work on “Pots & <Pans>” was reviewed: you can go on. /work"
    await send(bot, fast, "/work")
    assert "Product 4" in fast.last.body
    async with bot.services.db.read() as session:
        assert (await ledger.worker_balance(session, 101)).pending == 3 * 20_000, "nothing rejected"
        audit = await admins.recent_audit(session)
    assert ("hold_continue", "101", "batch 1") in [(line.action, line.target, line.details) for line in audit]
