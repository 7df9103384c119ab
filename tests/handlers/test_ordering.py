"""PerUserOrder: one user's updates run one at a time in arrival order; different users overlap."""

import asyncio
from collections import defaultdict

import pytest
from telegram import Update

from handlers.ordering import PerUserOrder

DATE = 1_700_000_000


def message_update(update_id: int, user_id: int) -> Update:
    return Update.de_json(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": DATE,
                "chat": {"id": user_id, "type": "private", "first_name": f"U{user_id}"},
                "from": {"id": user_id, "is_bot": False, "first_name": f"U{user_id}"},
                "text": "/work",
            },
        },
        None,
    )


def button_update(update_id: int, user_id: int) -> Update:
    return Update.de_json(
        {
            "update_id": update_id,
            "callback_query": {
                "id": str(update_id),
                "chat_instance": "-1",
                "data": "s:1",
                "from": {"id": user_id, "is_bot": False, "first_name": f"U{user_id}"},
                "message": {
                    "message_id": 1,
                    "date": DATE,
                    "chat": {"id": user_id, "type": "private", "first_name": f"U{user_id}"},
                    "text": "task",
                },
            },
        },
        None,
    )


async def settle() -> None:
    """Let every runnable task run until it blocks."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_same_user_runs_one_at_a_time_in_arrival_order() -> None:
    """A second update of a user starts only after the first has finished, whatever order gates open in."""
    processor = PerUserOrder()
    log: list[str] = []
    gates = [asyncio.Event() for _ in range(3)]

    async def handle(number: int) -> None:
        log.append(f"start {number}")
        await gates[number].wait()
        log.append(f"end {number}")

    updates = [message_update(1, 7), button_update(2, 7), message_update(3, 7)]
    tasks = [asyncio.create_task(processor.process_update(u, handle(n))) for n, u in enumerate(updates)]
    await settle()
    assert log == ["start 0"]
    gates[2].set()
    gates[1].set()
    await settle()
    assert log == ["start 0"], "a later update of the same user ran before the first one finished"
    gates[0].set()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert log == ["start 0", "end 0", "start 1", "end 1", "start 2", "end 2"]


async def test_different_users_overlap() -> None:
    """Two users' updates run at the same time: each handler waits until the other has started."""
    processor = PerUserOrder()
    started = {1: asyncio.Event(), 2: asyncio.Event()}

    async def handle(user: int, other: int) -> None:
        started[user].set()
        await started[other].wait()

    await asyncio.wait_for(
        asyncio.gather(
            processor.process_update(message_update(1, 1), handle(1, 2)),
            processor.process_update(button_update(2, 2), handle(2, 1)),
        ),
        5,
    )


async def test_many_users_interleaved() -> None:
    """With interleaved updates of several users, each user's handlers never overlap and keep arrival order,
    while different users do run concurrently."""
    processor = PerUserOrder()
    active: dict[int, int] = defaultdict(int)
    started: dict[int, list[int]] = defaultdict(list)
    overlap_seen = 0
    running = 0
    arrivals = [(update_id, update_id % 3 + 1) for update_id in range(1, 31)]

    async def handle(update_id: int, user: int) -> None:
        nonlocal running, overlap_seen
        active[user] += 1
        running += 1
        assert active[user] == 1, f"user {user} has two updates running at once"
        overlap_seen = max(overlap_seen, running)
        started[user].append(update_id)
        await asyncio.sleep(0.001 * (update_id % 4))
        running -= 1
        active[user] -= 1

    await asyncio.wait_for(
        asyncio.gather(*(processor.process_update(message_update(i, user), handle(i, user)) for i, user in arrivals)),
        10,
    )
    for user in (1, 2, 3):
        assert started[user] == [i for i, u in arrivals if u == user]
    assert overlap_seen > 1


async def test_failing_update_does_not_block_the_next() -> None:
    """An exception in one handler reaches the caller, and the user's next update still runs."""
    processor = PerUserOrder()
    ran: list[int] = []

    async def fail() -> None:
        raise RuntimeError("boom")

    async def succeed() -> None:
        ran.append(2)

    first = asyncio.create_task(processor.process_update(message_update(1, 5), fail()))
    second = asyncio.create_task(processor.process_update(message_update(2, 5), succeed()))
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(first, 5)
    await asyncio.wait_for(second, 5)
    assert ran == [2]


async def test_busy_user_does_not_starve_others() -> None:
    """While one user has a running and a queued update, another user's update still starts."""
    processor = PerUserOrder(max_concurrent_updates=2)
    release = asyncio.Event()
    other_started = asyncio.Event()

    async def slow() -> None:
        await release.wait()

    async def other() -> None:
        other_started.set()

    busy = [asyncio.create_task(processor.process_update(message_update(i, 1), slow())) for i in (1, 2)]
    await settle()
    waiting = asyncio.create_task(processor.process_update(message_update(3, 2), other()))
    try:
        await asyncio.wait_for(other_started.wait(), 1)
    finally:
        release.set()
        await asyncio.gather(*busy, waiting)
