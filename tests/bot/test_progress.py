"""Worker progression: the Wilson bound, levels, /stats figures, the daily target and break nudges."""

from datetime import timedelta

import pytest
from sqlalchemy import update

from bot import progress, work
from bot.money import credits
from bot.quality.levels import level_of, wilson_lower_bound
from bot.quality.rules import StopReason
from bot.reasons import Reason, dumps
from bot.wiring.services import Services
from handlers import formatting, texts
from storage.clock import utcnow
from storage.models import Assignment, Batch, BatchWorker, User
from tests.factories import SKILLETS, WOKS, load_batch, products


@pytest.mark.parametrize(
    ("correct", "total", "expected"),
    [(0, 0, 0.0), (10, 10, 0.7225), (9, 10, 0.5958), (45, 50, 0.7864), (190, 200, 0.9104)],
)
def test_wilson_lower_bound(correct: int, total: int, expected: float) -> None:
    """The bound is well below the raw share for few answers and approaches it with many."""
    assert wilson_lower_bound(correct, total) == pytest.approx(expected, abs=1e-4)


def test_levels_need_volume_and_reliable_accuracy() -> None:
    assert level_of(0, 0).name == "newcomer" and level_of(0, 0).gold_needed == 50
    assert level_of(49, 49).name == "newcomer", "volume first"
    assert level_of(50, 50).name == "qualified" and level_of(50, 50).next_name == "expert"
    assert level_of(50, 45).name == "newcomer", "90% of 50 is not reliably above 85%"
    assert level_of(200, 195).name == "expert" and level_of(200, 195).next_name is None
    assert level_of(200, 185).name == "qualified", "92.5% of 200 is not reliably above 92%"
    assert level_of(120, 115).gold_needed == 80


def test_next_level_names_only_what_is_missing() -> None:
    assert (level_of(49, 49).gold_needed, level_of(49, 49).bound_needed) == (1, None), "49/49 is reliable already"
    assert (level_of(60, 50).gold_needed, level_of(60, 50).bound_needed) == (0, 0.85), "volume there, not accuracy"
    assert (level_of(10, 5).gold_needed, level_of(10, 5).bound_needed) == (40, 0.85)


async def make_worker(services: Services, worker_id: int = 1) -> None:
    async with services.db.write() as session:
        session.add(User(id=worker_id, first_name="Wendy"))


async def answer(services: Services, count: int, category: str = SKILLETS, worker_id: int = 1) -> work.Answered:
    leaf = (await services.taxonomies.get(1)).tree.find(category).id
    task = await work.next_task(services, worker_id)
    result = None
    for _ in range(count):
        result = await work.answer(services, worker_id, task.assignment_id, 0, str(leaf))
        task = result.next_task
    return result


async def test_stats_figures(services: Services, checks_first: None) -> None:
    await load_batch(services, products(6, gold={1: SKILLETS, 2: SKILLETS}), overlap=1)
    await make_worker(services)
    await answer(services, 1, SKILLETS)  # gold, right
    await answer(services, 1, WOKS)  # gold, wrong
    await answer(services, 2, SKILLETS)
    async with services.db.write() as session:
        # Each task took 30 s, except one left open for an hour (counted as 2 minutes).
        now = utcnow()
        for n, assignment_id in enumerate((1, 2, 3, 4)):
            shown = now - timedelta(hours=1) if n == 3 else now - timedelta(seconds=30)
            await session.execute(
                update(Assignment).where(Assignment.id == assignment_id).values(created_at=shown, answered_at=now)
            )
        await credits.reject(session, 3)
    async with services.db.read() as session:
        figures = await progress.stats(session, 1, utcnow())
    assert (figures.tasks_today, figures.tasks_week, figures.answers) == (4, 4, 4)
    assert (figures.gold_answers, figures.gold_correct, figures.rejected) == (2, 1, 1)
    assert figures.earned_micros == 3 * 20_000 and figures.rejection_rate == 0.25
    # $0.06 over 30 s + 30 s + 120 s of active time = $1.20 an hour.
    assert figures.hourly_micros == 1_200_000
    assert figures.level.name == "newcomer" and figures.level.gold_needed == 48


