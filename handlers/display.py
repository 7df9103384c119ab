"""Putting a task on the chat: a photo card when the product has a working image, else text.

Edits happen in place where Telegram allows it (text→text, photo→photo); otherwise the old
message loses its buttons and a new one is sent. A photo Telegram cannot fetch falls back to text.
"""

import logging
from html import escape

from telegram import Bot, InlineKeyboardMarkup, InputMediaPhoto, Message
from telegram.error import BadRequest

from bot.work import TaskScreen
from handlers import keyboards, texts
from handlers.i18n import gettext as _

log = logging.getLogger(__name__)


async def send_task(bot: Bot, chat_id: int, screen: TaskScreen, currency: str) -> Message:
    if screen.first_in_batch:
        await bot.send_message(chat_id, texts.instructions(screen.batch_name, screen.instructions))
    markup = keyboards.task(screen)
    if screen.card.image_url:
        try:
            return await bot.send_photo(
                chat_id,
                screen.card.image_url,
                caption=texts.task(screen, currency, texts.CAPTION_LIMIT),
                reply_markup=markup,
            )
        except BadRequest as error:
            log.warning("photo %s not shown (%s); sending a text card", screen.card.image_url, error.message)
            # Where the photo is the task, the worker gets its address, and answers "does not load" if it does not.
            body = texts.task(screen, currency, texts.TEXT_LIMIT, photo_link=screen.needs_photo)
            return await bot.send_message(chat_id, body, reply_markup=markup)
    return await bot.send_message(chat_id, texts.task(screen, currency, texts.TEXT_LIMIT), reply_markup=markup)


async def redraw(message: Message, screen: TaskScreen, currency: str) -> None:
    """Same product, another place in the tree: only the text and buttons change."""
    await edit_body(message, texts.task(screen, currency, _limit(message)), keyboards.task(screen))


async def replace_task(bot: Bot, chat_id: int, message: Message | None, screen: TaskScreen, currency: str) -> None:
    """Show the next product in place of `message` where possible."""
    if message is None:
        await send_task(bot, chat_id, screen, currency)
        return
    if screen.first_in_batch:  # the batch's rules must come before its first product, so no edit in place
        await edit_body(message, escape(screen.note) or _(texts.SAVED), None)
        await send_task(bot, chat_id, screen, currency)
        return
    wants_photo = bool(screen.card.image_url)
    try:
        if wants_photo and message.photo:
            caption = texts.task(screen, currency, texts.CAPTION_LIMIT)
            media = InputMediaPhoto(screen.card.image_url, caption=caption)
            await message.edit_media(media, reply_markup=keyboards.task(screen))
            return
        if not wants_photo and not message.photo:
            await message.edit_text(texts.task(screen, currency, texts.TEXT_LIMIT), reply_markup=keyboards.task(screen))
            return
    except BadRequest as error:
        log.warning("could not edit message %s in place (%s)", message.message_id, error.message)
    await retire(message)
    await send_task(bot, chat_id, screen, currency)


async def edit_body(message: Message, html: str, markup: InlineKeyboardMarkup | None) -> None:
    """Edit text or caption, whichever the message has; an unchanged message is not an error."""
    try:
        if message.photo:
            await message.edit_caption(html, reply_markup=markup)
        else:
            await message.edit_text(html, reply_markup=markup)
    except BadRequest as error:
        if "not modified" not in error.message:
            raise


async def retire(message: Message) -> None:
    """Remove a message's buttons; it may be gone already, which is fine."""
    try:
        await message.edit_reply_markup(None)
    except BadRequest as error:
        log.info("could not retire message %s: %s", message.message_id, error.message)


def _limit(message: Message) -> int:
    return texts.CAPTION_LIMIT if message.photo else texts.TEXT_LIMIT
