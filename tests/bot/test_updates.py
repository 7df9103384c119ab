"""Each update is taken once: by the first to come, or after a dead taker's claim ran out; done ones are forgotten a day later."""

import asyncio

from sqlalchemy import select

from bot import updates
from bot.updates import Taken
from bot.wiring.services import Services
from storage.models import SeenUpdate
from tests.conftest import MovableClock


async def test_the_first_takes_it_then_it_is_busy_then_done(services: Services) -> None:
    assert await updates.take(services, 1) is Taken.NEW
    assert await updates.take(services, 1) is Taken.BUSY
    assert await updates.take(services, 2) is Taken.NEW, "another update is not held by the first"
    await updates.done(services, 1)
    assert await updates.take(services, 1) is Taken.DONE


async def test_of_many_takers_at_once_one_gets_it(services: Services) -> None:
    taken = await asyncio.gather(*(updates.take(services, 5) for _ in range(8)))
    assert sorted(taken) == sorted([Taken.NEW] + [Taken.BUSY] * 7)


async def test_a_claim_given_back_or_run_out_can_be_taken_again(services: Services, clock: MovableClock) -> None:
    assert await updates.take(services, 1) is Taken.NEW
    await updates.give_back(services, 1)
    assert await updates.take(services, 1) is Taken.NEW
    clock.advance(services.update_lease.total_seconds() - 1)
    assert await updates.take(services, 1) is Taken.BUSY
    clock.advance(2)
    assert await updates.take(services, 1) is Taken.NEW, "the taker died: its claim ran out"
    assert await updates.take(services, 1) is Taken.BUSY, "and the new taker holds it"
    await updates.done(services, 1)
    await updates.give_back(services, 1)  # too late to give back what is done
    assert await updates.take(services, 1) is Taken.DONE


async def test_done_updates_are_forgotten_once_telegram_cannot_send_them_again(
    services: Services, clock: MovableClock
) -> None:
    for update_id in (1, 2):
        await updates.take(services, update_id)
        await updates.done(services, update_id)
    clock.advance(60)
    await updates.take(services, 3)
    await updates.done(services, 3)
    clock.advance(updates.REMEMBERED_FOR.total_seconds() - 30)
    assert await updates.forget_expired(services) == 2
    async with services.db.read() as session:
        assert list(await session.scalars(select(SeenUpdate.update_id))) == [3]
    assert await updates.take(services, 3) is Taken.DONE
