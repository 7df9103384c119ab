"""The Telegram edge of the scheduled jobs: each runs one job of `bot.jobs` under its lease (a run that finds
another process's run under way skips), then delivers what it owes."""

from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot import jobs, updates
from bot.wiring.services import Services
from handlers import notify
from handlers.common import BotContext

T = TypeVar("T")


async def _once(context: BotContext, body: Callable[[Services], Awaitable[T]]) -> T | None:
    """The job's body, unless a run of the same job (named as the job queue knows it) is under way."""
    if context.job is None or not context.job.name:
        raise RuntimeError(f"{body.__name__} runs as a named job of the job queue")
    return await jobs.exclusively(context.services, context.job.name, body)


async def reclaim_reservations(context: BotContext) -> None:
    await _once(context, jobs.reclaim_reservations)


async def release_holds(context: BotContext) -> None:
    await _once(context, jobs.release_holds)


async def sweep_payouts(context: BotContext) -> None:
    sweep = await _once(context, jobs.sweep_payouts)
    if sweep is not None and (sweep.created or sweep.reminders):
        notify.deliver_soon(context)


async def complete_batches(context: BotContext) -> None:
    if await _once(context, jobs.complete_batches):
        notify.deliver_soon(context)


async def spent_quiz_budgets(context: BotContext) -> None:
    if await _once(context, jobs.spent_quiz_budgets):
        notify.deliver_soon(context)


async def daily_digest(context: BotContext) -> None:
    if await _once(context, jobs.daily_digest):
        notify.deliver_soon(context)


async def forget_seen_updates(context: BotContext) -> None:
    await _once(context, updates.forget_expired)
