"""The composition root: builds the python-telegram-bot Application with handlers, jobs and limits."""

import asyncio
import datetime
import itertools
import logging
import os
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from telegram import BotCommand, Update
from telegram.constants import ParseMode
from telegram.error import InvalidToken, NetworkError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseRateLimiter,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import taxonomies
from bot.errors import DomainError, ErrorCode
from bot.wiring import log_masking
from bot.wiring.config import Settings
from bot.wiring.services import Services
from handlers import (
    admin,
    common,
    i18n,
    money,
    notify,
    outbox,
    progress,
    requester,
    router,
    running,
    scheduled,
    texts,
    webhook,
    worker,
)
from handlers.flood import FloodLimiter
from handlers.i18n import gettext as _
from handlers.metrics import METRICS, Metrics
from handlers.ordering import PerUserOrder

log = logging.getLogger(__name__)
RECLAIM_EVERY_SECONDS = 30
RELEASE_EVERY_SECONDS = 600
COMPLETION_EVERY_SECONDS = 60
FORGET_UPDATES_EVERY_SECONDS = 3600
DIGEST_TIME = datetime.time(hour=9, tzinfo=datetime.UTC)
# Waiting for Telegram at start: 1 s, 2 s, 4 s … between tries, never more than a minute.
FIRST_RETRY_SECONDS = 1
LONGEST_RETRY_SECONDS = 60


class AppRefusal(ErrorCode):
    TOKEN_REJECTED = "token_rejected"  # {token}: masked
    WEBHOOK_IS_SET = "webhook_is_set"  # {url}


class TokenRejected(DomainError):
    """Telegram refused BOT_TOKEN: a setting to fix, not a failure to wait out."""

    default_code = AppRefusal.TOKEN_REJECTED


class WebhookIsSet(DomainError):
    """A process asked to poll while Telegram has a webhook set: a deploy's instances serve that webhook."""

    default_code = AppRefusal.WEBHOOK_IS_SET


