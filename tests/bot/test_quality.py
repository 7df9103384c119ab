"""Quality control in a batch: removal on gold, rejected answers, the per-worker cap, speed holds."""

import asyncio
import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot import jobs, taxonomies, work
from bot.batches import files as batch_files
from bot.batches import lifecycle as batches
from bot.batches.lifecycle import BatchSpec
from bot.money import ledger
from bot.quality import levels
from bot.quality import rules as quality
from bot.reasons import Reason, loads
from bot.wiring.services import Services
from handlers import messages
from storage import ledger as books
from storage.db import Database, connect
from storage.models import Assignment, Batch, BatchWorker, User
from tests.conftest import ScriptedRandom
from tests.factories import KITCHEN, REQUESTER, SKILLETS, WOKS, load_batch, products, results_of

GOLD_FIRST = {n: SKILLETS for n in range(1, 7)}


async def worker(services: Services, worker_id: int) -> None:
    async with services.db.write() as session:
        session.add(User(id=worker_id, first_name=f"W{worker_id}"))


async def label(services: Services, worker_id: int, category: str, limit: int = 100) -> list[work.Answered]:
    leaf = (await services.taxonomies.get(1)).tree.find(category).id
    done, task = [], await work.next_task(services, worker_id)
    while task is not None and len(done) < limit:
        done.append(await work.answer(services, worker_id, task.assignment_id, 0, str(leaf)))
        task = done[-1].next_task
    return done


async def test_constant_answerer_is_removed_and_rejected(services: Services, checks_first: None) -> None:
    launched = await load_batch(services, products(12, gold=GOLD_FIRST), overlap=3)
    await worker(services, 1)
    answers = await label(services, 1, WOKS)
    assert len(answers) == 5, "removed at the fifth missed check"
    removal = answers[-1].verdict
    assert isinstance(removal, quality.Removal) and answers[-1].next_task is None
    assert removal.rejected == 5 and len(removal.missed) == 5 and removal.bound < 0.7
    assert removal.missed[0].right == (("category", SKILLETS.replace(" > ", " › ")),)
    assert removal.missed[0].answered == (("category", WOKS.replace(" > ", " › ")),)
    async with services.db.read() as session:
        assert (await ledger.worker_balance(session, 1)).pending == 0
        # the batch runs on: the rejected credit is back in its reserve, for more checks of others
        assert await ledger.requester_funds(session, REQUESTER) == ledger.RequesterFunds(
            available=0, reserved=launched.reserved_micros
        )
        assert (await session.get(Batch, 1)).reserved_micros == launched.reserved_micros + 5 * 20_000
        assert await books.inconsistencies(session) == []
        state = await session.get(BatchWorker, (1, 1))
        assert state.state == "removed" and "0/5" in messages.reason_text(loads(state.reason))
    found = await results_of(services, 1)
    assert all(row["answers"] == 0 for row in found.labels.rows), "rejected answers are left out of the labels"
    assert {(r["accepted"], r["worker_status"], r["worker_gold_accuracy"]) for r in found.raw.rows} == {
        ("no", "removed", "0.00 of 5")
    }


async def test_careful_worker_keeps_working(services: Services, checks_first: None) -> None:
    await load_batch(services, products(12, gold=GOLD_FIRST), overlap=3)
    await worker(services, 1)
    answers = await label(services, 1, SKILLETS)
    assert len(answers) == 12 and all(a.verdict is None for a in answers)


async def test_answers_after_the_last_good_check_are_rejected(services: Services, draws: ScriptedRandom) -> None:
    # A check, two products of work, then checks until removal.
    draws.script(0.0, 1.0, 1.0, *[0.0] * 20)
    gold_items = {1: SKILLETS, 3: SKILLETS, 4: SKILLETS, 5: SKILLETS, 6: SKILLETS, 7: SKILLETS}
    await load_batch(services, products(12, gold=gold_items), overlap=1, gold_rate=0.5)
    await worker(services, 1)
    assert (await label(services, 1, SKILLETS, limit=1))[-1].verdict is None  # the gold item 1, right
    answers = await label(services, 1, WOKS)
    removal = answers[-1].verdict
    assert isinstance(removal, quality.Removal)
    async with services.db.read() as session:
        states = dict((await session.execute(select(Assignment.item_id, Assignment.credit_state))).all())
    assert states[1] == "pending", "the last good check and what came before it are kept"
    assert {states[n] for n in (2, 8, 3, 4, 5, 6)} == {"rejected"}, "everything after it is rejected"


