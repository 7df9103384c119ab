"""Registration: anyone who writes to the bot has a user row, created once, refreshed on every visit."""

import asyncio

from sqlalchemy import select, update

from bot import users
from bot.reasons import Reason, dumps
from bot.wiring.services import Services, build_services
from storage.db import connect
from storage.models import User
from tests.conftest import make_settings


async def test_registering_creates_then_refreshes_and_keeps_what_admins_set(services: Services) -> None:
    first = await users.register_user(services, 7, "Ann", "ann")
    assert (first.first_name, first.is_requester, first.suspended_reason) == ("Ann", False, None)
    async with services.db.write() as session:
        await users.mark_unreachable(session, 7)
        suspension = dumps(Reason.typed("spam"), 512)
        await session.execute(update(User).where(User.id == 7).values(is_requester=True, suspended_reason=suspension))
    again = await users.register_user(services, 7, "Anna" * 100, None)
    assert (again.first_name, again.is_requester) == (("Anna" * 100)[:256], True)
    assert again.suspended_reason == Reason.typed("spam")
    async with services.db.read() as session:
        row = (await session.execute(select(User.username, User.is_reachable).where(User.id == 7))).one()
    assert tuple(row) == (None, True), "a visit refreshes the username and makes them reachable again"


async def test_a_requester_named_in_the_settings_is_one_from_the_start(services: Services, database_url: str) -> None:
    named = build_services(make_settings(database_url, requester_ids="8"), services.db, services.clock)
    assert (await users.register_user(named, 8, "Shop", None)).is_requester


async def test_the_same_new_user_registered_by_two_processes_at_once_is_one_row(
    services: Services, database_url: str
) -> None:
    other = build_services(services.settings, connect(database_url), services.clock)
    try:
        people = await asyncio.gather(
            *(
                users.register_user(process, user_id, "W", None)
                for user_id in range(20)
                for process in (services, other)
            )
        )
    finally:
        await other.db.dispose()
    assert len(people) == 40
    async with services.db.read() as session:
        assert list(await session.scalars(select(User.id).order_by(User.id))) == list(range(20))
