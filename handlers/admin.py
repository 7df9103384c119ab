"""Admin commands and payout decisions. Every admin action is audited; so is every refused attempt."""

import logging
from collections.abc import Callable, Coroutine
from functools import wraps
from typing import Any

from telegram import Bot, InputFile, Message, Update

from bot import admin, users
from bot.errors import ErrorCode, InvalidInput, Refusal, ValueProblem
from bot.money import wallet
from bot.money.amounts import typed_amount
from bot.reasons import Reason
from bot.wiring.services import Services
from handlers import common, display, keyboards, messages, notify, texts
from handlers.common import BotContext
from handlers.i18n import gettext as _

log = logging.getLogger(__name__)
Handler = Callable[[Update, BotContext], Coroutine[Any, Any, None]]
REASON_INPUT = "reject_reason:"


async def _refused(update: Update, context: BotContext, action: str, details: str) -> bool:
    """Whether the sender is not an admin; if so they are told no, and the attempt is audited."""
    services = context.services
    user_id = common.sender(update).id
    if user_id in services.settings.admin_ids:
        return False
    log.warning("user %s tried admin action %r", user_id, action)
    await admin.refuse(services, user_id, action, details)
    await context.bot.send_message(common.chat_id(update), _(texts.NOT_ALLOWED))
    return True


def admins_only(handler: Handler) -> Handler:
    """Refuse non-admins politely, and write the attempt to the audit log."""

    @wraps(handler)
    async def guarded(update: Update, context: BotContext) -> None:
        if await _refused(update, context, handler.__name__, common.message(update).text or ""):
            return
        await handler(update, context)

    return guarded


class Usage(ErrorCode):
    USAGE = "usage"  # {usage}: the command's form


def _arguments(context: BotContext, needed: int, usage: str) -> list[str]:
    arguments = context.args or []
    if len(arguments) < needed:
        raise InvalidInput(Usage.USAGE, usage=usage)
    return arguments


@admins_only
async def admin_help(update: Update, context: BotContext) -> None:
    await common.message(update).reply_text(_(texts.ADMIN_HELP))


@admins_only
async def fund(update: Update, context: BotContext) -> None:
    services = context.services
    who, amount_text = _arguments(context, 2, _("/fund USER AMOUNT, e.g. /fund @shop 100"))[:2]
    try:
        amount = typed_amount(amount_text)
    except ValueProblem as error:
        raise InvalidInput(Refusal.VALUE_INVALID, problem=error.problem) from None
    message = common.message(update)
    # The key comes from the admin's message, so a replayed update cannot fund twice.
    key = f"fund:{message.chat_id}:{message.message_id}"
    funded = await admin.fund_requester(services, common.sender(update).id, who, amount, key)
    if funded.posted:
        user = funded.requester
        await message.reply_text(
            texts.credited(amount, services.settings.currency, user.first_name or str(user.id), user.id)
        )


@admins_only
async def grant(update: Update, context: BotContext) -> None:
    await _set_role(update, context, granted=True)


@admins_only
async def revoke(update: Update, context: BotContext) -> None:
    await _set_role(update, context, granted=False)


async def _set_role(update: Update, context: BotContext, granted: bool) -> None:
    services = context.services
    who, role = _arguments(context, 2, _("/grant USER requester") if granted else _("/revoke USER requester"))[:2]
    user = await admin.grant_role(services, common.sender(update).id, who, role, granted)
    name = user.first_name or str(user.id)
    await common.message(update).reply_text(texts.role_set(name, user.id, role, granted))


@admins_only
async def suspend(update: Update, context: BotContext) -> None:
    services = context.services
    arguments = _arguments(context, 1, _("/suspend USER [reason]"))
    suspended = await admin.suspend_user(services, common.sender(update).id, arguments[0], " ".join(arguments[1:]))
    await common.message(update).reply_text(texts.suspended_for_admin(suspended.user_id, suspended.reason))
    notify.deliver_soon(context)


@admins_only
async def unsuspend(update: Update, context: BotContext) -> None:
    services = context.services
    (who,) = _arguments(context, 1, _("/unsuspend USER"))[:1]
    user_id = await admin.unsuspend_user(services, common.sender(update).id, who)
    await common.message(update).reply_text(texts.unsuspended(user_id))
    notify.deliver_soon(context)


@admins_only
async def reinstate(update: Update, context: BotContext) -> None:
    services = context.services
    who, batch_text = _arguments(context, 2, _("/reinstate USER BATCH"))[:2]
    if not batch_text.lstrip("#").isdigit():
        raise InvalidInput(Usage.USAGE, usage=_("/reinstate USER BATCH (the batch's number)"))
    batch_id = int(batch_text.lstrip("#"))
    user_id = await admin.reinstate_worker(services, common.sender(update).id, who, batch_id)
    await common.message(update).reply_text(texts.reinstated_for_admin(user_id, batch_id))
    notify.deliver_soon(context)


@admins_only
async def held_queue(update: Update, context: BotContext) -> None:
    """/held: the holds waiting for a look, each with its two buttons."""
    services = context.services
    waiting = await admin.holds_waiting(services, texts.MAX_HOLDS_SHOWN)
    if not waiting:
        await common.message(update).reply_text(_(texts.NO_HOLDS))
        return
    await common.message(update).reply_text(texts.holds_listed(len(waiting)))
    for held in waiting:
        await common.message(update).reply_text(
            texts.hold_waiting(held), reply_markup=keyboards.hold_review(held.batch_id, held.worker_id)
        )


