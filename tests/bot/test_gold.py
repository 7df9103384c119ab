"""Gold outside the overlap: which check a worker gets, the quiz's limits, the gold budget, bonuses,
and contested gold lifting a removal."""

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot import work
from bot.money import ledger
from bot.quality import disputes, gold
from bot.quality import rules as quality
from bot.reasons import loads
from bot.wiring.services import Services
from handlers import messages
from storage import ledger as books
from storage.assignments import AnswerCounts, answer_counts
from storage.clock import utcnow
from storage.models import Assignment, AuditEntry, Batch, BatchWorker, User
from tests.conftest import MovableClock, ScriptedRandom
from tests.factories import REQUESTER, SKILLETS, WOKS, load_batch, products


async def worker(services: Services, worker_id: int, level: int = 0) -> None:
    async with services.db.write() as session:
        session.add(User(id=worker_id, first_name=f"W{worker_id}", level=level))


async def leaf(services: Services, path: str) -> int:
    return (await services.taxonomies.get(1)).tree.find(path).id


async def test_check_needs_another_answer_than_the_workers_usual(services: Services, draws: ScriptedRandom) -> None:
    """A worker who answered Skillets three times gets the Woks check first, not the Skillets one."""
    draws.script(1.0, 1.0, 1.0, 0.0)
    await load_batch(services, products(8, gold={1: SKILLETS, 2: WOKS}), overlap=1, gold_rate=0.5)
    await worker(services, 1)
    skillets = await leaf(services, SKILLETS)
    task = await work.next_task(services, 1)
    for _ in range(3):
        task = (await work.answer(services, 1, task.assignment_id, 0, str(skillets))).next_task
    assert task.card.title == "Product 2", "the Woks check"


async def test_checks_stop_when_the_gold_budget_is_spent(services: Services, checks_first: None) -> None:
    await load_batch(services, products(5, gold={1: SKILLETS, 2: SKILLETS}), overlap=1)
    async with services.db.write() as session:
        await session.execute(update(Batch).values(gold_slots=1))
    await worker(services, 1)
    first = await work.next_task(services, 1)
    right = await leaf(services, SKILLETS)
    second = (await work.answer(services, 1, first.assignment_id, 0, str(right))).next_task
    assert (first.card.title, second.card.title) == ("Product 1", "Product 3"), "one check funded, then work"


async def test_no_quiz_after_the_last_try(services: Services, checks_first: None) -> None:
    await load_batch(services, products(10, gold={n: SKILLETS for n in range(1, 8)}), overlap=1, qualification=2)
    await worker(services, 1)
    async with services.db.write() as session:
        session.add(BatchWorker(batch_id=1, worker_id=1, state="failed", attempts=3, retry_at=utcnow()))
    assert await work.next_task(services, 1) is None
    async with services.db.write() as session:
        await session.execute(update(BatchWorker).values(attempts=2))
    task = await work.next_task(services, 1)
    assert task is not None and (task.quiz.place, task.quiz.size, task.quiz.retry) == (1, 2, True), "the last try"


async def test_level_bonus_paid_and_reserved(services: Services) -> None:
    batch = await load_batch(services, products(4), overlap=1, bonus_qualified_micros=10_000, bonus_expert_micros=5_000)
    assert batch.reserved_micros == 4 * (20_000 + 10_000), "the reserve covers the larger bonus"
    await worker(services, 1, level=1)
    task = await work.next_task(services, 1)
    assert task.reward_micros == 20_000, "the card shows the batch's reward"
    done = await work.answer(services, 1, task.assignment_id, 0, str(await leaf(services, SKILLETS)))
    assert done.credited_micros == 30_000


async def test_quiz_answers_are_never_rejected(services: Services, checks_first: None) -> None:
    gold_items = {n: SKILLETS for n in range(1, 8)}
    await load_batch(services, products(12, gold=gold_items), overlap=1, qualification=1, pass_score=0.0)
    await worker(services, 1)
    wrong = await leaf(services, WOKS)
    task = await work.next_task(services, 1)
    verdict = None
    while task is not None and not isinstance(verdict, quality.Removal):
        done = await work.answer(services, 1, task.assignment_id, 0, str(wrong))
        task, verdict = done.next_task, done.verdict
    assert isinstance(verdict, quality.Removal) and verdict.rejected == 4, "the passed quiz and four checks: five gold"
    assert len(verdict.missed) == 5, "the quiz's miss is evidence like a missed check"
    async with services.db.read() as session:
        quiz = await session.scalar(select(Assignment.credit_state).where(Assignment.quiz_attempt == 1))
    assert quiz == "pending"


async def answer_all(services: Services, task: work.TaskScreen, nodes: list[int]) -> tuple[list[object], object]:
    verdicts = []
    for node in nodes:
        done = await work.answer(services, 1, task.assignment_id, 0, str(node))
        task = done.next_task
        verdicts.append(done.verdict)
    return verdicts, task


