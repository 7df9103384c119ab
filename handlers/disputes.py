"""Contested gold: the worker's "this gold is wrong" button, and the requester's or an admin's decision."""

from telegram import Message, Update
from telegram.ext import ContextTypes

from bot import admin, disputes
from bot.errors import DomainError
from handlers import common, display, notify, texts

Context = ContextTypes.DEFAULT_TYPE


async def on_contest(update: Update, context: Context, assignment_id: int) -> None:
    """The worker contests a missed check: the requester and every admin are asked to decide."""
    services = common.services_of(context)
    try:
        contest = await disputes.contest(services, update.effective_user.id, assignment_id)
    except DomainError as refusal:
        await context.bot.send_message(update.effective_chat.id, str(refusal))
        return
    await context.bot.send_message(update.effective_chat.id, texts.contest_sent(contest))
    notify.deliver_soon(context)  # the judges' notices, owed with the contest


async def on_judge(update: Update, context: Context, dispute_id: int, status: str, message: Message | None) -> None:
    """The requester or an admin decided; the contesters and anyone reinstated are told."""
    services = common.services_of(context)
    judge_id = update.effective_user.id
    try:
        decision = await disputes.decide(services, dispute_id, judge_id, status)
    except DomainError as refusal:
        await context.bot.send_message(update.effective_chat.id, str(refusal))
        return
    if judge_id in services.settings.admin_ids:
        async with services.db.write() as session:
            await admin.audit(session, judge_id, "gold_dispute", str(dispute_id), status)
    summary = texts.dispute_decided(decision)
    if message is not None:
        await display.edit_body(message, f"{message.text_html}\n\n{summary}", None)
    else:
        await context.bot.send_message(update.effective_chat.id, summary)
    notify.deliver_soon(context)  # the contesters' and the reinstated workers' messages
