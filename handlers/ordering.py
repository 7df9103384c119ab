"""Updates of different users run concurrently; each user's updates run one at a time, in order.

python-telegram-bot processes updates one by one by default, which caps throughput at one
database round trip at a time. Its own concurrent mode drops ordering, so a user's quick
"open category" then "pick" could race; this processor keeps a per-user queue instead.
"""

import asyncio
import sys
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

UNBOUNDED = sys.maxsize


class PerUserOrder(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int = 256) -> None:
        # The user's turn comes first and only then a concurrency slot, so updates queued behind one
        # busy user never hold slots that other users need. python-telegram-bot takes its own slot
        # before do_process_update, so that one is unbounded and the bound is kept here, after the turn.
        super().__init__(UNBOUNDED)
        self._slots = asyncio.Semaphore(max_concurrent_updates)
        self._locks: dict[int | None, asyncio.Lock] = {}
        self._waiting: dict[int | None, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = update.effective_user.id if isinstance(update, Update) and update.effective_user else None
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock, self._slots:
                await coroutine
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:
                del self._waiting[key], self._locks[key]

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass
