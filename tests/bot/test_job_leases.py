"""A scheduled job's run takes its lease first (bot.jobs.exclusively): a run that finds it held skips."""

import asyncio

import pytest
from sqlalchemy import select

from bot import jobs
from bot.wiring.services import Services, build_services
from storage import leases
from storage.db import connect
from storage.models import JobLease
from tests.bot.test_payouts import add_worker, make_available
from tests.conftest import MovableClock

JOB = "payout-sweep"


async def test_a_run_skips_while_another_holds_the_lease_and_runs_once_it_ran_out(
    services: Services, clock: MovableClock
) -> None:
    ran: list[str] = []

    async def body(_: Services) -> str:
        ran.append("ran")
        return "done"

    now = clock.now()
    async with services.db.write() as session:
        assert await leases.take(session, JOB, "elsewhere", now, now + jobs.JOB_LEASE)
    assert await jobs.exclusively(services, JOB, body) is None
    assert ran == []
    clock.advance(jobs.JOB_LEASE.total_seconds())  # the other run's process died: its lease runs out
    assert await jobs.exclusively(services, JOB, body) == "done"
    assert await jobs.exclusively(services, JOB, body) == "done", "a finished run gives its lease back"
    assert ran == ["ran", "ran"]
    async with services.db.read() as session:
        assert (await session.execute(select(JobLease.name, JobLease.holder, JobLease.leased_until))).all() == [
            (JOB, None, None)
        ]


async def test_a_run_that_outlasted_its_lease_leaves_the_next_runs_lease_alone(
    services: Services, clock: MovableClock
) -> None:
    now = clock.now()
    async with services.db.write() as session:
        assert await leases.take(session, JOB, "slow", now, now + jobs.JOB_LEASE)
    later = now + jobs.JOB_LEASE
    async with services.db.write() as session:
        assert await leases.take(session, JOB, "next", later, later + jobs.JOB_LEASE)
        assert await leases.take(session, "reclaim", "x", later, later + jobs.JOB_LEASE), "each job has its own lease"
    async with services.db.write() as session:
        await leases.give_back(session, JOB, "slow")
        assert not await leases.take(session, JOB, "third", later, later + jobs.JOB_LEASE)


async def test_of_two_processes_running_a_job_at_once_one_runs_it(services: Services, database_url: str) -> None:
    """Two engines on one database as two bot processes; each run's body waits until both have asked."""
    other = build_services(services.settings, connect(database_url), services.clock, services.random)
    asked = asyncio.Event()
    ran: list[Services] = []

    async def body(process: Services) -> None:
        ran.append(process)
        await asked.wait()

    async def run(process: Services) -> None:
        await jobs.exclusively(process, JOB, body)

    try:
        first = asyncio.create_task(run(services))
        second = asyncio.create_task(run(other))
        # The loser returns without waiting for the body: once one run returned, both have asked. (Were both
        # to run, neither would return: the wait's limit then lets them finish, and the count fails.)
        await asyncio.wait({first, second}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        asked.set()
        await asyncio.gather(first, second)
    finally:
        await other.db.dispose()
    assert len(ran) == 1


@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgresql)], indirect=True)
async def test_payout_sweeps_of_two_processes_overlapping_remind_and_pay_once(
    services: Services, database_url: str
) -> None:
    """The sweep's body on its own (as when a run outlasts its lease), from two processes at once on
    PostgreSQL: each worker without a method is reminded once, each with one is paid once."""
    threshold = services.settings.payout_threshold_micros
    with_method, without = range(100, 120), range(200, 220)
    async with services.db.write() as session:
        for worker_id in [*with_method, *without]:
            method = ("paypal", f"w{worker_id}@example.com") if worker_id in with_method else None
            await add_worker(session, worker_id, method=method)
            await make_available(session, worker_id, threshold)
    other = build_services(services.settings, connect(database_url), services.clock, services.random)
    try:
        first, second = await asyncio.gather(jobs.sweep_payouts(services), jobs.sweep_payouts(other))
    finally:
        await other.db.dispose()
    assert sorted(first.reminders + second.reminders) == list(without)
    assert sorted(view.worker_id for view in first.created + second.created) == list(with_method)
