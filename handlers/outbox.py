"""Delivery of the messages the bot owes people (bot.outbox): rendered at delivery, sent with retries.

Delivered once: a message is leased to one run, sent, and marked sent in the very next transaction.
A process that dies between Telegram taking a message and that commit leaves the lease to run out
(bot.outbox.LEASE); another run then sends the message again. So a crash costs at most one duplicate
of the messages in flight, never a lost one (at least once); no other work sits in that window.
A crash before the send only delays the message until the lease runs out. A send that times out
may also have reached Telegram; it is retried the same way, the one other way to a duplicate.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from telegram.error import BadRequest, Forbidden, RetryAfter
from telegram.ext import ExtBot

from bot import outbox, users
from bot.batches import lifecycle as batches
from bot.batches import results
from bot.money import wallet
from bot.outbox import Notice, Owed
from bot.quality import disputes
from bot.quality import rules as quality
from bot.reasons import Reason
from bot.wiring.services import Services
from handlers import admin, i18n, keyboards, notify, requester, texts
from handlers.common import BotContext
from handlers.formatting import money
from handlers.i18n import gettext as _
from storage.states import PayoutStatus

log = logging.getLogger(__name__)
Params = dict[str, Any]
DELIVER_EVERY_SECONDS = 5
# A 429 is waited out in line once; a second one hands the message back to the outbox, which tries again
# after retry_after. So a long flood wait never holds a claimed message past its lease (bot.outbox.LEASE),
# when another run could take and send it too.
FLOOD_RETRIES = 1


async def deliver_job(context: BotContext) -> None:
    await deliver(context.bot, context.services)


async def deliver(bot: ExtBot[Any], services: Services) -> int:
    """Send every due message; returns how many Telegram took. One failure never holds up the others."""
    delivered = 0
    while owed := await outbox.claim(services):
        spoken = await users.languages(services, (message.chat_id for message in owed))
        default = services.settings.default_language
        # Each claimed message heads its own chat, so sending them together keeps every chat's order.
        outcomes = await asyncio.gather(
            *(
                _deliver_one(bot, services, message, i18n.choose(spoken.get(message.chat_id), default))
                for message in owed
            ),
            return_exceptions=True,
        )
        for message, outcome in zip(owed, outcomes, strict=True):
            if isinstance(outcome, BaseException):  # its report did not reach the database: the lease will run out
                log.error("%s #%d to %s: %r", message.kind, message.id, message.chat_id, outcome, exc_info=outcome)
        delivered += sum(outcome is True for outcome in outcomes)
    return delivered


async def _deliver_one(bot: ExtBot[Any], services: Services, owed: Owed, language: str) -> bool:
    """Rendered in the recipient's language (each gathered send runs in its own task, with its own)."""
    try:
        i18n.set_language(language)
        sent = await notify.send(bot, owed.chat_id, await _render(services, owed), FLOOD_RETRIES)
    except Forbidden:
        log.info("user %s blocked the bot; %s given up and the user marked unreachable", owed.chat_id, owed.kind)
        await outbox.unreachable(services, owed)
        return False
    except BadRequest as error:
        # Telegram refused this very message (chat not found, text it cannot parse, …): sending it
        # again would be refused again. It stays in the outbox, given up with the reason, for an operator.
        log.warning("Telegram refused %s #%d to %s: %s; given up", owed.kind, owed.id, owed.chat_id, error.message)
        await outbox.refused(services, owed, error.message)
        return False
    except RetryAfter as error:
        given = error.retry_after  # a timedelta, unless the operator set PTB_TIMEDELTA=false (build_application)
        wait = given if isinstance(given, timedelta) else timedelta(seconds=given)
        await outbox.retry(services, owed, str(error), wait_at_least=wait)
        return False
    except Exception as error:
        # A network error, a timeout, a 5xx (PTB raises NetworkError for these) or a rendering bug:
        # none says the message is wrong for Telegram, so it is tried again after a backoff.
        at = await outbox.retry(services, owed, f"{type(error).__name__}: {error}")
        log.warning(
            "%s #%d to %s failed (attempt %d): %s; again at %s",
            owed.kind,
            owed.id,
            owed.chat_id,
            owed.attempts,
            error,
            f"{at:%H:%M:%S}",
        )
        return False
    await outbox.sent(services, owed, sent.message_id)
    return True


async def _render(services: Services, owed: Owed) -> notify.Outgoing:
    return await RENDERERS[Notice(owed.kind)](services, owed.chat_id, owed.params)


async def _payout_requested(services: Services, chat_id: int, params: Params) -> notify.Outgoing:
    payout = await wallet.payout(services, params["payout_id"])
    return notify.Text(texts.payout_requested(payout, services.settings.currency))


async def _payout_notice(services: Services, chat_id: int, params: Params) -> notify.Outgoing:
    payout_id = params["payout_id"]
    waiting = (await wallet.payout(services, payout_id)).status == PayoutStatus.REQUESTED
    # A notice delivered after the decision needs no buttons: nobody can decide twice.
    markup = keyboards.payout_decision(payout_id) if waiting else None
    return notify.Text(await admin.notice_text(services, payout_id), markup)


