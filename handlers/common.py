"""What every update shares: the context handlers get, the sender and chat of an update, the error
handler (refusals and failures alike), and noticing users who blocked the bot."""

import logging
from typing import Any, TypeVar

from telegram import CallbackQuery, Message, Update, User
from telegram.error import BadRequest, Forbidden, NetworkError, TelegramError
from telegram.ext import Application, CallbackContext, ExtBot, Job

from bot import health, users
from bot.errors import DomainError
from bot.wiring.services import Services
from handlers import i18n, texts
from handlers.i18n import gettext as _
from handlers.metrics import METRICS, Metrics

log = logging.getLogger(__name__)
SERVICES = "services"  # the key of the services in bot_data, put there by the composition root
T = TypeVar("T")


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """The context of every handler and job (python-telegram-bot's custom context types), with the services."""

    @property
    def services(self) -> Services:
        """What every use case needs: wiring, not state."""
        services: Services = self.bot_data[SERVICES]
        return services

    @property
    def metrics(self) -> Metrics:
        metrics: Metrics = self.bot_data[METRICS]
        return metrics

    @classmethod
    def from_job(cls, job: Job[Any], application: Application[Any, Any, Any, Any, Any, Any]) -> "BotContext":
        """Every job run builds its context here: where runs are counted, whatever the job."""
        metrics: Metrics = application.bot_data[METRICS]
        metrics.job_runs.labels(job=job.name).inc()
        return super().from_job(job, application)


# Every handler is registered for a person's private message or button press, so an update without its
# sender, chat or message is not one a handler can get; should one come anyway, the error handler logs it.


def sender(update: Update) -> User:
    return _present(update.effective_user, "sender", update)


def chat_id(update: Update) -> int:
    return _present(update.effective_chat, "chat", update).id


def message(update: Update) -> Message:
    """The message of a command or typed text (a button's message may be gone: see router.on_button)."""
    return _present(update.effective_message, "message", update)


def typed(update: Update) -> str:
    """What a person typed (handlers of text messages only)."""
    return _present(message(update).text, "text", update)


def press(update: Update) -> CallbackQuery:
    return _present(update.callback_query, "button press", update)


def _present(value: T | None, what: str, update: Update) -> T:
    if value is None:
        raise ValueError(f"update {update.update_id} has no {what}")
    return value


async def choose_language(update: Update, context: BotContext) -> None:
    """Runs first for every update (python-telegram-bot gives each update its own task, so this holds for
    this update alone): what the bot says now is in the sender's Telegram language if a catalogue speaks
    it, else in DEFAULT_LANGUAGE."""
    user = update.effective_user
    i18n.set_language(i18n.choose(user.language_code if user else None, context.services.settings.default_language))


def unexpected(error: Exception | None) -> bool:
    """A failure, as opposed to a refusal said to the user or a user who blocked the bot."""
    return not isinstance(error, DomainError | Forbidden)


def passing(error: Exception | None) -> bool:
    """A failure the same work may well not meet again: the database away a moment (restarting, cut
    off), Telegram not answering, resetting the connection or answering 5xx (not a refusal: 4xx)."""
    if isinstance(error, NetworkError):
        return not isinstance(error, BadRequest)  # python-telegram-bot's 400 is a NetworkError too
    return error is not None and health.database_away(error)


async def on_error(update: object, context: BotContext) -> None:
    """A refusal is said in its own words; a blocked user is marked unreachable; any other failure is
    logged with the update and the user gets an apology, never a traceback."""
    error = context.error
    user = update.effective_user if isinstance(update, Update) else None
    if isinstance(error, Forbidden) and user is not None:
        await user_unreachable(context.services, user.id)
        return
    if isinstance(error, DomainError):
        reply = texts.refused(error)
    elif passing(error) and context.services.settings.webhook_url:
        # Webhook mode gives the update back unacknowledged: Telegram sends it again, and the person gets
        # the real answer on a later try, not an apology before it.
        log.warning("update %s is to be tried again: %s", _update_id(update), error)
        return
    else:
        log.error("update %s failed", update.to_dict() if isinstance(update, Update) else update, exc_info=error)
        reply = _(texts.SOMETHING_WENT_WRONG)
    chat = update.effective_chat if isinstance(update, Update) else None
    if chat is None:
        return
    try:
        await context.bot.send_message(chat.id, reply)
    except TelegramError as failure:
        log.warning("could not reply to chat %s: %s", chat.id, failure)


def _update_id(update: object) -> int | None:
    return update.update_id if isinstance(update, Update) else None


async def answer_press(
    update: Update, context: BotContext, text: str | None = None, *, or_message: bool = True
) -> None:
    """Answer a button press, so the phone stops its spinner.

    Telegram refuses a query once it is about 15 s old (the bot was down or busy) or answered before (a
    replayed update). That is no reason to drop the press: it is logged and the press is handled all the
    same, and a text meant for the answer comes as a message instead, unless `or_message` is False (a
    text the person can do without).
    """
    query = press(update)
    try:
        await query.answer(text)
    except TelegramError as error:
        log.info("could not answer callback query %s: %s", query.id, error)
        if text and or_message:
            await context.bot.send_message(chat_id(update), text)


async def register(update: Update, services: Services) -> users.Person:
    """Create or refresh the sender's user row (commands that start something call this)."""
    user = sender(update)
    return await users.register_user(services, user.id, user.first_name, user.username, user.language_code)


async def user_unreachable(services: Services, user_id: int) -> None:
    released = await users.user_blocked_bot(services, user_id)
    log.info("user %s blocked the bot; released %d reservation(s)", user_id, released)
