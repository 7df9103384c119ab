"""How the bot takes its updates by long polling (handlers.running.polling), as `crowdshelf run` does."""

import logging
import time

import pytest

from handlers.running import POLL_PAUSE
from tests.e2e.conftest import RunningBot, StartBot
from tests.e2e.loopback import eventually


async def test_the_bot_pauses_after_updates_before_it_asks_for_more(bot: RunningBot) -> None:
    """Under load, the updates that come during the pause are fetched together, not one getUpdates each."""
    ann = bot.user(5, "Ann")
    sent = time.monotonic()
    await ann.send("/start")
    await bot.settle()
    await ann.send("/help")  # ends the long poll that followed, so the server records it
    await bot.settle()

    polls = sorted(bot.telegram.calls("getUpdates"), key=lambda call: call.at)
    delivering = next(n for n, call in enumerate(polls) if call.response["result"])
    assert polls[delivering].response["result"][0]["message"]["text"] == "/start"
    # That poll answered once /start was sent, at the earliest; the next came the pause after it, at the earliest.
    assert polls[delivering + 1].at - sent >= POLL_PAUSE


async def test_a_second_process_polling_the_bot_is_one_line_a_minute_not_a_traceback_a_poll(
    start_bot: StartBot, caplog: pytest.LogCaptureFixture
) -> None:
    """Telegram refuses each of two pollers' getUpdates when the other's comes (409 Conflict); both keep
    going. (An update may reach both: neither has confirmed it when the other asks.)"""
    first = await start_bot()
    await start_bot()  # the same token: another `crowdshelf run` by polling, by mistake
    ann = first.user(101, "Ann")
    with caplog.at_level(logging.WARNING):
        await eventually(lambda: len(first.telegram.errors) >= 5, "the pollers to refuse each other a few times")
        await ann.send("/start")
        await first.settle()
    said = [record for record in caplog.records if "refused getUpdates" in record.getMessage()]
    assert len(said) == 2, "one line from each poller, refused by turns: at most once a minute, however often"
    assert "Only one process may take a bot's updates by polling" in said[0].getMessage()
    assert "terminated by other getUpdates request" in said[0].getMessage()
    assert not [record for record in caplog.records if record.exc_info], "no traceback"
    assert ann.messages and all(message.body.startswith("👋 Hi Ann") for message in ann.messages)