async def test_a_perfect_quiz_does_not_shield_careless_work(services: Services, checks_first: None) -> None:
    """Right through the quiz, then wrong on every check: removed after five checks, as anyone. The
    quiz's five right answers would outweigh six wrong checks (5 of 11, at best 72 %); not one check
    right since the quiz is a reason of its own."""
    await load_batch(services, products(14, gold={n: SKILLETS for n in range(1, 11)}), overlap=1, qualification=5)
    await worker(services, 1)
    right, wrong = await leaf(services, SKILLETS), await leaf(services, WOKS)
    verdicts, task = await answer_all(services, await work.next_task(services, 1), [right] * 5 + [wrong] * 5)
    assert verdicts[4].passed is True
    assert not any(isinstance(verdict, quality.Removal) for verdict in verdicts[:-1])
    removal = verdicts[-1]
    assert isinstance(removal, quality.Removal) and len(removal.missed) == 5 and task is None
    assert f"{removal.bound:.0%}" == "43%", "the bound of 0 of 5"
    async with services.db.read() as session:
        reason = await session.scalar(select(BatchWorker.reason))
    assert loads(reason).code == quality.StopReason.NO_CHECK_SINCE_QUIZ
    assert messages.reason_text(loads(reason)) == "no check right since the quiz, 0/5, at best 43%"


async def test_nothing_right_since_the_quiz_is_held_to_the_batch_bar(services: Services, checks_first: None) -> None:
    """With min_accuracy 0.3, five missed checks after a perfect quiz (0 of 5: at best 43 %) remove nobody."""
    await load_batch(
        services, products(14, gold={n: SKILLETS for n in range(1, 11)}), overlap=1, qualification=5, min_accuracy=0.3
    )
    await worker(services, 1)
    right, wrong = await leaf(services, SKILLETS), await leaf(services, WOKS)
    verdicts, task = await answer_all(services, await work.next_task(services, 1), [right] * 5 + [wrong] * 5)
    assert not any(isinstance(verdict, quality.Removal) for verdict in verdicts) and task is not None


async def test_the_passed_quiz_counts_as_evidence(services: Services, checks_first: None) -> None:
    """4 of 5 in the quiz, then 1 of 5 checks: judged on 5 of 10 (at best 76 %) the worker stays.
    On the checks alone (1 of 5, at best 62 %) they would be out, as an honest worker at 0.75 would
    be 1.6 % of the time."""
    await load_batch(services, products(14, gold={n: SKILLETS for n in range(1, 11)}), overlap=1, qualification=5)
    await worker(services, 1)
    right, wrong = await leaf(services, SKILLETS), await leaf(services, WOKS)
    nodes = [right] * 4 + [wrong] + [right] + [wrong] * 4
    verdicts, task = await answer_all(services, await work.next_task(services, 1), nodes)
    assert verdicts[4].passed is True
    assert not any(isinstance(verdict, quality.Removal) for verdict in verdicts) and task is not None


async def retry_now(services: Services, clock: MovableClock) -> None:
    """The cool-down after a failed quiz passes."""
    clock.advance(timedelta(hours=(await services.batches.get(1)).retry_hours).total_seconds())


async def test_quiz_attempts_count_together(services: Services, checks_first: None, clock: MovableClock) -> None:
    """Pass mark 4 of 5: 3 of 5 leaves the next try needing 5 of 5 (8 of 10); 4 of 5 then makes 7 of
    10, so the last try needs 5 of 5 again (12 of 15), and passes with it."""
    await load_batch(services, products(20, gold={n: SKILLETS for n in range(1, 16)}), overlap=1, qualification=5)
    await worker(services, 1)
    right, wrong = await leaf(services, SKILLETS), await leaf(services, WOKS)
    tries = ([right] * 3 + [wrong] * 2, [right] * 4 + [wrong], [right] * 5)
    outcomes = []
    for n, nodes in enumerate(tries):
        if n:
            await retry_now(services, clock)
        verdicts, _ = await answer_all(services, await work.next_task(services, 1), nodes)
        step = verdicts[-1]
        outcomes.append((step.passed, step.needed, step.next_needed, step.retries_left, step.retry_at is not None))
    assert outcomes == [(False, 4, 5, 2, True), (False, 5, 5, 1, True), (True, 5, 4, 0, False)]


