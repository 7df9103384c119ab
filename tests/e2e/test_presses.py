"""Presses made while the bot was down, and presses delivered twice, through the real Application."""

from sqlalchemy import func, select

from bot.money import ledger
from handlers import texts
from sandbox.telegram_server import FakeUser
from storage import ledger as books
from storage.models import Assignment
from storage.states import AssignmentStatus
from tests.e2e.conftest import RunningBot, StartBot
from tests.e2e.test_worker import COOKWARE, begin, data_of, press, send
from tests.factories import load_batch, products

LEAF = "Casserole Dishes"  # a final category on the first page of Cookware
DOWNTIME_SECONDS = 30  # twice as long as Telegram lets a callback query be answered


async def answered_by(bot: RunningBot) -> dict[int, int]:
    """How many answers each worker has recorded."""
    async with bot.services.db.read() as session:
        rows = await session.execute(
            select(Assignment.worker_id, func.count())
            .where(Assignment.status == AssignmentStatus.ANSWERED)
            .group_by(Assignment.worker_id)
        )
        return {worker: count for worker, count in rows.all()}


def apologies(user: FakeUser) -> list[str]:
    return [body for body in user.texts if "went wrong" in body or "lost" in body]


async def test_answers_pressed_while_the_bot_was_down_are_recorded_and_shown(
    bot: RunningBot, start_bot: StartBot
) -> None:
    await load_batch(bot.services, products(20), overlap=1)
    workers = [bot.user(101 + n, f"Worker{n}") for n in range(10)]
    task_messages = {}
    for worker in workers:
        await begin(bot, worker)
        for label in COOKWARE:
            await press(bot, worker, label)
        task_messages[worker.id] = worker.last.message_id
    await bot.stop()

    for worker in workers:
        await worker.press(LEAF)
    bot.telegram.advance(DOWNTIME_SECONDS)
    back = await start_bot()
    await back.settle()

    refused = [call for call in back.telegram.calls("answerCallbackQuery") if not call.ok]
    assert len(refused) == 10, "each press waited too long to be answered"
    assert await answered_by(back) == {worker.id: 1 for worker in workers}
    async with back.services.db.read() as session:
        for worker in workers:
            assert (await ledger.worker_balance(session, worker.id)).pending == 20_000
        assert await books.inconsistencies(session) == []
    for worker in workers:
        shown = worker.message(task_messages[worker.id]).body
        assert "✔ +$0.02 · pending $0.02" in shown and "Product" in shown, "the next product replaces the answered one"
        assert apologies(worker) == []


async def test_other_buttons_pressed_while_the_bot_was_down_are_handled(bot: RunningBot, start_bot: StartBot) -> None:
    wendy = bot.user(201, "Wendy")
    await send(bot, wendy, "/payout_method")
    await bot.stop()
    await wendy.press("PayPal e-mail")
    bot.telegram.advance(DOWNTIME_SECONDS)
    back = await start_bot()
    await back.settle()
    assert "PayPal" in wendy.last.body and apologies(wendy) == []
    await send(back, wendy, "wendy@example.com")
    assert "saved: PayPal e-mail: wendy@example.com" in wendy.last.body


async def answer_once(bot: RunningBot, ann: FakeUser) -> tuple[dict, str]:
    """Ann answers her first product; returns the press and the button's data."""
    await load_batch(bot.services, products(3), overlap=1)
    await begin(bot, ann)
    for label in COOKWARE:
        await press(bot, ann, label)
    data = data_of(ann, LEAF)
    return await press(bot, ann, LEAF), data


async def assert_one_answer_credited(bot: RunningBot, worker_id: int) -> None:
    assert await answered_by(bot) == {worker_id: 1}
    async with bot.services.db.read() as session:
        assert (await ledger.worker_balance(session, worker_id)).pending == 20_000
        assert await books.inconsistencies(session) == []


async def test_a_replayed_answer_is_already_recorded_and_changes_nothing(bot: RunningBot) -> None:
    ann = bot.user(101)
    first, data = await answer_once(bot, ann)
    shown = [message.body for message in ann.messages]
    again = await ann.press_data(data, first["message"]["message_id"])  # the same button, from a stale copy
    await bot.settle()
    assert ann.callback_answer(again["id"]) == {"text": texts.ALREADY_RECORDED, "show_alert": False}
    assert [message.body for message in ann.messages] == shown, "nothing was sent or edited"
    await assert_one_answer_credited(bot, 101)


async def test_an_answer_delivered_twice_changes_nothing_and_says_nothing(bot: RunningBot) -> None:
    ann = bot.user(101)
    first, _ = await answer_once(bot, ann)
    shown = [message.body for message in ann.messages]
    bot.telegram.enqueue({"callback_query": first})  # the same update again: its query was answered before
    await bot.settle()
    assert [message.body for message in ann.messages] == shown, "the worker saw the outcome the first time"
    await assert_one_answer_credited(bot, 101)


async def test_a_replayed_skip_is_already_recorded(bot: RunningBot) -> None:
    await load_batch(bot.services, products(3), overlap=1)
    ann = bot.user(101)
    await begin(bot, ann)
    task_message = ann.last.message_id
    skip = data_of(ann, texts.BUTTON_SKIP)
    await press(bot, ann, texts.BUTTON_SKIP)
    assert "Product 2" in ann.last.body
    shown = [message.body for message in ann.messages]

    again = await ann.press_data(skip, task_message)
    await bot.settle()
    assert ann.callback_answer(again["id"]) == {"text": texts.ALREADY_RECORDED, "show_alert": False}
    assert [message.body for message in ann.messages] == shown
    async with bot.services.db.read() as session:
        statuses = list(await session.scalars(select(Assignment.status).order_by(Assignment.id)))
    assert statuses == [AssignmentStatus.SKIPPED, AssignmentStatus.RESERVED]
