"""Messages the bot starts itself (not replies): what one is, how it is sent, and the kick that delivers
owed ones now (handlers.outbox delivers them and handles Telegram's errors)."""

import logging
from dataclasses import dataclass
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, InputFile, Message
from telegram.error import BadRequest, Forbidden
from telegram.ext import ExtBot

from handlers.common import BotContext

log = logging.getLogger(__name__)
# The job that delivers owed messages (handlers.outbox), every few seconds and on demand.
DELIVERY_JOB = "deliver-owed"


@dataclass(frozen=True)
class Text:
    html: str
    markup: InlineKeyboardMarkup | None = None


@dataclass(frozen=True)
class Document:
    content: bytes
    filename: str
    caption: str


Outgoing = Text | Document


async def send(bot: ExtBot[Any], chat_id: int, outgoing: Outgoing, flood_retries: int | None = None) -> Message:
    """One message or file; Telegram's errors are the caller's to handle. A 429 is waited out and tried
    again, at most `flood_retries` times when given (then it is raised), else as often as Telegram asks."""
    if isinstance(outgoing, Document):
        document = InputFile(outgoing.content, filename=outgoing.filename)
        return await bot.send_document(chat_id, document, caption=outgoing.caption, rate_limit_args=flood_retries)
    return await bot.send_message(chat_id, outgoing.html, reply_markup=outgoing.markup, rate_limit_args=flood_retries)


def deliver_soon(context: BotContext) -> None:
    """Deliver owed messages now rather than at the next tick: called right after a change owed some.

    A run of its own: runs may overlap, as they do across processes, and the outbox's leases keep
    each message to one of them.
    """
    queue = context.job_queue
    if queue is None:  # the composition root does not build the bot without one
        raise RuntimeError("python-telegram-bot[job-queue] is not installed")
    for job in queue.get_jobs_by_name(DELIVERY_JOB):
        queue.run_once(job.callback, 0, name=f"{DELIVERY_JOB}-now")


async def edit(bot: Bot, chat_id: int, message_id: int, html: str) -> None:
    """Replace a message's text and drop its buttons; a message that is gone is not an error."""
    try:
        await bot.edit_message_text(html, chat_id=chat_id, message_id=message_id)
    except (BadRequest, Forbidden) as error:
        log.info("could not edit message %s in chat %s: %s", message_id, chat_id, error.message)
