"""The Telegram edge of the scheduled jobs: each runs one job of `bot.jobs`, then delivers what it owes."""

from bot import jobs, updates
from handlers import notify
from handlers.common import BotContext


async def reclaim_reservations(context: BotContext) -> None:
    await jobs.reclaim_reservations(context.services)


async def release_holds(context: BotContext) -> None:
    await jobs.release_holds(context.services)


async def sweep_payouts(context: BotContext) -> None:
    sweep = await jobs.sweep_payouts(context.services)
    if sweep.created or sweep.reminders:
        notify.deliver_soon(context)


async def complete_batches(context: BotContext) -> None:
    if await jobs.complete_batches(context.services):
        notify.deliver_soon(context)


async def spent_quiz_budgets(context: BotContext) -> None:
    if await jobs.spent_quiz_budgets(context.services):
        notify.deliver_soon(context)


async def daily_digest(context: BotContext) -> None:
    if await jobs.daily_digest(context.services):
        notify.deliver_soon(context)


async def forget_seen_updates(context: BotContext) -> None:
    await updates.forget_expired(context.services)
