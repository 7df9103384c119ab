"""Running the bot until SIGINT or SIGTERM, whichever way the updates come (long polling or a webhook).

python-telegram-bot's `run_polling` stops the event loop from its signal handler. A signal that comes
while the updater starts (its deleteWebhook, its first getUpdates) abandons that start half-done: the
process ends with a traceback and status 1. Here a signal only asks for the stop, and the stop comes
once what was starting has started, so a `crowdshelf run` stopped at any moment ends cleanly. The one
wait with no end, for a Telegram that does not answer at start, is given up at once instead.
"""

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from telegram.ext import Application

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def run_until_stopped(application: Application, receiving: AbstractAsyncContextManager[object]) -> None:
    """Start the bot, receive updates within `receiving` until a stop signal, then stop in reverse order."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    try:
        if await _unless_stopped(application.initialize(), stop):
            if application.post_init is not None:
                await application.post_init(application)
            await application.start()
            try:
                async with receiving:
                    await stop.wait()
            finally:
                await application.stop()
    finally:
        await application.shutdown()
        if application.post_shutdown is not None:
            await application.post_shutdown(application)


@asynccontextmanager
async def polling(application: Application, allowed_updates: Sequence[str]) -> AsyncIterator[None]:
    """Updates by long polling (getUpdates) while the block runs."""
    updater = application.updater
    if updater is None:
        raise RuntimeError("this application was built without an updater (webhook mode)")
    await updater.start_polling(allowed_updates=allowed_updates)
    try:
        yield
    finally:
        await updater.stop()


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
