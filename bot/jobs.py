"""Scheduled work. Each job derives what to do from the database, so a missed run simply catches up.

Every bot process runs the job queue. A scheduled run first takes its job's lease (`exclusively`), and
a run that finds the lease held skips: so a job runs once at a time however many processes run it. The
bodies are idempotent as well (keys on what they owe, conditional updates, locked rows), so runs one
after the other, or overlapping after a lease ran out, create and send nothing twice.
"""

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import select

from bot import outbox, work
from bot.batches import lifecycle as batches
from bot.errors import DomainError
from bot.money import credits, ledger, payouts
from bot.money.payouts import PayoutView
from bot.outbox import Notice
from bot.renewal import renewed
from bot.wiring.services import Services
from storage import assignments, leases
from storage.models import Account, Batch, User
from storage.states import UNDER_WAY

log = logging.getLogger(__name__)
T = TypeVar("T")
# Renewed while the run goes on (bot.renewal), so a process that dies mid-run (kill -9) holds its job up
# for at most this long. Should renewals fail long enough for it to run out, a run may overlap the next,
# which the idempotent bodies make harmless.
JOB_LEASE = timedelta(seconds=30)


async def exclusively(services: Services, name: str, body: Callable[[Services], Awaitable[T]]) -> T | None:
    """Run the job `name` unless another run of it, in this process or another, holds its lease: then
    skip quietly and return None.

    A lease row rather than PostgreSQL's advisory lock: it works on SQLite too (two processes may share
    a file), and it needs no transaction held open through the run, whose own transactions stay short.
    """
    holder = uuid.uuid4().hex
    now = services.clock.now()
    async with services.db.write() as session:
        taken = await leases.take(session, name, holder, now, now + JOB_LEASE)
    if not taken:
        log.debug("job %s is running elsewhere; this run skips", name)
        return None

    async def renew(until: datetime) -> None:
        async with services.db.write() as session:
            await leases.renew(session, name, holder, until)

    try:
        async with renewed(services, JOB_LEASE, renew, f"job {name}"):
            return await body(services)
    finally:
        async with services.db.write() as session:
            await leases.give_back(session, name, holder)


@dataclass
class Sweep:
    created: list[PayoutView] = field(default_factory=list)
    reminders: list[int] = field(default_factory=list)


async def reclaim_reservations(services: Services) -> int:
    """Expired reservations go back to the pool for other workers."""
    total = 0
    while reclaimed := await work.reclaim_expired(services):
        total += reclaimed
    if total:
        log.info("returned %d expired reservation(s) to the pool", total)
    return total


async def release_holds(services: Services) -> int:
    """Credits whose review window has passed become available."""
    hold = timedelta(hours=services.settings.hold_hours)
    total = 0
    while True:
        async with services.db.write() as session:
            released = await credits.release_due(session, services.clock.now(), hold)
        if not released:
            break
        total += released
    if total:
        log.info("released %d credit(s) from pending to available", total)
    return total


async def sweep_payouts(services: Services) -> Sweep:
    """A payout request for every worker whose available balance reached the threshold.

    The worker and every admin are owed a message about it, in the request's own transaction.
    """
    threshold = services.settings.payout_threshold_micros
    async with services.db.read() as session:
        owners = list(
            await session.scalars(
                select(Account.owner_id).where(
                    Account.kind == ledger.WORKER_AVAILABLE, Account.balance >= max(threshold, 1)
                )
            )
        )
    result = Sweep()
    for worker_id in owners:
        # One transaction per worker: one worker's problem must not hold up everyone's pay.
        async with services.db.write() as session:
            # Locked: a sweep of another process waits here, then finds the reminder or the payout made.
            user = await session.get(User, worker_id, with_for_update=True)
            if user is None or user.suspended_reason or not user.is_reachable:
                continue
            if await payouts.current_method(session, worker_id) is None:
                if user.reminded_method_at is None:
                    user.reminded_method_at = services.clock.now()
                    key = f"payout-method-reminder:{worker_id}:{user.reminded_method_at.isoformat()}"
                    await outbox.owe(session, key, worker_id, Notice.PAYOUT_METHOD_REMINDER)
                    result.reminders.append(worker_id)
                continue
            try:
                payout = await payouts.request(session, worker_id, threshold, services.settings.currency)
                await outbox.owe_payout_requested(
                    session, payout.id, worker_id, services.settings.admin_ids, tell_worker=True
                )
                result.created.append(payout)
            except DomainError as refusal:
                log.info("no payout for %s: %s", worker_id, refusal)
    return result


@dataclass(frozen=True)
class Completion:
    batch_id: int
    name: str
    requester_id: int
    refund_micros: int


async def complete_batches(services: Services) -> list[Completion]:
    """Finished batches are closed and their unspent money refunded; each requester is owed the
    news and the results files in the same transaction (the files are written at delivery)."""
    reports = []
    async with services.db.write() as session:
        for batch in await batches.complete_finished(session, services.clock.now()):
            refund = max(batch.reserved_micros - await assignments.spent(session, batch.id), 0)
            reports.append(Completion(batch.id, batch.name, batch.requester_id, refund))
            for part, notice, params in (
                ("completed", Notice.BATCH_COMPLETED, {"refund_micros": refund}),
                ("labels", Notice.BATCH_LABELS, {}),
                ("answers", Notice.BATCH_ANSWERS, {}),
            ):
                key = f"batch:{batch.id}:{part}"
                await outbox.owe(session, key, batch.requester_id, notice, batch_id=batch.id, **params)
    return reports


async def spent_quiz_budgets(services: Services) -> list[batches.SpentQuizBudget]:
    """Batches that just ran out of quizzes while work is left: their requesters are owed a message."""
    async with services.db.write() as session:
        now = services.clock.now()
        spent = await batches.newly_spent_quiz_budgets(session, now)
        for budget in spent:
            key = f"batch:{budget.batch_id}:quiz-budget-spent:{now.isoformat()}"
            await outbox.owe(
                session,
                key,
                budget.requester_id,
                Notice.QUIZ_BUDGET_SPENT,
                batch_id=budget.batch_id,
                name=budget.name,
                open_items=budget.open_items,
            )
        return spent


async def daily_digest(services: Services) -> dict[int, list[batches.Progress]]:
    """Progress of every running batch, by requester; each requester is owed the day's digest, once
    however many processes run this job (it shows the progress as it is when delivered)."""
    now = services.clock.now()
    today = now.date().isoformat()
    async with services.db.read() as session:
        running = await session.scalars(select(Batch).where(Batch.status.in_(UNDER_WAY)))
        by_requester: dict[int, list[batches.Progress]] = {}
        for batch in running:
            by_requester.setdefault(batch.requester_id, []).append(await batches.progress(session, batch, now))
    async with services.db.write() as session:
        for requester_id, lines in by_requester.items():
            key = f"digest:{today}:{requester_id}"
            await outbox.owe(session, key, requester_id, Notice.DAILY_DIGEST, batch_ids=[line.id for line in lines])
    return by_requester
