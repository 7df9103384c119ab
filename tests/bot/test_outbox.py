"""The outbox: owed once per cause, leased to one delivery run, retried with a capped backoff, in order per chat."""

from sqlalchemy import func, select

from bot import outbox
from bot.outbox import Notice
from bot.wiring.services import Services
from storage.models import OutboxMessage
from tests.conftest import MovableClock

ANN, BOB = 101, 102


async def owe(services: Services, key: str, chat_id: int) -> None:
    async with services.db.write() as session:
        await outbox.owe(session, key, chat_id, Notice.PAYOUT_METHOD_REMINDER)


async def claimed(services: Services) -> list[tuple[str, int]]:
    """(dedupe key, attempts) of what one delivery run would take now."""
    taken = await outbox.claim(services)
    async with services.db.read() as session:
        keys = dict((await session.execute(select(OutboxMessage.id, OutboxMessage.dedupe_key))).all())
    return [(keys[owed.id], owed.attempts) for owed in taken]


def lease_runs_out(clock: MovableClock) -> None:
    clock.advance(outbox.LEASE.total_seconds())


async def test_one_cause_owes_one_message(services: Services) -> None:
    await owe(services, "payout:1:requested:101", ANN)
    await owe(services, "payout:1:requested:101", ANN)  # the change ran again: a replay, a second process
    async with services.db.read() as session:
        assert await session.scalar(select(func.count(OutboxMessage.id))) == 1


async def test_a_leased_message_goes_to_no_other_run_until_the_lease_runs_out(
    services: Services, clock: MovableClock
) -> None:
    """A run that dies between Telegram taking the message and marking it sent: the message goes out
    once more after the lease, never sooner, and never a third time once it is marked."""
    await owe(services, "a", ANN)
    assert await claimed(services) == [("a", 1)]
    assert await claimed(services) == [], "leased to the first run"
    lease_runs_out(clock)
    (owed,) = await outbox.claim(services)
    assert owed.attempts == 2
    await outbox.sent(services, owed, message_id=7)
    lease_runs_out(clock)
    assert await claimed(services) == []


async def test_a_failed_message_waits_and_holds_back_only_its_own_chat(services: Services, clock: MovableClock) -> None:
    await owe(services, "ann first", ANN)
    await owe(services, "ann second", ANN)
    await owe(services, "bob", BOB)
    first, bobs = await outbox.claim(services)
    assert await outbox.retry(services, first, "Bad Gateway") > services.clock.now()
    await outbox.sent(services, bobs, message_id=1)
    assert await claimed(services) == [], "Ann's second message waits behind her first"
    clock.advance(outbox.backoff(1).total_seconds())
    assert await claimed(services) == [("ann first", 2)]


def test_backoff_doubles_up_to_a_cap() -> None:
    assert [outbox.backoff(attempts).total_seconds() for attempts in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert outbox.backoff(8) == outbox.backoff(10_000) == outbox.LAST_RETRY
