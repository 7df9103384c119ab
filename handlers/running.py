"""Running the bot until SIGINT or SIGTERM, whichever way the updates come (long polling or a webhook).

python-telegram-bot's `run_polling` stops the event loop from its signal handler. A signal that comes
while the updater starts (its deleteWebhook, its first getUpdates) abandons that start half-done: the
process ends with a traceback and status 1. Here a signal only asks for the stop, and the stop comes
once what was starting has started, so a `crowdshelf run` stopped at any moment ends cleanly. The one
wait with no end, for a Telegram that does not answer at start, is given up at once instead.
"""

import asyncio
import contextlib
import logging
import math
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TypeVar

from telegram.error import Conflict, TelegramError
from telegram.ext import Application

log = logging.getLogger(__name__)
T = TypeVar("T")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# While a second process polls the same bot, nearly every poll of each is refused: said once this often.
CONFLICT_SAID_EVERY_SECONDS = 60


async def run_until_stopped(application: Application, receiving: AbstractAsyncContextManager[object]) -> None:
    """Start the bot, receive updates within `receiving` until a stop signal, then stop in reverse order."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    try:
        initialized = await _unless_stopped(application.initialize(), stop)
    except BaseException:
        await _shut_down(application)
        raise
    if not initialized:
        await _shut_down(application)
        return
    async with started(application, receiving):
        await stop.wait()


@asynccontextmanager
async def running(application: Application, receiving: AbstractAsyncContextManager[T]) -> AsyncIterator[T]:
    """The bot running as `crowdshelf run` runs it, receiving updates within `receiving` (and giving what
    that gives, a web server's port), while the block runs: for the sandbox, the tests and the benchmarks,
    which stop it by leaving the block rather than by a signal."""
    await application.initialize()
    async with started(application, receiving) as received:
        yield received


@asynccontextmanager
async def started(application: Application, receiving: AbstractAsyncContextManager[T]) -> AsyncIterator[T]:
    """An initialized bot started: its post_init (the taxonomy, the command menu), then receiving updates
    within `receiving`; when the block ends, stopped in reverse order and shut down."""
    try:
        if application.post_init is not None:
            await application.post_init(application)
        await application.start()
        try:
            async with receiving as received:
                yield received
        finally:
            await application.stop()
    finally:
        await _shut_down(application)


# How long the Updater waits after each getUpdates before it asks again. Under load, the updates of that
# time then come in one response rather than one each: at 50 workers labeling at once on one process, 0.15
# getUpdates an answer instead of 0.8, and 7-15% less CPU an answer. A user waits for it only when their
# update comes within it after an earlier one; otherwise the long poll is already waiting. After a failed
# getUpdates, python-telegram-bot waits 1.5 times as long as the time before, up to 30 s: from the pause, so
# the first retries come sooner than the 1 s it starts from with no pause.
POLL_PAUSE = 0.05


@asynccontextmanager
async def polling(application: Application, allowed_updates: Sequence[str], timeout: int = 10) -> AsyncIterator[None]:
    """Updates by long polling (getUpdates, each waiting up to `timeout` seconds, POLL_PAUSE apart) while the
    block runs."""
    updater = application.updater
    if updater is None:
        raise RuntimeError("this application was built without an updater (webhook mode)")
    await updater.start_polling(
        timeout=timeout, allowed_updates=allowed_updates, poll_interval=POLL_PAUSE, error_callback=PollingErrors()
    )
    try:
        yield
    finally:
        await updater.stop()


class PollingErrors:
    """What a failed getUpdates logs, in one line where python-telegram-bot logs a traceback each time (it
    tries again either way). Telegram refusing the poll (409 Conflict) is an operator's mistake, another
    process polling the same bot or a webhook set meanwhile, and repeats at nearly every poll: said at most
    once a minute, with how often it came."""

    def __init__(self) -> None:
        self._conflicts = 0
        self._said_at = -math.inf

    def __call__(self, error: TelegramError) -> None:
        if not isinstance(error, Conflict):
            log.warning("getUpdates failed (%s); trying again", error)
            return
        self._conflicts += 1
        now = time.monotonic()
        if now - self._said_at < CONFLICT_SAID_EVERY_SECONDS:
            return
        log.error(
            "Telegram refused getUpdates %d time(s) since the last report: %s. Only one process may take a bot's "
            "updates by polling, and none while a webhook is set: run several processes with WEBHOOK_URL "
            "(webhook mode) instead",
            self._conflicts,
            error.message,
        )
        self._conflicts, self._said_at = 0, now


async def _shut_down(application: Application) -> None:
    await application.shutdown()
    if application.post_shutdown is not None:
        await application.post_shutdown(application)


async def _unless_stopped(startup: Awaitable[None], stop: asyncio.Event) -> bool:
    """Whether `startup` finished (its error raised); a stop asked for first cancels it instead."""
    started = asyncio.ensure_future(startup)
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({started, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if started.done():
        started.result()
        return True
    started.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await started
    return False