async def _payout_decided(services: Services, chat_id: int, params: Params) -> notify.Outgoing:
    payout = await wallet.payout(services, params["payout_id"])
    amount = money(payout.amount_micros, services.settings.currency)
    if payout.status == PayoutStatus.APPROVED:
        return notify.Text(texts.payout_approved_worker(payout.id, amount, texts.method_label(payout.method)))
    return notify.Text(texts.payout_rejected_worker(payout.id, amount, payout.reason))


async def _payout_method_reminder(services: Services, chat_id: int, params: Params) -> notify.Outgoing:
    return notify.Text(_(texts.PAYOUT_METHOD_REMINDER))


async def _batch_completed(services: Services, chat_id: int, params: Params) -> notify.Outgoing:
    batch_id = params["batch_id"]
    name = await batches.batch_name(services, batch_id, chat_id)
    refund = money(params["refund_micros"], services.settings.currency)
    return notify.Text(texts.batch_completed(batch_id, name, refund))


async def _batch_file(services: Services, chat_id: int, params: Params, name: str) -> notify.Outgoing:
    """Rendered from the database at delivery, so a retry sends the same file and nothing big is stored."""
    batch_id = params["batch_id"]
    found = await results.batch_results(services, batch_id, chat_id)
    return await requester.results_file(batch_id, found.labels if name == requester.LABELS else found.raw, name)


async def _batch_labels(services: Services, chat_id: int, params: Params) -> notify.Outgoing:
    return await _batch_file(services, chat_id, params, requester.LABELS)


async def _batch_answers(services: Services, chat_id: int, params: Params) -> notify.Outgoing:
    return await _batch_file(services, chat_id, params, requester.RAW)


async def _quiz_budget_spent(services: Services, chat_id: int, params: Params) -> notify.Outgoing:
    budget = batches.SpentQuizBudget(params["batch_id"], params["name"], chat_id, params["open_items"])
    return notify.Text(texts.quiz_budget_alert(budget))


async def _hold_for_admins(services: Services, chat_id: int, params: Params) -> notify.Outgoing:
    hold = quality.Hold(**{**params, "reason": Reason.from_dict(params["reason"])})
    return notify.Text(texts.held_for_admins(hold), keyboards.hold_review(hold.batch_id, hold.worker_id))


async def _hold_outcome(services: Services, chat_id: int, params: Params) -> notify.Outgoing:
    review = quality.Review(**{**params, "reason": Reason.from_dict(params["reason"])})
    return notify.Text(texts.hold_outcome(review))


async def _account_suspended(services: Services, chat_id: int, params: Params) -> notify.Outgoing:
    return notify.Text(texts.account_suspended(Reason.from_dict(params["reason"])))


async def _account_active(services: Services, chat_id: int, params: Params) -> notify.Outgoing:
    return notify.Text(_(texts.ACCOUNT_ACTIVE))


async def _batch_reopened(services: Services, chat_id: int, params: Params) -> notify.Outgoing:
    return notify.Text(_(texts.BATCH_REOPENED))


async def _contest(services: Services, chat_id: int, params: Params) -> notify.Outgoing:
    contest = disputes.Contest(**params)
    return notify.Text(texts.contest_for_judges(contest), keyboards.judge(contest.dispute_id))


async def _dispute_outcome(services: Services, chat_id: int, params: Params) -> notify.Outgoing:
    return notify.Text(texts.dispute_outcome(params["status"], params["title"]))


async def _dispute_reinstated(services: Services, chat_id: int, params: Params) -> notify.Outgoing:
    return notify.Text(texts.reinstated(disputes.Reinstated(**params), services.settings.currency))


async def _daily_digest(services: Services, chat_id: int, params: Params) -> notify.Outgoing:
    lines = await batches.digest(services, chat_id, params["batch_ids"])
    return notify.Text(texts.digest(lines, services.settings.currency))


RENDERERS: dict[Notice, Callable[[Services, int, Params], Awaitable[notify.Outgoing]]] = {
    Notice.PAYOUT_REQUESTED: _payout_requested,
    Notice.PAYOUT_NOTICE: _payout_notice,
    Notice.PAYOUT_DECIDED: _payout_decided,
    Notice.PAYOUT_METHOD_REMINDER: _payout_method_reminder,
    Notice.BATCH_COMPLETED: _batch_completed,
    Notice.BATCH_LABELS: _batch_labels,
    Notice.BATCH_ANSWERS: _batch_answers,
    Notice.QUIZ_BUDGET_SPENT: _quiz_budget_spent,
    Notice.HOLD_FOR_ADMINS: _hold_for_admins,
    Notice.HOLD_OUTCOME: _hold_outcome,
    Notice.ACCOUNT_SUSPENDED: _account_suspended,
    Notice.ACCOUNT_ACTIVE: _account_active,
    Notice.BATCH_REOPENED: _batch_reopened,
    Notice.CONTEST: _contest,
    Notice.DISPUTE_OUTCOME: _dispute_outcome,
    Notice.DISPUTE_REINSTATED: _dispute_reinstated,
    Notice.DAILY_DIGEST: _daily_digest,
}
