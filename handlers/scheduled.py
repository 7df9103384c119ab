"""The Telegram edge of the scheduled jobs: each runs one job of `bot.jobs`, then tells whom it concerns."""

from telegram.ext import ContextTypes

from bot import jobs
from handlers import admin, common, notify, requester, texts

Context = ContextTypes.DEFAULT_TYPE


async def reclaim_reservations(context: Context) -> None:
    await jobs.reclaim_reservations(common.services_of(context))


async def release_holds(context: Context) -> None:
    await jobs.release_holds(common.services_of(context))


async def sweep_payouts(context: Context) -> None:
    services = common.services_of(context)
    result = await jobs.sweep_payouts(services)
    for worker_id in result.reminders:
        await notify.tell(context.bot, services, worker_id, texts.PAYOUT_METHOD_REMINDER)
    for payout in result.created:
        await notify.tell(
            context.bot, services, payout.worker_id, texts.payout_requested(payout, services.settings.currency)
        )
        await admin.announce_payout(context.bot, services, payout.id)


async def complete_batches(context: Context) -> None:
    services = common.services_of(context)
    for report in await jobs.complete_batches(services):
        await requester.report_completion(context.bot, services, report)


async def spent_quiz_budgets(context: Context) -> None:
    services = common.services_of(context)
    for budget in await jobs.spent_quiz_budgets(services):
        await notify.tell(context.bot, services, budget.requester_id, texts.quiz_budget_alert(budget))


async def daily_digest(context: Context) -> None:
    services = common.services_of(context)
    for requester_id, lines in (await jobs.daily_digest(services)).items():
        await notify.tell(context.bot, services, requester_id, texts.digest(lines, services.settings.currency))
