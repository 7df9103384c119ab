"""Telegram's flood control: the bot paces its messages at TELEGRAM_MESSAGES_PER_SECOND; a 429 with
retry_after is waited out and the call made again, never dropped and never made early; a message the bot
owes goes back to the outbox, due no sooner than retry_after."""

from itertools import pairwise

from sqlalchemy import select

from bot import outbox
from bot.outbox import Notice
from handlers.metrics import METRICS
from handlers.outbox import FLOOD_RETRIES
from sandbox.telegram_server import ApiCall
from storage.models import OutboxMessage
from storage.states import OutboxState
from tests.conftest import MovableClock
from tests.e2e.conftest import RunningBot, StartBot

FLOODS = 4  # more 429s in a row than any fixed number of retries the bot had before
WAIT = 1  # seconds, as Telegram's retry_after


def _gaps(calls: list[ApiCall]) -> list[float]:
    return [later.at - earlier.at for earlier, later in pairwise(calls)]


def _floods_counted(bot: RunningBot) -> float | None:
    """crowdshelf_telegram_floods_total, as /metrics shows it."""
    return bot.app.bot_data[METRICS].registry.get_sample_value("crowdshelf_telegram_floods_total")


async def test_a_reply_hit_by_429s_waits_each_out_and_arrives_once(bot: RunningBot) -> None:
    ann = bot.user(101, "Ann")
    bot.telegram.fail_next("sendMessage", f"Too Many Requests: retry after {WAIT}", times=FLOODS)
    await ann.send("/start")
    await bot.settle(timeout=30)
    calls = bot.telegram.calls("sendMessage")
    assert [call.status for call in calls] == [429] * FLOODS + [200]
    assert all(gap >= WAIT for gap in _gaps(calls)), "each try waits for the retry_after of the one before"
    assert [message.body.startswith("👋 Hi Ann") for message in ann.messages] == [True]
    assert _floods_counted(bot) == FLOODS


async def test_an_owed_message_hit_by_429s_is_due_again_only_after_retry_after(
    bot: RunningBot, clock: MovableClock
) -> None:
    """The delivery waits out one 429 in line; at the next it keeps the message for a later run, due after
    Telegram's retry_after even where its own backoff would try sooner. Then it arrives, once."""
    ann = bot.user(101, "Ann")
    wait = int(outbox.backoff(1).total_seconds()) + 1
    bot.app.job_queue.scheduler.pause()  # only this test's delivery runs send
    bot.telegram.fail_next("sendMessage", f"Too Many Requests: retry after {wait}", times=FLOOD_RETRIES + 1)
    async with bot.services.db.write() as session:
        await outbox.owe(session, "test:flood", ann.id, Notice.PAYOUT_METHOD_REMINDER)
    assert await bot.deliver() == 0
    calls = bot.telegram.calls("sendMessage")
    assert [call.status for call in calls] == [429] * (FLOOD_RETRIES + 1)
    assert all(gap >= wait for gap in _gaps(calls))
    assert _floods_counted(bot) == FLOOD_RETRIES + 1
    clock.advance(wait - 1)  # past the backoff, not yet past retry_after
    assert await bot.deliver() == 0 and len(bot.telegram.calls("sendMessage")) == FLOOD_RETRIES + 1
    clock.advance(1)
    assert await bot.deliver() == 1
    assert [message.body for message in ann.messages if "where to send the money" in message.body] != []
    assert len(ann.messages) == 1
    async with bot.services.db.read() as session:
        assert (await session.execute(select(OutboxMessage.state, OutboxMessage.attempts))).all() == [
            (OutboxState.SENT, 2)
        ]


async def test_the_bot_sends_no_faster_than_its_messages_per_second(start_bot: StartBot) -> None:
    bot = await start_bot(telegram_messages_per_second=5)
    people = [bot.user(300 + n, f"Person {n}") for n in range(10)]
    async with bot.services.db.write() as session:
        for person in people:
            await outbox.owe(session, f"test:{person.id}", person.id, Notice.PAYOUT_METHOD_REMINDER)
    await bot.settle(timeout=30)
    sent = sorted(call.at for call in bot.telegram.calls("sendMessage"))
    assert len(sent) == len(people) and all(len(person.messages) == 1 for person in people)
    # 5 at once, then one every fifth of a second (AIORateLimiter's leaky bucket): the tenth a second after.
    assert sent[-1] - sent[0] >= 0.8