class _PatientApplication(Application):
    """Starts once Telegram answers: the first getMe failing on the network is tried again with
    backoff, said once in the log, so that a bot started during an outage comes up after it."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings

    async def initialize(self) -> None:
        delay = FIRST_RETRY_SECONDS
        for attempt in itertools.count(1):
            try:
                await super().initialize()
            except InvalidToken:
                token = log_masking.mask(self.bot.token, log_masking.secrets_of(self.settings))
                raise TokenRejected(token=token) from None
            except NetworkError as error:  # TimedOut and Telegram's 5xx too
                if attempt == 1:
                    api = self.settings.telegram_api_url
                    log.warning("Telegram is not reachable at %s (%s); retrying with backoff", api, error)
                log.debug("try %d failed (%s); next in %d s", attempt, error, delay)
                await asyncio.sleep(delay)
                delay = min(2 * delay, LONGEST_RETRY_SECONDS)
            else:
                if attempt > 1:
                    log.info("Telegram answered at try %d; starting", attempt)
                return


def build_application(services: Services, rate_limiter: BaseRateLimiter | None = None) -> Application:
    """The bot, ready for serve() (or handlers.running.running in the sandbox, tests and benchmarks); with
    WEBHOOK_URL set it has no updater. `rate_limiter`: a FloodLimiter at TELEGRAM_MESSAGES_PER_SECOND unless
    given (the benchmarks measure the bot without one)."""
    settings = services.settings
    metrics = Metrics()
    rate_limiter = rate_limiter or FloodLimiter(overall_max_rate=settings.telegram_messages_per_second)
    if isinstance(rate_limiter, FloodLimiter):
        metrics.registry.register(rate_limiter.floods)
    # python-telegram-bot's documented opt-in to durations as timedelta (RetryAfter.retry_after), the default
    # of its next major version: without it, every read of one warns that it is deprecated.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    api = settings.telegram_api_url.rstrip("/")
    builder = ApplicationBuilder()
    if settings.webhook_url:
        builder = builder.updater(None)  # the web server hands the updates over (handlers.webhook)
    application = (
        builder.application_class(_PatientApplication, {"settings": settings})
        .token(settings.require_token())
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .context_types(ContextTypes(context=common.BotContext))
        # Every text the bot sends is HTML (handlers.texts escapes what people wrote).
        .defaults(Defaults(parse_mode=ParseMode.HTML))
        .concurrent_updates(PerUserOrder())
        .rate_limiter(rate_limiter)
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
        .build()
    )
    application.bot_data[common.SERVICES] = services
    application.bot_data[METRICS] = metrics
    _register_handlers(application)
    _schedule_jobs(application, services)
    return application


def _register_handlers(application: Application) -> None:
    private = filters.ChatType.PRIVATE
    commands = {
        # worker
        "start": worker.start,
        "help": worker.help_command,
        "work": worker.work_command,
        "balance": money.balance,
        "payout_method": money.payout_method,
        "payout": money.request_payout,
        "earnings": money.earnings_command,
        "stats": progress.stats,  # admins see the platform's figures first
        "target": progress.target,
        "breaks": progress.breaks,
        # requester (each says so when the sender is not a requester)
        "new_batch": requester.new_batch,
        "batches": requester.list_batches,
        "results": requester.results_command,
        "quizzes": requester.quizzes_command,
        # admin (each refuses non-admins itself, and audits the attempt)
        "admin": admin.admin_help,
        "fund": admin.fund,
        "grant": admin.grant,
        "revoke": admin.revoke,
        "suspend": admin.suspend,
        "unsuspend": admin.unsuspend,
        "reinstate": admin.reinstate,
        "held": admin.held_queue,
        "audit": admin.audit_log,
        "payouts": admin.payout_queue,
        "payouts_csv": admin.payouts_csv,
    }
    # Before any other: the rest of the update speaks the sender's language.
    application.add_handler(TypeHandler(Update, common.choose_language), group=-1)
    # Commands first: a command must never be read as a search query or an answer to a question.
    for name, callback in commands.items():
        application.add_handler(CommandHandler(name, callback, filters=private))
    application.add_handler(CallbackQueryHandler(router.on_button))
    application.add_handler(MessageHandler(private & filters.Document.ALL, requester.on_document))
    # Any other text answers a question the bot asked, or searches the worker's open product.
    application.add_handler(MessageHandler(private & filters.TEXT & ~filters.COMMAND, router.on_text))
    application.add_error_handler(common.on_error)


def _schedule_jobs(application: Application, services: Services) -> None:
    settings = services.settings
    queue = application.job_queue
    if queue is None:  # python-telegram-bot without its job-queue extra, which the project depends on
        raise RuntimeError("python-telegram-bot[job-queue] is not installed")
    reclaim_every = min(RECLAIM_EVERY_SECONDS, settings.assignment_ttl_seconds)
    queue.run_repeating(
        scheduled.reclaim_reservations, interval=reclaim_every, first=reclaim_every, name="reclaim-reservations"
    )
    # A credit becomes available at most this long after its hold ends.
    release_every = max(60, min(settings.hold_hours * 3600, RELEASE_EVERY_SECONDS))
    queue.run_repeating(scheduled.release_holds, interval=release_every, first=10, name="release-holds")
    # The first sweep waits for the bot to settle, but never longer than the interval the operator set.
    sweep_every = settings.payout_sweep_seconds
    queue.run_repeating(scheduled.sweep_payouts, interval=sweep_every, first=min(30, sweep_every), name="payout-sweep")
    queue.run_repeating(
        scheduled.complete_batches,
        interval=COMPLETION_EVERY_SECONDS,
        first=COMPLETION_EVERY_SECONDS,
        name="complete-batches",
    )
    queue.run_repeating(
        scheduled.spent_quiz_budgets,
        interval=COMPLETION_EVERY_SECONDS,
        first=COMPLETION_EVERY_SECONDS,
        name="quiz-budgets",
    )
    queue.run_daily(scheduled.daily_digest, time=DIGEST_TIME, name="daily-digest")
    queue.run_repeating(
        scheduled.forget_seen_updates,
        interval=FORGET_UPDATES_EVERY_SECONDS,
        first=FORGET_UPDATES_EVERY_SECONDS,
        name="forget-seen-updates",
    )
    # Owed messages go out right after the change that owes them (outbox.deliver_soon); this catches
    # retries that came due and whatever another process owed.
    queue.run_repeating(outbox.deliver_job, interval=outbox.DELIVER_EVERY_SECONDS, first=1, name=notify.DELIVERY_JOB)


async def _post_init(application: Application) -> None:
    services: Services = application.bot_data[common.SERVICES]
    await taxonomies.ensure_default(services.db)
    await _set_commands(application, services.settings.default_language)


async def _set_commands(application: Application, default_language: str) -> None:
    """The command menu in the default language, and in each other language a catalogue speaks, for the
    people whose Telegram is set to it."""
    for language in i18n.languages():
        with i18n.speaking(language):
            commands = [BotCommand(name, _(description)) for name, description in texts.COMMANDS]
        code = None if language == default_language else language.replace("_", "-").lower()
        await application.bot.set_my_commands(commands, language_code=code)


async def _post_shutdown(application: Application) -> None:
    """After the last update and job: the database's connections are closed, not left to the process's end."""
    services: Services = application.bot_data[common.SERVICES]
    await services.db.dispose()


def webhook_app(application: Application) -> Starlette:
    """The web server's app for this bot: its webhook, /healthz and /metrics."""
    services: Services = application.bot_data[common.SERVICES]
    endpoint = webhook.UpdateEndpoint(application, services, application.bot_data[METRICS])
    application.add_error_handler(endpoint.note_failure)
    return webhook.web_app(endpoint)


