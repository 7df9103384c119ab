"""Messages the bot owes people because of a change: owed in the change's transaction, delivered once.

A change (a payout requested, a batch completed, …) calls `owe` inside its own unit of work, so the
message exists exactly when the change does. The delivery job claims due messages, sends each, and
reports back with `sent`, `retry`, `unreachable` or `refused`. Each message carries a kind and its
parameters only: the text layer renders it at delivery, in the words of the day.
"""

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot import users
from bot.money import payouts
from bot.wiring.services import Services
from storage import outbox
from storage.outbox import Claimed

log = logging.getLogger(__name__)

# Longer than a delivery of one claimed set can take (a results file, the rate limiter's waits), so a
# lease never runs out under a live run; short enough that a crashed run's messages go out soon after.
LEASE = timedelta(minutes=5)
CLAIM_LIMIT = 50
FIRST_RETRY = timedelta(seconds=5)
LAST_RETRY = timedelta(minutes=10)


class Notice(StrEnum):
    """What a message says, as a code; handlers' text layer renders each with its parameters."""

    PAYOUT_REQUESTED = "payout_requested"  # to the worker: {payout_id}
    PAYOUT_NOTICE = "payout_notice"  # to an admin, with Approve / Reject: {payout_id}
    PAYOUT_DECIDED = "payout_decided"  # to the worker: {payout_id}
    PAYOUT_METHOD_REMINDER = "payout_method_reminder"  # to the worker: {}
    BATCH_COMPLETED = "batch_completed"  # to the requester: {batch_id, refund_micros}
    BATCH_LABELS = "batch_labels"  # the results file: {batch_id}
    BATCH_ANSWERS = "batch_answers"  # the raw answers file: {batch_id}
    QUIZ_BUDGET_SPENT = "quiz_budget_spent"  # to the requester: {batch_id, name, open_items}
    HOLD_FOR_ADMINS = "hold_for_admins"  # to an admin, with Continue / Remove: quality.Hold's fields
    HOLD_OUTCOME = "hold_outcome"  # to the worker: quality.Review's fields
    ACCOUNT_SUSPENDED = "account_suspended"  # {reason}: a bot.reasons.Reason, as_dict()
    ACCOUNT_ACTIVE = "account_active"  # {}
    BATCH_REOPENED = "batch_reopened"  # to a worker an admin reinstated: {batch_id}
    CONTEST = "contest"  # to the requester and the admins, with the decisions: disputes.Contest's fields
    DISPUTE_OUTCOME = "dispute_outcome"  # to a contesting worker: {status, title}
    DISPUTE_REINSTATED = "dispute_reinstated"  # disputes.Reinstated's fields
    DAILY_DIGEST = "daily_digest"  # to a requester: {batch_ids} of their running batches


Owed = Claimed


async def owe(session: AsyncSession, key: str, chat_id: int, notice: Notice, **params: Any) -> None:
    """Owe `chat_id` a message, in the transaction of the change that causes it.

    `key` names the cause the way ledger keys do (`payout:12:requested:101`): the same cause owes once.
    """
    await outbox.add(session, key, chat_id, notice, params)


async def owe_payout_requested(
    session: AsyncSession, payout_id: int, worker_id: int, admin_ids: Iterable[int], tell_worker: bool
) -> None:
    """Every admin gets the request with Approve / Reject; the worker hears of it when they did not ask."""
    if tell_worker:
        await owe(
            session,
            f"payout:{payout_id}:requested:{worker_id}",
            worker_id,
            Notice.PAYOUT_REQUESTED,
            payout_id=payout_id,
        )
    for admin_id in sorted(admin_ids):
        await owe(session, f"payout:{payout_id}:notice:{admin_id}", admin_id, Notice.PAYOUT_NOTICE, payout_id=payout_id)


async def owe_payout_decided(session: AsyncSession, payout_id: int, worker_id: int) -> None:
    await owe(session, f"payout:{payout_id}:decided:{worker_id}", worker_id, Notice.PAYOUT_DECIDED, payout_id=payout_id)


async def claim(services: Services, limit: int = CLAIM_LIMIT) -> list[Owed]:
    """Due messages, leased to this run: no other run (or process) sends them while the lease lasts."""
    now = services.clock.now()
    async with services.db.write() as session:
        return await outbox.claim(session, now, now + LEASE, limit)


async def sent(services: Services, owed: Owed, message_id: int) -> None:
    """Telegram took the message. An admin's payout notice is remembered, so a decision can edit it."""
    async with services.db.write() as session:
        await outbox.mark_sent(session, owed.id, services.clock.now())
        if owed.kind == Notice.PAYOUT_NOTICE:
            await payouts.record_notice(session, owed.params["payout_id"], owed.chat_id, message_id)


async def retry(services: Services, owed: Owed, error: str, wait_at_least: timedelta = timedelta(0)) -> datetime:
    """A passing failure: try again after a backoff that doubles with each attempt, up to a cap."""
    at = services.clock.now() + max(backoff(owed.attempts), wait_at_least)
    async with services.db.write() as session:
        await outbox.retry_at(session, owed.id, at, error)
    return at


async def unreachable(services: Services, owed: Owed) -> None:
    """The person blocked the bot: the message is given up, and they get no more work until they return."""
    async with services.db.write() as session:
        await users.mark_unreachable(session, owed.chat_id)
        await outbox.give_up(session, owed.id, "blocked by the user")


async def refused(services: Services, owed: Owed, error: str) -> None:
    """Telegram refused the message as such: sending it again would get the same answer."""
    async with services.db.write() as session:
        await outbox.give_up(session, owed.id, error)


def backoff(attempts: int) -> timedelta:
    """5 s after the first failed attempt, then 10 s, 20 s, … never more than 10 minutes."""
    return min(FIRST_RETRY * 2 ** min(max(attempts - 1, 0), 16), LAST_RETRY)