@pytest.mark.parametrize(
    ("first", "second"),
    [(2, None), (3, 3)],
    ids=["2 of 5 then nothing: 6 of 5 needed", "3 and 3 of 5: 6 of 10, 6 of 5 needed"],
)
async def test_no_retry_once_a_perfect_try_cannot_reach_the_pass_mark(
    services: Services, checks_first: None, clock: MovableClock, first: int, second: int | None
) -> None:
    await load_batch(services, products(20, gold={n: SKILLETS for n in range(1, 16)}), overlap=1, qualification=5)
    await worker(services, 1)
    right, wrong = await leaf(services, SKILLETS), await leaf(services, WOKS)
    for n, score in enumerate(s for s in (first, second) if s is not None):
        if n:
            await retry_now(services, clock)
        verdicts, _ = await answer_all(
            services, await work.next_task(services, 1), [right] * score + [wrong] * (5 - score)
        )
    step = verdicts[-1]
    assert (step.passed, step.next_needed, step.retries_left, step.retry_at) == (False, 6, 0, None)
    async with services.db.read() as session:
        state = await session.get(BatchWorker, (1, 1))
    assert (state.state, state.retry_at) == ("failed", None)
    clock.advance(timedelta(days=365).total_seconds())
    assert await work.next_task(services, 1) is None, "closed, however long the worker waits"


async def test_a_corrected_quiz_question_brings_a_retry_back_within_reach(
    services: Services, checks_first: None
) -> None:
    """2 of 5 closes the quiz; the worker was right on one miss, so 3 of 5: a retry after the cool-down."""
    gold_items = {1: SKILLETS, 2: SKILLETS, 3: WOKS, 4: WOKS, 5: WOKS} | {n: SKILLETS for n in range(6, 16)}
    await load_batch(services, products(20, gold=gold_items), overlap=1, qualification=5)
    await worker(services, 1)
    skillets = await leaf(services, SKILLETS)
    verdicts, _ = await answer_all(services, await work.next_task(services, 1), [skillets] * 5)
    assert (verdicts[-1].correct_so_far, verdicts[-1].retry_at) == (2, None)
    contest = await disputes.contest(services, 1, verdicts[2].assignment_id)
    decision = await disputes.decide(services, contest.dispute_id, REQUESTER, "corrected")
    assert decision.reinstated == ()
    async with services.db.read() as session:
        state = await session.get(BatchWorker, (1, 1))
    assert state.state == "failed" and state.retry_at == state.changed_at + timedelta(hours=24)


async def test_only_the_passed_quiz_attempt_is_judged_with_the_checks(
    services: Services, checks_first: None, clock: MovableClock
) -> None:
    """3 of 5, then 5 of 5 (8 of 10: passed), then a right check and three wrong ones: judged on 6 of
    9 (at best 88 %), the worker stays."""
    await load_batch(services, products(20, gold={n: SKILLETS for n in range(1, 16)}), overlap=1, qualification=5)
    await worker(services, 1)
    right, wrong = await leaf(services, SKILLETS), await leaf(services, WOKS)
    verdicts, task = await answer_all(services, await work.next_task(services, 1), [right] * 3 + [wrong] * 2)
    assert verdicts[-1].passed is False and task is None
    await retry_now(services, clock)
    verdicts, task = await answer_all(services, await work.next_task(services, 1), [right] * 6 + [wrong] * 3)
    assert verdicts[4].passed is True
    assert not any(isinstance(verdict, quality.Removal) for verdict in verdicts) and task is not None
    async with services.db.read() as session:
        judged = await answer_counts(session, *quality.judged(1, 1))
    assert (judged.gold, judged.gold_correct) == (9, 6)


async def removed_by_five_wrong_checks(services: Services) -> quality.Removal:
    """Worker 1 answers Skillets on five checks whose gold (Woks) is wrong, and is removed for it."""
    await load_batch(services, products(12, gold={n: WOKS for n in range(1, 6)}), overlap=1)
    await worker(services, 1)
    right = await leaf(services, SKILLETS)
    task = await work.next_task(services, 1)
    for _ in range(5):
        done = await work.answer(services, 1, task.assignment_id, 0, str(right))
        task = done.next_task
    assert isinstance(done.verdict, quality.Removal)
    return done.verdict


async def test_contested_checks_lift_a_removal_and_restore_pay(services: Services, checks_first: None) -> None:
    """The requester's gold was wrong on two of five checks: 2 of 5 right clears the 0.7 bar again."""
    removal = await removed_by_five_wrong_checks(services)
    assert removal.rejected == 5
    first, second = [await disputes.contest(services, 1, miss.assignment_id) for miss in removal.missed[:2]]
    still_out = await disputes.decide(services, first.dispute_id, REQUESTER, "corrected")
    assert still_out.reinstated == (), "1 of 5 is not enough"
    back = await disputes.decide(services, second.dispute_id, REQUESTER, "corrected")
    assert back.reinstated == (disputes.Reinstated(1, "Kitchen", "removal", 5 * 20_000),)
    async with services.db.read() as session:
        balance = await ledger.worker_balance(session, 1)
        assert (balance.pending, balance.available) == (0, 5 * 20_000)
        assert (await session.get(BatchWorker, (1, 1))).state == "active"
        assert (await session.get(User, 1)).gold_correct == 2
        assert await books.inconsistencies(session) == []
    assert (await work.next_task(services, 1)) is not None, "back to work"


