"""Telegram's flood limits: every call paced by python-telegram-bot's AIORateLimiter, every 429 waited out
for its retry_after and the call made again, and each 429 counted for /metrics.

With several instances each paces only its own calls, while Telegram's limits are the bot's: the count of
429s across instances shows an operator how often they meet Telegram's limit together.
"""

import sys
from collections.abc import Callable, Coroutine
from typing import Any

from prometheus_client import Counter
from telegram.error import RetryAfter
from telegram.ext import AIORateLimiter

# Telegram's 429 says how long to wait; the limiter waits that long and tries again, however often it is
# asked to: a reply dropped after a few tries would be lost for good. (The outbox caps its own tries and
# keeps the message for a later run instead: handlers.outbox.FLOOD_RETRIES.)
WAIT_OUT_EVERY_FLOOD = sys.maxsize

Reply = bool | dict[str, Any] | list[dict[str, Any]]


class FloodLimiter(AIORateLimiter):
    """AIORateLimiter (its defaults: Telegram's limits, unless `limits` says otherwise) that never drops a
    call for a 429 and counts the 429s on `floods`, which the composition root registers with the metrics."""

    def __init__(self, **limits: float) -> None:
        super().__init__(max_retries=WAIT_OUT_EVERY_FLOOD, **limits)
        self.floods = Counter(
            "crowdshelf_telegram_floods",
            "Telegram's 429s (flood control), each waited out for its retry_after and the call made again",
            registry=None,
        )

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Reply]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Reply:
        async def counting(*call_args: Any, **call_kwargs: Any) -> Reply:
            try:
                return await callback(*call_args, **call_kwargs)
            except RetryAfter:
                self.floods.inc()
                raise

        return await super().process_request(counting, args, kwargs, endpoint, data, rate_limit_args)