async def serve(application: Application) -> None:
    """Run the bot until SIGINT or SIGTERM: with WEBHOOK_URL set, its web server takes the updates (the
    webhook itself is registered once, at deploy, by `crowdshelf webhook set`, not by each instance);
    otherwise it polls for them, unless Telegram has a webhook set."""
    settings = application.bot_data[common.SERVICES].settings
    receiving: AbstractAsyncContextManager[object]
    if settings.webhook_url:
        receiving = _serving_webhook(application, settings)
    else:
        receiving = _polling_unless_webhook_set(application)
    await running.run_until_stopped(application, receiving)


@asynccontextmanager
async def _serving_webhook(application: Application, settings: Settings) -> AsyncIterator[int]:
    """The web server, after a warning in the log when Telegram's webhook is not WEBHOOK_URL: an instance
    started before the deploy's `crowdshelf webhook set` (or after another deploy's) gets no update."""
    registered = (await application.bot.get_webhook_info()).url
    if registered != settings.webhook_url:
        log.warning(
            "Telegram's webhook (%s) is not WEBHOOK_URL (%s): no update reaches this instance until "
            "`crowdshelf webhook set` registers it",
            registered or "none",
            settings.webhook_url,
        )
    host, port = settings.listen
    async with webhook.serving(webhook_app(application), host, port) as bound:
        yield bound


@asynccontextmanager
async def _polling_unless_webhook_set(application: Application) -> AsyncIterator[None]:
    """Polling, unless Telegram has a webhook set. python-telegram-bot's polling deletes the webhook as it
    starts: one instance of a deploy started without WEBHOOK_URL would take every update from the others,
    and once it stopped, the bot would get none until `crowdshelf webhook set` ran again."""
    url = (await application.bot.get_webhook_info()).url
    if url:
        raise WebhookIsSet(url=url)
    async with running.polling(application, allowed_updates()):
        yield


def allowed_updates() -> list[str]:
    return [Update.MESSAGE, Update.CALLBACK_QUERY]