async def test_an_admins_decision_on_contested_gold_is_audited_with_it(services: Services, checks_first: None) -> None:
    """The decision and its audit line are one unit of work: an admin's is audited, the requester's not."""
    admin_id = 99
    services = replace(services, settings=services.settings.model_copy(update={"admin_ids": frozenset({admin_id})}))
    removal = await removed_by_five_wrong_checks(services)
    first, second = [await disputes.contest(services, 1, miss.assignment_id) for miss in removal.missed[:2]]
    await disputes.decide(services, first.dispute_id, REQUESTER, "corrected")
    await disputes.decide(services, second.dispute_id, admin_id, "upheld")
    async with services.db.read() as session:
        audited = [
            (entry.actor_id, entry.target, entry.details)
            for entry in await session.scalars(select(AuditEntry).where(AuditEntry.action == "gold_dispute"))
        ]
    assert audited == [(admin_id, str(second.dispute_id), "upheld")]


def counts(gold: int, right: int, checks: int) -> AnswerCounts:
    """Quiz answers: `checks` items answered, giving `gold` gold answers, `right` of them right."""
    return AnswerCounts(checks, gold, right, checks)


NONE = counts(0, 0, 0)


def test_a_quiz_of_three_question_items_passes_on_its_gold_answers() -> None:
    """Five items of three questions are fifteen gold answers, twelve of them needed at 0.8: three items
    2 of 3 right and two perfect pass (12 of 15), though only two of the five items were right throughout."""
    outcome = gold.score_attempt(0.8, 5, 3, counts(15, 12, 5), NONE, 1)
    assert (outcome.questions, outcome.needed, outcome.passed, outcome.retries_left) == (15, 12, True, 0)
    failed = gold.score_attempt(0.8, 5, 3, counts(15, 11, 5), NONE, 1)
    assert (failed.passed, failed.next_questions, failed.next_needed, failed.retries_left) == (False, 15, 13, 2)


def test_an_attempt_under_way_counts_its_items_still_to_come_at_the_most_questions() -> None:
    """Two items in (6 gold answers, 5 right): three more items may give nine more, so 15 in all and 12 needed;
    not decided before its fifth item, whatever its score."""
    outcome = gold.score_attempt(0.8, 5, 3, counts(6, 5, 2), NONE, 1)
    assert (outcome.questions, outcome.needed, outcome.passed) == (15, 12, None)
    assert gold.score_attempt(0.8, 5, 3, counts(12, 0, 4), NONE, 1).passed is None


def test_items_with_fewer_questions_than_the_most_are_judged_on_what_they_gave() -> None:
    """validate with correct=true: an item whose gold is a Yes gives one gold answer, a corrected No two.
    Complete with 7 gold answers, the mark is 6 of 7 (ceil 5.6), not 8 of 10."""
    outcome = gold.score_attempt(0.8, 5, 2, counts(7, 6, 5), NONE, 1)
    assert (outcome.questions, outcome.needed, outcome.passed) == (7, 6, True)


def test_a_retry_on_gold_answers_is_offered_only_while_a_perfect_one_reaches_the_mark() -> None:
    """9 of 15 first: a perfect 15 of 15 next makes 24 of 30, the mark, so a retry needs 15 of 15. 8 of 15
    first: even 15 more make 23 of 30, short of 24, so the quiz closes at once."""
    within = gold.score_attempt(0.8, 5, 3, counts(15, 9, 5), NONE, 1)
    assert (within.passed, within.next_needed, within.next_questions, within.retries_left) == (False, 15, 15, 2)
    second = gold.score_attempt(0.8, 5, 3, counts(15, 15, 5), counts(15, 9, 5), 2)
    assert (second.needed, second.passed) == (15, True)
    beyond = gold.score_attempt(0.8, 5, 3, counts(15, 8, 5), NONE, 1)
    assert (beyond.passed, beyond.next_needed, beyond.retries_left) == (False, 16, 0)


def test_a_one_question_quiz_is_scored_as_before() -> None:
    """categorize: 3 of 5 leaves 5 of 5 for the next try (8 of 10); 2 of 5 closes the quiz."""
    three = gold.score_attempt(0.8, 5, 1, counts(5, 3, 5), NONE, 1)
    assert (three.questions, three.needed, three.passed, three.next_needed, three.retries_left) == (5, 4, False, 5, 2)
    two = gold.score_attempt(0.8, 5, 1, counts(5, 2, 5), NONE, 1)
    assert (two.next_needed, two.retries_left) == (6, 0)
