"""How the bot takes its updates by long polling (handlers.running.polling), as `crowdshelf run` does."""

import time

from handlers.running import POLL_PAUSE
from tests.e2e.conftest import RunningBot


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
