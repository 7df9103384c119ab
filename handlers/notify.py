"""Messages the bot starts itself (not replies): a user who blocked the bot must not break a job."""

import logging

from telegram import Bot, InlineKeyboardMarkup, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden

from bot import users
from bot.services import Services

log = logging.getLogger(__name__)


async def tell(
    bot: Bot, services: Services, user_id: int, html: str, markup: InlineKeyboardMarkup | None = None
) -> Message | None:
    """Send a message; None when the user cannot be reached (and they are marked so)."""
    try:
        return await bot.send_message(user_id, html, parse_mode=ParseMode.HTML, reply_markup=markup)
    except Forbidden:
        async with services.db.write() as session:
            await users.mark_unreachable(session, user_id)
        log.info("user %s blocked the bot; marked unreachable", user_id)
    except BadRequest as error:
        log.warning("could not message %s: %s", user_id, error.message)
    return None


async def edit(bot: Bot, chat_id: int, message_id: int, html: str) -> None:
    """Replace a message's text and drop its buttons; a message that is gone is not an error."""
    try:
        await bot.edit_message_text(html, chat_id=chat_id, message_id=message_id, parse_mode=ParseMode.HTML)
    except (BadRequest, Forbidden) as error:
        log.info("could not edit message %s in chat %s: %s", message_id, chat_id, error.message)
