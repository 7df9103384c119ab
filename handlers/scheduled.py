"""The Telegram edge of the scheduled jobs: each runs one job of `bot.jobs`, then delivers what it owes."""

from telegram.ext import ContextTypes

from bot import jobs
from handlers import common, notify

Context = ContextTypes.DEFAULT_TYPE


async def reclaim_reservations(context: Context) -> None:
    await jobs.reclaim_reservations(common.services_of(context))


async def release_holds(context: Context) -> None:
    await jobs.release_holds(common.services_of(context))


async def sweep_payouts(context: Context) -> None:
    sweep = await jobs.sweep_payouts(common.services_of(context))
    if sweep.created or sweep.reminders:
        notify.deliver_soon(context)


async def complete_batches(context: Context) -> None:
    if await jobs.complete_batches(common.services_of(context)):
        notify.deliver_soon(context)


async def spent_quiz_budgets(context: Context) -> None:
    if await jobs.spent_quiz_budgets(common.services_of(context)):
        notify.deliver_soon(context)


async def daily_digest(context: Context) -> None:
    if await jobs.daily_digest(common.services_of(context)):
        notify.deliver_soon(context)
