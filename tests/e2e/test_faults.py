"""Faults while serving at scale: instances killed mid-update, the database's connections cut, Telegram's
Bot API failing. `crowdshelf run` processes in webhook mode serve workers who keep answering; afterwards
every answer is recorded once, paid once, and the books are sound."""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from sandbox.telegram_server import FakeTelegram
from storage.db import Database
from storage.models import SeenUpdate, User
from tests.e2e.processes import start_fleet
from tests.e2e.test_webhook import count, eventually, welcomes

# Short enough that three leases pass while the bot's call to Telegram waits (it gives up after 5 s).
LEASE_SECONDS = 1


async def test_a_killed_instances_update_is_taken_by_another_within_the_lease_and_not_before(
    telegram: FakeTelegram, tmp_path: Path, database_url: str, db: Database
) -> None:
    """An instance renews its claim on an update while it processes it, however long that takes; killed,
    it renews no more, and another instance processes the update once the claim has run out."""
    fleet = await start_fleet(
        telegram, tmp_path, 2, DATABASE_URL=database_url, WEBHOOK_LEASE_SECONDS=str(LEASE_SECONDS)
    )
    try:
        first, second = (f"{fleet.url(n)}/telegram" for n in range(2))
        telegram.balance_webhook([first])
        telegram.webhook_timeout = 1  # Telegram stops waiting and sends the update again, to the other
        telegram.webhook_retry_delay = 0.2
        stall = telegram.stall("sendMessage")
        ann = telegram.user(5, "Ann")
        await ann.send("/start")
        await asyncio.wait_for(stall.reached.wait(), 60)  # registered, its welcome under way
        telegram.balance_webhook([second])
        await asyncio.sleep(3 * LEASE_SECONDS)
        to_second = [post.status for post in telegram.webhook_posts if post.url == second]
        assert to_second and set(to_second) == {503}, "the first instance, alive, kept its claim past the lease"
        assert welcomes(ann) == 0

        killed_at = datetime.now(UTC)
        await fleet.kill(0)
        async with db.read() as session:
            claimed_until = await session.scalar(select(SeenUpdate.claimed_until))
        assert claimed_until is not None and claimed_until <= killed_at + timedelta(seconds=LEASE_SECONDS)
        await eventually(lambda: welcomes(ann) == 1, "the other instance to take the update", timeout=60)
    finally:
        await fleet.stop()
    assert telegram.webhook_posts[-1].status == 200 and telegram.webhook_posts[-1].url == second
    assert welcomes(ann) == 1
    assert await count(db, User.id) == 1
