"""What people do with money, one function per action, each its own unit of work: a worker's balance,
payout method and payout requests; an admin's decisions on payouts and the payout queue."""

from dataclasses import dataclass

from bot import admin, outbox, users
from bot.errors import DomainError
from bot.money import ledger, payouts
from bot.money.payout_methods import Method
from bot.money.payouts import PayoutView, WorkerRecord
from bot.wiring.services import Services
from storage.states import PayoutStatus


@dataclass(frozen=True)
class PayoutNotice:
    """What an admin is shown of a payout request before deciding."""

    payout: PayoutView
    record: WorkerRecord


async def balance(services: Services, worker_id: int) -> ledger.WorkerBalance:
    async with services.db.read() as session:
        return await ledger.worker_balance(session, worker_id)


async def payout_method(services: Services, worker_id: int) -> Method | None:
    async with services.db.read() as session:
        return await payouts.current_method(session, worker_id)


async def set_payout_method(
    services: Services, worker_id: int, kind: str, typed: str, retry: str
) -> tuple[Method | None, Method]:
    """The address the worker typed; refused, their next message is asked for again as `retry`, so they
    can try again without tapping the kind anew. Returns the previous method (if any) and the new one."""
    try:
        async with services.db.write() as session:
            return await payouts.set_method(session, worker_id, kind, typed, services.clock.now())
    except DomainError:
        await users.await_typed(services, worker_id, retry)
        raise


async def request_payout(services: Services, worker_id: int, amount: int | None) -> PayoutView:
    """/payout: `amount` (None: the whole available balance) held for the payout; every admin is told."""
    settings = services.settings
    async with services.db.write() as session:
        payout = await payouts.request(session, worker_id, settings.payout_threshold_micros, settings.currency, amount)
        await outbox.owe_payout_requested(session, payout.id, payout.worker_id, settings.admin_ids, tell_worker=False)
    return payout


async def decide_payout(
    services: Services, admin_id: int, payout_id: int, approve: bool, note: str | None
) -> PayoutView:
    """An admin approves (note: the transaction id) or rejects (note: the reason); the worker is told."""
    async with services.db.write() as session:
        payout = await payouts.decide(session, payout_id, admin_id, approve, services.clock.now(), note)
        await outbox.owe_payout_decided(session, payout.id, payout.worker_id)
        await admin.audit(
            session, admin_id, "payout_approve" if approve else "payout_reject", str(payout_id), note or ""
        )
    return payout


async def record_reference(services: Services, admin_id: int, payout_id: int, reference: str) -> PayoutView:
    """An admin's reply to a payout notice: the transaction id of an approved payout."""
    async with services.db.write() as session:
        payout = await payouts.set_reference(session, payout_id, reference)
        await admin.audit(session, admin_id, "payout_reference", str(payout_id), reference[:200])
    return payout


async def payout_replied_to(services: Services, admin_id: int, message_id: int) -> int | None:
    """The payout whose notice (the admin's copy, message `message_id`) the admin replied to, if any."""
    async with services.db.read() as session:
        return await payouts.payout_of_notice(session, admin_id, message_id)


async def payout(services: Services, payout_id: int) -> PayoutView:
    async with services.db.read() as session:
        return await payouts.view(session, payout_id)


async def payout_notice(services: Services, payout_id: int) -> PayoutNotice:
    async with services.db.read() as session:
        found = await payouts.view(session, payout_id)
        return PayoutNotice(found, await payouts.worker_record(session, found.worker_id))


async def notice_copies(services: Services, payout_id: int) -> list[tuple[int, int]]:
    """Every admin's copy of the payout's notice: (chat id, message id)."""
    async with services.db.read() as session:
        return await payouts.notices(session, payout_id)


async def payout_queue(services: Services) -> list[PayoutView]:
    """/queue: the payouts waiting for a decision."""
    async with services.db.read() as session:
        return await payouts.queue(session)


async def paypal_payouts_csv(services: Services, note: str) -> str:
    """/payouts_csv: every approved PayPal payout, in PayPal's mass-payout format, with `note` to each payee."""
    async with services.db.read() as session:
        approved = await payouts.queue(session, status=PayoutStatus.APPROVED, limit=10_000)
    return payouts.paypal_mass_payout_csv(approved, services.settings.currency, note)