async def test_rejected_work_is_collected_again_and_the_books_close(services: Services, draws: ScriptedRandom) -> None:
    """The products whose answers were rejected go back in the pool, paid for by the money the
    rejection put back in the batch's reserve; the batch completes with every product labelled
    and refunds exactly what it did not spend."""
    draws.script(1.0, 1.0, *[0.0] * 5, then=1.0)  # two products of work, then five checks, all wrong
    await load_batch(services, products(10, gold=GOLD_FIRST), overlap=1, gold_rate=0.5)
    async with services.db.read() as session:
        reserved_at_launch = (await session.get(Batch, 1)).reserved_micros
    await worker(services, 1)
    spam = await label(services, 1, WOKS)
    assert isinstance(spam[-1].verdict, quality.Removal) and spam[-1].verdict.rejected == 7

    await worker(services, 2)
    honest = await label(services, 2, SKILLETS)
    assert len(honest) == 4, "products 7 to 10, two of them again after the rejection"
    async with services.db.read() as session:
        assert (await session.get(Batch, 1)).reserved_micros == reserved_at_launch + 7 * 20_000
    labels = (await results_of(services, 1)).labels
    work_rows = [row for row in labels.rows if row["item_id"] not in {f"sku-{n:04d}" for n in GOLD_FIRST}]
    assert [(row["item_id"], row["answers"]) for row in work_rows] == [(f"sku-{n:04d}", 1) for n in range(7, 11)]
    assert {row["label_path"].rsplit(" > ", 1)[-1] for row in work_rows} == {"Skillets & Frying Pans"}

    (report,) = await jobs.complete_batches(services)
    spent = 11 * 20_000  # 2 work + 5 checks by the spammer (rejected), 4 work by the honest worker
    assert report.refund_micros == reserved_at_launch + 7 * 20_000 - spent
    async with services.db.read() as session:
        funds = await ledger.requester_funds(session, REQUESTER)
        assert funds.reserved == 0 and funds.available == reserved_at_launch - 4 * 20_000
        assert await books.inconsistencies(session) == []


async def test_per_worker_cap(services: Services) -> None:
    await load_batch(services, products(20), overlap=3)
    async with services.db.write() as session:
        batch = await session.get(Batch, 1)
        batch.max_answers = 2
    await worker(services, 1)
    assert len(await label(services, 1, SKILLETS)) == 2


async def test_too_fast_worker_is_held_until_reinstated(services: Services) -> None:
    await load_batch(services, products(10), overlap=1)
    async with services.db.write() as session:
        batch = await session.get(Batch, 1)
        batch.min_seconds = 5.0
    services.batches._facts.clear()
    await worker(services, 1)
    answers = await label(services, 1, SKILLETS)
    assert len(answers) == 3 and isinstance(answers[-1].verdict, quality.Hold)
    assert await work.next_task(services, 1) is None
    async with services.db.write() as session:
        assert await quality.reinstate(session, 1, 1, services.clock.now())
    assert await work.next_task(services, 1) is not None


async def test_two_admins_deciding_a_hold_at_once_decide_it_once(services: Services, database_url: str) -> None:
    """One removes, one lets back in, from two database connections: one decision, its rejections once."""
    await load_batch(services, products(10), overlap=1)
    async with services.db.write() as session:
        (await session.get(Batch, 1)).min_seconds = 5.0
    services.batches._facts.clear()
    await worker(services, 1)
    await label(services, 1, SKILLETS)
    other = connect(database_url)

    async def review(database: Database, remove: bool) -> quality.Review | None:
        async with database.write() as session:
            return await quality.review_hold(session, 1, 1, remove, services.clock.now())

    try:
        reviews = await asyncio.gather(
            *(review(db, remove) for db, remove in ((services.db, True), (other, False)) * 3)
        )
    finally:
        await other.dispose()
    decided = [review for review in reviews if review is not None]
    assert len(decided) == 1
    async with services.db.read() as session:
        state = await session.get(BatchWorker, (1, 1))
        balance = await ledger.worker_balance(session, 1)
        assert await books.inconsistencies(session) == []
    if decided[0].removed:
        assert (state.state, decided[0].rejected, balance.pending) == ("removed", 3, 0)
    else:
        assert (state.state, balance.pending) == ("active", 3 * 20_000)
    async with services.db.read() as session:
        assert await quality.held_workers(session, 20) == []


async def _take_seconds(services: Services, worker_id: int, seconds: float) -> None:
    """Make every answer of the worker look as if it took `seconds`."""
    async with services.db.write() as session:
        for assignment in await session.scalars(
            select(Assignment).where(Assignment.worker_id == worker_id, Assignment.answered_at.is_not(None))
        ):
            assignment.created_at = assignment.answered_at - timedelta(seconds=seconds)


