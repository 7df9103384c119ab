"""A worker's own progress: /stats, /target and /breaks."""

from telegram import Update
from telegram.ext import ContextTypes

from bot import progress
from bot.money import typed_amount
from handlers import admin, common, texts
from storage.clock import utcnow

Context = ContextTypes.DEFAULT_TYPE


async def stats(update: Update, context: Context) -> None:
    services = common.services_of(context)
    if update.effective_user.id in services.settings.admin_ids:
        await admin.platform_stats(update, context)
    async with services.db.read() as session:
        figures = await progress.stats(session, update.effective_user.id, utcnow())
    await update.effective_message.reply_html(texts.worker_stats(figures, services.settings.currency))


async def target(update: Update, context: Context) -> None:
    services = common.services_of(context)
    await common.register(update, services)
    message = update.effective_message
    argument = (context.args or [""])[0].lower()
    if argument in ("off", "0"):
        async with services.db.write() as session:
            await progress.set_target(session, update.effective_user.id, None)
        await message.reply_text(texts.TARGET_OFF)
        return
    try:
        micros = typed_amount(argument)
    except ValueError:
        micros = 0
    if micros <= 0:
        await message.reply_text(texts.TARGET_USAGE)
        return
    async with services.db.write() as session:
        await progress.set_target(session, update.effective_user.id, micros)
        figures = await progress.stats(session, update.effective_user.id, utcnow())
    await message.reply_text(texts.target_set(micros, figures.earned_today_micros, services.settings.currency))


async def breaks(update: Update, context: Context) -> None:
    services = common.services_of(context)
    await common.register(update, services)
    enabled = (context.args or ["on"])[0].lower() != "off"
    async with services.db.write() as session:
        await progress.set_breaks(session, update.effective_user.id, enabled)
    await update.effective_message.reply_text(texts.BREAKS_ON if enabled else texts.BREAKS_OFF)