async def test_daily_target_reached_once(services: Services) -> None:
    await load_batch(services, products(5), overlap=1)
    await make_worker(services)
    async with services.db.write() as session:
        await progress.set_target(session, 1, 60_000)
    assert (await answer(services, 2)).nudges.target_reached_micros is None
    task = await work.next_task(services, 1)
    leaf = (await services.taxonomies.get(1)).tree.find(SKILLETS).id
    third = await work.answer(services, 1, task.assignment_id, 0, str(leaf))
    assert third.nudges.target_reached_micros == 60_000
    fourth = await work.answer(services, 1, third.next_task.assignment_id, 0, str(leaf))
    assert fourth.nudges.target_reached_micros is None, "said once, when crossed"


async def stretch(services: Services, started_minutes_ago: float, last_minutes_ago: float) -> None:
    """Pretend the worker has been answering since then, the last time that long ago."""
    async with services.db.write() as session:
        await session.execute(
            update(User)
            .where(User.id == 1)
            .values(
                stretch_started_at=utcnow() - timedelta(minutes=started_minutes_ago),
                last_answer_at=utcnow() - timedelta(minutes=last_minutes_ago),
            )
        )


async def test_break_suggested_after_25_minutes_once(services: Services) -> None:
    await load_batch(services, products(12), overlap=1)
    await make_worker(services)
    await stretch(services, 24, 1)
    assert not (await answer(services, 1)).nudges.take_a_break, "24 minutes is not yet 25"
    await stretch(services, 40, 6)
    assert not (await answer(services, 1)).nudges.take_a_break, "a 6-minute pause started a new stretch"
    await stretch(services, 26, 1)
    first = await answer(services, 1)
    assert first.nudges.take_a_break
    assert "short break" in texts.answer_note(20_000, 0, "USD", first.nudges)
    assert not (await answer(services, 1)).nudges.take_a_break, "suggested once per stretch"


async def test_breaks_off(services: Services) -> None:
    await load_batch(services, products(10), overlap=1)
    await make_worker(services)
    async with services.db.write() as session:
        await progress.set_breaks(session, 1, False)
    await stretch(services, 26, 1)
    assert not (await answer(services, 1)).nudges.take_a_break


async def test_standings_show_each_running_batch_newest_first(services: Services) -> None:
    """Seven batches: the five newest running ones, each with why the worker may or may not work there."""
    now = utcnow()
    for n in range(7):
        await load_batch(services, products(4), overlap=1, name=f"B{n + 1}")
    async with services.db.write() as session:
        session.add(User(id=1, first_name="Ann"))
        await session.flush()
        rows = [
            BatchWorker(batch_id=1, worker_id=1, state="active"),
            BatchWorker(batch_id=2, worker_id=1, state="active", answers=3),
            BatchWorker(batch_id=3, worker_id=1, state="failed", attempts=1, retry_at=now - timedelta(minutes=1)),
            BatchWorker(batch_id=4, worker_id=1, state="failed", attempts=1, retry_at=now + timedelta(hours=2)),
            BatchWorker(batch_id=5, worker_id=1, state="failed", attempts=3),
            BatchWorker(batch_id=6, worker_id=1, state="qualifying", attempts=1),
            BatchWorker(
                batch_id=7, worker_id=1, state="held", reason=dumps(Reason.of(StopReason.SAME_ANSWER, run=10), 512)
            ),
        ]
        session.add_all(rows)
        await session.execute(update(Batch).where(Batch.id == 2).values(max_answers=3))
        await session.execute(update(Batch).where(Batch.id == 6).values(status="completed"))
    async with services.db.read() as session:
        shown = await progress.standings(session, 1, now)
    assert [(st.batch_name, st.status) for st in shown] == [
        ("B7", "held"),
        ("B5", "closed"),
        ("B4", "retry_later"),
        ("B3", "retry_now"),
        ("B2", "capped"),
    ], "B6 is completed, B1 the sixth running batch"
    assert [texts.standing(st) for st in shown] == [
        "⏸ #7 “B7”: paused for a review (the same answer for 10 products in a row)",
        "📕 #5 “B5”: quiz not passed, closed to you",
        f"📕 #4 “B4”: quiz again after {formatting.moment(now + timedelta(hours=2))}",
        "📕 #3 “B3”: quiz open again, /work",
        "☑ #2 “B2”: done, you gave the most answers one worker may give here (3)",
    ]
