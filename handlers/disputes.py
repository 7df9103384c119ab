"""Contested gold: the worker's "this gold is wrong" button, and the requester's or an admin's decision."""

from telegram import Message, Update

from bot.quality import disputes
from handlers import common, display, notify, texts
from handlers.common import BotContext


async def on_contest(update: Update, context: BotContext, assignment_id: int) -> None:
    """The worker contests a missed check: the requester and every admin are asked to decide."""
    contest = await disputes.contest(context.services, common.sender(update).id, assignment_id)
    await context.bot.send_message(common.chat_id(update), texts.contest_sent(contest))
    notify.deliver_soon(context)  # the judges' notices, owed with the contest


async def on_judge(update: Update, context: BotContext, dispute_id: int, status: str, message: Message | None) -> None:
    """The requester or an admin decided; the contesters and anyone reinstated are told."""
    services = context.services
    judge_id = common.sender(update).id
    decision = await disputes.decide(services, dispute_id, judge_id, status)
    summary = texts.dispute_decided(decision)
    if message is not None:
        await display.edit_body(message, f"{message.text_html}\n\n{summary}", None)
    else:
        await context.bot.send_message(common.chat_id(update), summary)
    notify.deliver_soon(context)  # the contesters' and the reinstated workers' messages
