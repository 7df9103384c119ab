"""The composition root: builds the python-telegram-bot Application with handlers, jobs and limits."""

import logging

from telegram import BotCommand, Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseRateLimiter,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import jobs, taxonomies
from bot.services import Services
from handlers import common, texts, worker
from handlers.ordering import PerUserOrder

log = logging.getLogger(__name__)
RECLAIM_EVERY_SECONDS = 30


def build_application(services: Services, rate_limiter: BaseRateLimiter | None = None) -> Application:
    """The bot, ready for run_polling() (or start()/updater in tests and benchmarks)."""
    settings = services.settings
    api = settings.telegram_api_url.rstrip("/")
    application = (
        ApplicationBuilder()
        .token(settings.require_token())
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .concurrent_updates(PerUserOrder())
        .rate_limiter(rate_limiter or AIORateLimiter(max_retries=3))
        .post_init(_post_init)
        .build()
    )
    application.bot_data["services"] = services
    _register_handlers(application)
    _schedule_jobs(application, services)
    return application


def _register_handlers(application: Application) -> None:
    private = filters.ChatType.PRIVATE
    # Commands first: a command must never be read as a search query.
    application.add_handler(CommandHandler("start", worker.start, filters=private))
    application.add_handler(CommandHandler("help", worker.help_command, filters=private))
    application.add_handler(CommandHandler("work", worker.work_command, filters=private))
    application.add_handler(CommandHandler("balance", worker.balance, filters=private))
    application.add_handler(CallbackQueryHandler(worker.on_button))
    # Any other text is a search within the worker's open product.
    application.add_handler(MessageHandler(private & filters.TEXT & ~filters.COMMAND, worker.on_text))
    application.add_error_handler(common.on_error)


def _schedule_jobs(application: Application, services: Services) -> None:
    async def reclaim(_: ContextTypes.DEFAULT_TYPE) -> None:
        await jobs.reclaim_reservations(services)

    interval = min(RECLAIM_EVERY_SECONDS, services.settings.assignment_ttl_seconds)
    application.job_queue.run_repeating(reclaim, interval=interval, first=interval, name="reclaim-reservations")


async def _post_init(application: Application) -> None:
    services: Services = application.bot_data["services"]
    await taxonomies.ensure_default(services.db)
    await application.bot.set_my_commands([BotCommand(name, description) for name, description in texts.COMMANDS])


def allowed_updates() -> list[str]:
    return [Update.MESSAGE, Update.CALLBACK_QUERY]
