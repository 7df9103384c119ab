"""What every update shares: the error handler, and noticing users who blocked the bot."""

import logging

from telegram import Update
from telegram.error import Forbidden, TelegramError
from telegram.ext import ContextTypes

from bot import users
from bot.services import Services
from handlers import texts

log = logging.getLogger(__name__)


def services_of(context: ContextTypes.DEFAULT_TYPE) -> Services:
    """The services the composition root put in bot_data (wiring, not state)."""
    return context.application.bot_data["services"]


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log with the update; a blocked user is marked unreachable; anyone else gets an apology, never a traceback."""
    user = update.effective_user if isinstance(update, Update) else None
    if isinstance(context.error, Forbidden) and user is not None:
        await user_unreachable(services_of(context), user.id)
        return
    log.error("update %s failed", update.to_dict() if isinstance(update, Update) else update, exc_info=context.error)
    chat = update.effective_chat if isinstance(update, Update) else None
    if chat is None:
        return
    try:
        await context.bot.send_message(chat.id, texts.SOMETHING_WENT_WRONG)
    except TelegramError as error:
        log.warning("could not apologise to chat %s: %s", chat.id, error)


async def answer_press(
    update: Update, context: ContextTypes.DEFAULT_TYPE, text: str | None = None, *, or_message: bool = True
) -> None:
    """Answer a button press, so the phone stops its spinner.

    Telegram refuses a query once it is about 15 s old (the bot was down or busy) or answered before (a
    replayed update). That is no reason to drop the press: it is logged and the press is handled all the
    same, and a text meant for the answer comes as a message instead, unless `or_message` is False (a
    text the person can do without).
    """
    query = update.callback_query
    try:
        await query.answer(text)
    except TelegramError as error:
        log.info("could not answer callback query %s: %s", query.id, error)
        if text and or_message:
            await context.bot.send_message(update.effective_chat.id, text)


async def register(update: Update, services: Services) -> users.Person:
    """Create or refresh the sender's user row (commands that start something call this)."""
    user = update.effective_user
    async with services.db.write() as session:
        return await users.register(session, services.settings, user.id, user.first_name, user.username)


async def user_unreachable(services: Services, user_id: int) -> None:
    async with services.db.write() as session:
        released = await users.mark_unreachable(session, user_id)
    log.info("user %s blocked the bot; released %d reservation(s)", user_id, released)
