"""A worker's own progress: /stats, /target and /breaks."""

from telegram import Update

from bot import progress
from bot.money.amounts import typed_amount
from handlers import admin, common, texts
from handlers.common import BotContext
from handlers.i18n import gettext as _


async def stats(update: Update, context: BotContext) -> None:
    services = context.services
    user_id = common.sender(update).id
    if user_id in services.settings.admin_ids:
        await admin.platform_stats(update, context)
    figures = await progress.worker_stats(services, user_id)
    await common.message(update).reply_text(texts.worker_stats(figures, services.settings.currency))


async def target(update: Update, context: BotContext) -> None:
    services = context.services
    worker_id = (await common.register(update, services)).id
    message = common.message(update)
    argument = (context.args or [""])[0].lower()
    if argument in ("off", "0"):
        await progress.set_daily_target(services, worker_id, None)
        await message.reply_text(_(texts.TARGET_OFF))
        return
    try:
        micros = typed_amount(argument)
    except ValueError:
        micros = 0
    if micros <= 0:
        await message.reply_text(_(texts.TARGET_USAGE))
        return
    figures = await progress.set_daily_target(services, worker_id, micros)
    await message.reply_text(texts.target_set(micros, figures.earned_today_micros, services.settings.currency))


async def breaks(update: Update, context: BotContext) -> None:
    services = context.services
    worker_id = (await common.register(update, services)).id
    enabled = (context.args or ["on"])[0].lower() != "off"
    await progress.take_breaks(services, worker_id, enabled)
    await common.message(update).reply_text(_(texts.BREAKS_ON) if enabled else _(texts.BREAKS_OFF))