async def on_review(
    update: Update, context: BotContext, batch_id: int, worker_id: int, remove: bool, message: Message | None
) -> None:
    """An admin's button on a hold: let the worker continue, or remove them and reject their held-back pay."""
    services = context.services
    admin_id = common.sender(update).id
    if await _refused(update, context, "hold review", f"batch {batch_id} worker {worker_id}"):
        return
    review = await admin.decide_hold(services, admin_id, batch_id, worker_id, remove)
    if review is None:
        await context.bot.send_message(common.chat_id(update), texts.hold_already_decided(batch_id, worker_id))
        if message is not None:
            await display.edit_body(message, message.text_html, None)
        return
    summary = texts.hold_decided(review, _name(update))
    if message is not None:
        await display.edit_body(message, f"{message.text_html}\n\n{summary}", None)
    else:
        await context.bot.send_message(common.chat_id(update), summary)
    notify.deliver_soon(context)


async def platform_stats(update: Update, context: BotContext) -> None:
    """Called from /stats for admins only."""
    services = context.services
    currency = services.settings.currency
    figures = await admin.platform_stats(services)
    await common.message(update).reply_text(
        texts.platform_stats(
            figures.active_workers_today,
            figures.answers_today,
            figures.pending_payouts,
            figures.pending_payout_micros,
            figures.money_by_account,
            currency,
        )
    )


@admins_only
async def audit_log(update: Update, context: BotContext) -> None:
    services = context.services
    lines = await admin.audit_log(services)
    await common.message(update).reply_text(
        texts.audit_log([(line.at, line.actor_id, line.action, line.target, line.details) for line in lines])
    )


@admins_only
async def payout_queue(update: Update, context: BotContext) -> None:
    services = context.services
    waiting = await wallet.payout_queue(services)
    if not waiting:
        await common.message(update).reply_text(_(texts.QUEUE_EMPTY))
        return
    for payout in waiting:
        await common.message(update).reply_text(
            await notice_text(services, payout.id), reply_markup=keyboards.payout_decision(payout.id)
        )


@admins_only
async def payouts_csv(update: Update, context: BotContext) -> None:
    content = await wallet.paypal_payouts_csv(context.services, texts.PAYPAL_NOTE)
    await context.bot.send_document(
        common.chat_id(update),
        InputFile(content.encode(), filename="paypal-mass-payout.csv"),
        caption=texts.paypal_file_caption(content.count(chr(10))),
    )


async def on_decision(update: Update, context: BotContext, payout_id: int, approve: bool) -> None:
    services = context.services
    admin_id = common.sender(update).id
    if await _refused(update, context, "payout decision", str(payout_id)):
        return
    if not approve:
        await common.register(update, services)
        await users.await_typed(services, admin_id, f"{REASON_INPUT}{payout_id}")
        await context.bot.send_message(common.chat_id(update), _(texts.REJECT_REASON_PROMPT).format(id=payout_id))
        return
    await _decide(update, context, payout_id, approve=True, note=None)


async def reason_typed(update: Update, context: BotContext, payout_id: int) -> None:
    await _decide(update, context, payout_id, approve=False, note=common.typed(update))


async def reference_replied(update: Update, context: BotContext, payout_id: int) -> None:
    services = context.services
    reference = common.typed(update)
    payout = await wallet.record_reference(services, common.sender(update).id, payout_id, reference)
    await common.message(update).reply_text(_(texts.REFERENCE_SAVED).format(id=payout_id))
    await _update_copies(
        context.bot, services, payout_id, approved=True, admin_name=_name(update), detail=payout.reference
    )


async def _decide(update: Update, context: BotContext, payout_id: int, approve: bool, note: str | None) -> None:
    services = context.services
    admin_id = common.sender(update).id
    payout = await wallet.decide_payout(services, admin_id, payout_id, approve, note)
    notify.deliver_soon(context)
    await _update_copies(
        context.bot, services, payout_id, approve, _name(update), payout.reference if approve else _said(payout.reason)
    )


def _said(reason: Reason | None) -> str | None:
    return messages.reason_text(reason) if reason else None


async def _update_copies(
    bot: Bot, services: Services, payout_id: int, approved: bool, admin_name: str, detail: str | None
) -> None:
    """The decision replaces the buttons on every admin's copy, so nobody decides twice."""
    notice = await notice_text(services, payout_id)
    copies = await wallet.notice_copies(services, payout_id)
    for chat_id, message_id in copies:
        await notify.edit(bot, chat_id, message_id, texts.payout_decided(notice, approved, admin_name, detail))


async def notice_text(services: Services, payout_id: int) -> str:
    found = await wallet.payout_notice(services, payout_id)
    payout, record = found.payout, found.record
    return texts.payout_notice(
        payout.id,
        payout.worker_name,
        payout.worker_id,
        payout.amount_micros,
        texts.method_label(payout.method),
        record.accuracy,
        record.gold_answers,
        record.answers,
        record.paid_before_micros,
        record.payouts_before,
        services.settings.currency,
    )


def _name(update: Update) -> str:
    user = common.sender(update)
    return users.display_name(user.id, user.username, user.first_name)