async def _crowd(services: Services, workers: range, answers: int, seconds: float) -> None:
    """Each worker answers `answers` products, every answer looking as if it took `seconds`."""
    for worker_id in workers:
        await worker(services, worker_id)
        await label(services, worker_id, SKILLETS, limit=answers)
        await _take_seconds(services, worker_id, seconds)


async def test_without_min_seconds_the_floor_is_a_third_of_the_crowds_median(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default speed rule waits for quality.MIN_CROWD_SAMPLE answers, then holds a worker three
    of whose last ten answers came under a third of the crowd's median time."""
    monkeypatch.setattr(quality, "UNKNOWN_FLOOR_SECONDS", 0)  # the crowd's minute is this test's millisecond
    await load_batch(services, products(quality.MIN_CROWD_SAMPLE), overlap=5)
    await _crowd(services, range(1, 5), quality.MIN_CROWD_SAMPLE // 4 - 1, 24.0)
    await worker(services, 10)
    early = await label(services, 10, SKILLETS, limit=3)
    assert all(answer.verdict is None for answer in early), "too few answers yet to judge speed by"

    await label(services, 1, SKILLETS, limit=4)
    await _take_seconds(services, 1, 24.0)
    await worker(services, 11)
    fast = await label(services, 11, SKILLETS, limit=5)
    assert [answer.verdict is None for answer in fast] == [True, True, False]
    assert messages.reason_text(fast[-1].verdict.reason) == "3 of their last 10 answers took under 8.0 s"


async def test_a_robots_many_quick_answers_do_not_lower_the_floor_under_it(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The crowd's median is taken per worker: however many answers a robot gives, it is one vote."""
    monkeypatch.setattr(quality, "UNKNOWN_FLOOR_SECONDS", 0)  # the crowd's minute is this test's millisecond
    await load_batch(services, products(200), overlap=5)
    await _crowd(services, range(1, 5), 10, 24.0)
    await worker(services, 10)
    robot = await label(services, 10, SKILLETS)
    assert isinstance(robot[-1].verdict, quality.Hold)
    assert "under 8.0 s" in messages.reason_text(robot[-1].verdict.reason)
    assert len(robot) == quality.MIN_CROWD_SAMPLE - 40, "held on the answer that made the crowd's sample big enough"


async def _validate_batch(services: Services, count: int) -> None:
    """A validate batch with correct=true: a No goes on to the right category (two questions)."""
    taxonomy_id = await taxonomies.ensure_default(services.db)
    tree = (await services.taxonomies.get(taxonomy_id)).tree
    rows = [{**row, "proposed_category": SKILLETS} for row in products(count)]
    spec = BatchSpec(
        name="Proposed",
        task_type="validate",
        task_settings=(("correct", "true"),),
        reward_micros=20_000,
        overlap=5,
        root=KITCHEN,
        qualification=0,
        max_share=1.0,
    )
    parsed = batch_files.read_rows("\n".join(json.dumps(row) for row in rows).encode(), "batch.jsonl")
    async with services.db.write() as session:
        await batches.load_funded_batch(
            session, REQUESTER, taxonomy_id, tree, spec, parsed, services.settings.currency, services.clock.now()
        )


async def _confirm_or_correct(
    services: Services, worker_id: int, answers: int, no_every: int, yes: float, no: float
) -> list[work.Answered]:
    """The worker says Yes in `yes` seconds, except every `no_every`-th product (0: none): No and Woks, in `no` s."""
    await worker(services, worker_id)
    woks = str((await services.taxonomies.get(1)).tree.find(WOKS).id)
    task, done = await work.next_task(services, worker_id), []
    while task is not None and len(done) < answers:
        correcting = no_every and len(done) % no_every == 0
        async with services.db.write() as session:
            shown = services.clock.now() - timedelta(seconds=no if correcting else yes)
            await session.execute(
                update(Assignment).where(Assignment.id == task.assignment_id).values(created_at=shown)
            )
        if correcting:
            await work.answer(services, worker_id, task.assignment_id, 0, "1")  # ✖ No
            done.append(await work.answer(services, worker_id, task.assignment_id, 1, woks))
        else:
            done.append(await work.answer(services, worker_id, task.assignment_id, 0, "0"))  # ✔ Yes
        task = done[-1].next_task
    return done


async def test_speed_is_measured_per_question_where_products_ask_more_or_fewer(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crowd confirms in 6 s and, more often than not, corrects (No, then the category: two questions) in
    24 s: a median of 24 s a product but 12 s a question. A careful worker's 6-second Yes is not fast, though
    under a third of the median a product; a robot's 1-second Yes is."""
    monkeypatch.setattr(quality, "UNKNOWN_FLOOR_SECONDS", 0)  # the crowd's minute is this test's millisecond
    await _validate_batch(services, quality.MIN_CROWD_SAMPLE)
    for crowd_worker in range(1, 5):
        await _confirm_or_correct(services, crowd_worker, quality.MIN_CROWD_SAMPLE // 4, 2, 6.0, 24.0)
    careful = await _confirm_or_correct(services, 10, 5, 0, 6.0, 0.0)
    assert len(careful) == 5 and all(answer.verdict is None for answer in careful)
    robot = await _confirm_or_correct(services, 11, 3, 0, 1.0, 0.0)
    assert isinstance(robot[-1].verdict, quality.Hold)
    reason = robot[-1].verdict.reason
    assert reason.code == quality.StopReason.TOO_FAST_PER_QUESTION and round(reason.params["seconds"], 1) == 4.0


def test_settings_reach_the_batch() -> None:
    spec = batches.parse_settings(f'min_gold=3 min_accuracy=0.8 min_seconds=2 max_share=0.2 root="{KITCHEN}"', "n")
    assert (spec.min_gold, spec.min_accuracy, spec.min_seconds, spec.max_share) == (3, 0.8, 2.0, 0.2)


def test_upper_bound_proves_a_bad_worker() -> None:
    assert levels.wilson_upper_bound(0, 5) < 0.44 < levels.wilson_upper_bound(1, 5) < 0.7
    assert levels.wilson_upper_bound(5, 5) == pytest.approx(1.0) and levels.wilson_upper_bound(3, 5) > 0.7


async def test_same_answer_for_everything_is_held_when_the_crowd_disagrees(services: Services) -> None:
    await load_batch(services, products(15), overlap=2)
    async with services.db.write() as session:
        (await session.get(Batch, 1)).min_seconds = 0.000001  # speed is not what this test is about
    services.batches._facts.clear()
    for worker_id in (1, 2):
        await worker(services, worker_id)
    first = await label(services, 1, WOKS)
    assert len(first) == 15 and all(a.verdict is None for a in first), "nobody to disagree with yet"
    second = await label(services, 2, SKILLETS)
    assert len(second) == 10 and isinstance(second[-1].verdict, quality.Hold)
    assert second[-1].verdict.reason == Reason.of(quality.StopReason.SAME_ANSWER, run=10)
    assert messages.reason_text(second[-1].verdict.reason) == "the same answer for 10 products in a row"


async def test_one_other_answer_is_not_the_crowd_disagreeing(services: Services) -> None:
    """Ten Skillets in a row where two of the three others said Skillets too: the same answer, but the
    crowd agrees with it (one worker's Woks on every product is not the crowd; that worker is held)."""
    await load_batch(services, products(12), overlap=4)
    async with services.db.write() as session:
        (await session.get(Batch, 1)).min_seconds = 0.000001  # speed is not what this test is about
    services.batches._facts.clear()
    for worker_id in (1, 2, 3, 4):
        await worker(services, worker_id)
    assert len(await label(services, 1, SKILLETS)) == len(await label(services, 2, SKILLETS)) == 12
    third = await label(services, 3, WOKS)
    assert len(third) == 10 and isinstance(third[-1].verdict, quality.Hold)
    fourth = await label(services, 4, SKILLETS)
    assert len(fourth) == 12 and all(answer.verdict is None for answer in fourth)


async def test_level_gated_batch_hidden_until_qualified(services: Services, checks_first: None) -> None:
    """A min_level=qualified batch is invisible to newcomers and appears once 50 checks are reliably right."""
    await load_batch(services, products(3), overlap=1)
    async with services.db.write() as session:
        (await session.get(Batch, 1)).min_level = levels.LEVEL_RANKS["qualified"]
    await worker(services, 1)
    assert await work.next_task(services, 1) is None
    # 50 right answers on gold in another batch earn the level.
    gold = {n: SKILLETS for n in range(1, 51)}
    await load_batch(services, products(100, gold=gold), overlap=1, name="Training", gold_rate=0.5)
    training = await label(services, 1, SKILLETS, limit=49)
    assert len(training) == 49 and training[-1].next_task.batch_name == "Training", "still a newcomer"
    leaf = (await services.taxonomies.get(1)).tree.find(SKILLETS).id
    fiftieth = await work.answer(services, 1, training[-1].next_task.assignment_id, 0, str(leaf))
    assert fiftieth.next_task.batch_name == "Kitchen", "qualified: the gated batch appears"
    async with services.db.read() as session:
        user = await session.get(User, 1)
        assert (user.gold_answers, user.gold_correct, user.level) == (50, 50, 1)
