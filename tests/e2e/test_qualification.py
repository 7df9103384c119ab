"""The qualification quiz and contested gold, through the bot."""

from sqlalchemy import select, update

from bot.money import ledger
from sandbox.telegram_server import FakeUser
from storage import ledger as books
from storage.models import Assignment, Batch, BatchWorker, Item, User
from tests.e2e.conftest import RunningBot, StartBot
from tests.e2e.test_worker import COOKWARE, begin, press, send
from tests.factories import REQUESTER, SKILLETS, WOKS, load_batch, products

ADMIN = 900
RIGHT, WRONG = "Skillets & Frying Pans", "Woks"


async def pick(bot: RunningBot, user: FakeUser, leaf: str) -> None:
    for label in (*COOKWARE, leaf):
        await press(bot, user, label)


async def test_quiz_passed_then_paid_work(start_bot: StartBot, checks_first: None) -> None:
    bot: RunningBot = await start_bot()
    gold = {n: SKILLETS for n in range(1, 4)}
    await load_batch(bot.services, products(6, gold=gold), overlap=1, qualification=3, gold_rate=0)
    ann = bot.user(101, "Ann")
    await begin(bot, ann)
    assert "Qualification 1 of 3 for “Kitchen” (paid; pass with 3 of 3 right)" in ann.last.body
    assert "Product 1" in ann.last.body
    await pick(bot, ann, RIGHT)
    assert "✔ Correct · 1 of 1 right so far" in ann.last.body and "Qualification 2 of 3" in ann.last.body
    await pick(bot, ann, RIGHT)
    await pick(bot, ann, RIGHT)
    card = ann.last.body
    assert "Qualified for “Kitchen”: 3 of 3 right" in card and "pending $0.06" in card, "the quiz is paid"
    assert "Product 4" in card and "Qualification" not in card.split("Product 4")[1]
    async with bot.services.db.read() as session:
        assert (await session.get(BatchWorker, (1, 101))).state == "active"


async def test_quiz_failed_retried_after_cool_down(start_bot: StartBot, checks_first: None) -> None:
    bot: RunningBot = await start_bot()
    gold = {n: SKILLETS for n in range(1, 6)}
    await load_batch(bot.services, products(8, gold=gold), overlap=1, qualification=2, pass_score=0.75, gold_rate=0)
    ann = bot.user(101, "Ann")
    await begin(bot, ann)
    first = ann.last.message_id
    await pick(bot, ann, WRONG)
    missed = ann.message(first)
    assert "✘ Not quite: the right category is" in missed.body and "Skillets & Frying Pans" in missed.body
    assert missed.buttons == [["⚖ I think this gold is wrong"]], "the missed product stays, with a way to contest"
    assert "Qualification 2 of 2" in ann.last.body and ann.last.message_id != first
    second = ann.last.message_id
    await pick(bot, ann, RIGHT)
    failed = ann.last.body
    assert "did not qualify" in failed and "1 of 2 right; 2 are needed" in failed and "(2 tries left)" in failed
    assert "count together, so next time 2 of 2 are needed" in failed, "3 of 4 in all"
    assert "No tasks right now" in ann.message(second).body
    await send(bot, ann, "/work")
    assert "No tasks right now" in ann.last.body, "the cool-down keeps the quiz closed"
    await send(bot, ann, "/stats")
    assert "📕 #1 “Kitchen”: quiz again after " in ann.last.body
    async with bot.services.db.write() as session:
        await session.execute(update(BatchWorker).values(retry_at=BatchWorker.changed_at))
    await send(bot, ann, "/work")
    assert "Qualification 1 of 2" in ann.last.body and "Product 3" in ann.last.body, "new gold for the new try"
    assert "(paid; pass with 2 of 2 right, counting your earlier tries)" in ann.last.body
    await pick(bot, ann, RIGHT)
    await pick(bot, ann, RIGHT)
    assert "Qualified for “Kitchen”: 2 of 2 right" in ann.last.body and "Product 6" in ann.last.body
    async with bot.services.db.read() as session:
        state = await session.get(BatchWorker, (1, 101))
        assert (state.state, state.attempts) == ("active", 2)
        assert (await ledger.worker_balance(session, 101)).pending == 4 * 20_000, "every quiz answer is paid"
        assert await books.inconsistencies(session) == []


async def test_quiz_closed_when_a_perfect_retry_cannot_reach_the_pass_mark(
    start_bot: StartBot, checks_first: None
) -> None:
    bot: RunningBot = await start_bot()
    gold = {n: SKILLETS for n in range(1, 6)}
    await load_batch(bot.services, products(8, gold=gold), overlap=1, qualification=2, pass_score=0.75, gold_rate=0)
    ann = bot.user(101, "Ann")
    await begin(bot, ann)
    await pick(bot, ann, WRONG)
    await pick(bot, ann, WRONG)
    assert (
        "📕 You did not qualify for “Kitchen” (0 of 2 right; 2 are needed): even 2 of 2 on a next try would "
        "leave your quiz answers here under the pass mark, so it is closed to you. Other batches: /work"
    ) in ann.texts
    async with bot.services.db.read() as session:
        state = await session.get(BatchWorker, (1, 101))
    assert (state.state, state.attempts, state.retry_at) == ("failed", 1, None)
    await send(bot, ann, "/stats")
    assert ann.last.body.endswith("📕 #1 “Kitchen”: quiz not passed, closed to you")


async def test_contested_gold_corrected_and_regraded(start_bot: StartBot, checks_first: None) -> None:
    """The gold says Woks for a skillet: the worker who was right contests, the requester agrees,
    and both that worker and the one the wrong gold had passed are graded again."""
    bot: RunningBot = await start_bot(admin_ids=str(ADMIN))
    await load_batch(bot.services, products(4, gold={1: WOKS}), overlap=2, qualification=1, gold_rate=0)
    bob, ann = bot.user(102, "Bob"), bot.user(101, "Ann")
    shop, admin = bot.user(REQUESTER, "Shop"), bot.user(ADMIN, "Ada")
    await begin(bot, bob)
    await pick(bot, bob, WRONG)  # agrees with the wrong gold: passes
    assert "Qualified" in bob.last.body
    await begin(bot, ann)
    quiz = ann.last.message_id
    await pick(bot, ann, RIGHT)
    assert any("did not qualify" in m.body for m in ann.messages)
    await ann.press("⚖ I think this gold is wrong", message_id=quiz)
    await bot.settle()
    assert "Sent to the requester and the admins" in ann.last.body
    for judge in (shop, admin):
        assert "A worker contests a gold item" in judge.last.body and "The worker chose: " in judge.last.body
        assert judge.last.buttons == [
            ["✅ The worker is right: use their answer"],
            ["🗑 Drop this gold item"],
            ["✖ The gold is right"],
        ]
    await ann.press("⚖ I think this gold is wrong", message_id=quiz)
    await bot.settle()
    assert "already contested" in ann.last.body and len(shop.messages) == 1, "asked once"
    eve = bot.user(103, "Eve")
    await send(bot, eve, "/start")
    await eve.press_data(shop.last.callback_data[0][0], message_id=eve.last.message_id)
    await bot.settle()
    assert "Only the batch's requester or an admin" in eve.last.body
    await shop.press("✅ The worker is right: use their answer")
    await bot.settle()
    assert "Decided: the gold now says what the worker chose. 2 answers regraded." in shop.last.body
    told = [m.body for m in ann.messages[-2:]]
    assert any("You were right about the check" in body for body in told)
    assert any("you passed the qualification for “Kitchen”" in body for body in told)
    await admin.press("✖ The gold is right")
    await bot.settle()
    assert "already decided" in admin.last.body
    await send(bot, ann, "/work")
    assert "Product 2" in ann.last.body or "Product 3" in ann.last.body, "paid work is open to her now"
    async with bot.services.db.read() as session:
        query = select(Assignment.worker_id, Assignment.gold_graded, Assignment.gold_right).where(
            Assignment.item_id == 1
        )
        grades = {worker: (graded, right) for worker, graded, right in await session.execute(query)}
        assert grades == {101: (1, 1), 102: (1, 0)}
        assert (await session.get(User, 101)).gold_correct == 1 and (await session.get(User, 102)).gold_correct == 0
        assert (await session.get(BatchWorker, (1, 101))).state == "active"


async def test_contest_upheld(start_bot: StartBot, checks_first: None) -> None:
    bot: RunningBot = await start_bot()
    await load_batch(bot.services, products(3, gold={1: SKILLETS}), overlap=1, qualification=1, gold_rate=0)
    ann, shop = bot.user(101, "Ann"), bot.user(REQUESTER, "Shop")
    await begin(bot, ann)
    quiz = ann.last.message_id
    await pick(bot, ann, WRONG)
    await ann.press("⚖ I think this gold is wrong", message_id=quiz)
    await bot.settle()
    await shop.press("✖ The gold is right")
    await bot.settle()
    assert "Decided: the gold stands." in shop.last.body
    assert "was reviewed: the gold stands" in ann.last.body
    async with bot.services.db.read() as session:
        assert (await session.get(BatchWorker, (1, 101))).state == "failed"


async def test_requester_funds_more_quizzes_when_the_budget_is_spent(start_bot: StartBot, checks_first: None) -> None:
    """The requester hears at once when the last quiz is taken, once, and again only after funding
    more quizzes that run out too. The batch's name has characters HTML would take for markup."""
    bot: RunningBot = await start_bot()
    gold = {n: SKILLETS for n in range(1, 4)}
    name = "Pots & <Pans>"
    await load_batch(bot.services, products(8, gold=gold), overlap=1, qualification=3, gold_rate=0, name=name)
    async with bot.services.db.write() as session:
        await session.execute(update(Batch).values(quiz_slots=3))  # one quiz's worth left
    ann, bob, carl = bot.user(101, "Ann"), bot.user(102, "Bob"), bot.user(104, "Carl")
    requester = bot.user(REQUESTER, "Rita")
    await bot.run_job("quiz-budgets")
    await begin(bot, ann)
    for _ in range(3):
        await pick(bot, ann, RIGHT)
    assert f"Qualified for “{name}”" in ann.last.body
    assert requester.messages == [], "told only once the budget is spent"
    await bot.run_job("quiz-budgets")
    assert requester.last.body == (
        f"⚠ Batch #1 “{name}”: its quiz budget is spent, so no new worker can join, "
        "and 4 products still wait for answers. /quizzes 1 10 funds ten more quizzes."
    )
    await bot.run_job("quiz-budgets")
    assert len(requester.messages) == 1, "said once"
    await begin(bot, bob)
    assert "No tasks right now" in bob.last.body, "no quiz left to pay for"

    await send(bot, requester, "/batches")
    assert "⚠ Quiz budget spent: no new worker can join. /quizzes 1 10" in requester.last.body
    await send(bot, requester, "/quizzes 1 2")
    assert "Not enough funds" in requester.last.body
    async with bot.services.db.write() as session:
        await ledger.fund_requester(session, "top-up-test", REQUESTER, 1_000_000)
    order = await requester.send("/quizzes 1 2")
    await bot.settle()
    assert "🎓 $0.12 reserved: 2 more new workers can take the quiz of batch #1" in requester.last.body
    await requester.resend(order)
    await bot.settle()
    assert "already carried out" in requester.last.body
    await send(bot, requester, "/quizzes 1 lots")
    assert "Usage: /quizzes BATCH COUNT" in requester.last.body
    await send(bot, bot.user(103, "Stranger"), "/quizzes 1 2")
    assert "Only requesters" in bot.user(103).last.body

    await send(bot, requester, "/batches")
    assert "Quiz budget: 2 more new workers can take the quiz" in requester.last.body
    told = len(requester.messages)
    await send(bot, bob, "/work")
    assert "Qualification 1 of 3" in bob.last.body
    await bot.run_job("quiz-budgets")
    assert len(requester.messages) == told, "one quiz is still funded"
    await send(bot, carl, "/work")
    assert "Qualification 1 of 3" in carl.last.body, "the second funded quiz"
    await bot.run_job("quiz-budgets")
    assert "its quiz budget is spent" in requester.last.body, "spent again: said again"
    async with bot.services.db.read() as session:
        assert (await ledger.requester_funds(session, REQUESTER)).available == 1_000_000 - 120_000
        assert await books.inconsistencies(session) == []


async def test_level_gated_batch_hidden_until_the_level_is_earned(start_bot: StartBot, checks_first: None) -> None:
    """Qualified takes 50 checks reliably above 85 %: fifty right checks in a training batch open
    the batch that requires it, and /stats says so."""
    bot: RunningBot = await start_bot()
    premium = [{**row, "title": f"Premium {row['title']}"} for row in products(2)]
    await load_batch(bot.services, premium, overlap=1, name="Premium", min_level=1)
    # 40 products of work at gold_rate 0.5 fund 40 checks, plus 10 for the crowd: 50
    training = products(90, gold={n: SKILLETS for n in range(1, 51)})
    await load_batch(bot.services, training, overlap=1, name="Training", gold_rate=0.5)
    ann = bot.user(101, "Ann")
    await begin(bot, ann)
    for n in range(1, 50):
        assert f"Product {n}\n" in ann.last.body and "Premium" not in ann.last.body, "the gated batch is hidden"
        assert "🏅" not in ann.last.body
        await send(bot, ann, "skillet")  # typed search: two updates an answer instead of five
        await press(bot, ann, "Cookware & Bakeware › Cookware › Skillets & Frying Pans")
    await send(bot, ann, "/stats")
    assert "Level: Newcomer → next: Qualified (1 more checked answer)" in ann.last.body
    await send(bot, ann, "/work")
    await pick(bot, ann, RIGHT)  # the 50th check, right: Qualified
    assert "Premium Product 1" in ann.last.body, "qualified: the gated batch is open"
    assert "🏅 You are now Qualified: batches for qualified workers are open to you" in ann.last.body
    await send(bot, ann, "/stats")
    assert "Level: Qualified → next: Expert" in ann.last.body


async def test_quiz_passed_on_the_last_product_of_a_batch_named_with_markup(
    start_bot: StartBot, checks_first: None
) -> None:
    """Every message is HTML: the worker's last screen quotes the batch's name as the requester typed it."""
    bot: RunningBot = await start_bot()
    name = "Pots & <Pans>"
    gold = {n: SKILLETS for n in range(1, 4)}
    await load_batch(bot.services, products(4, gold=gold), overlap=1, qualification=3, gold_rate=0, name=name)
    ann = bot.user(101, "Ann")
    await begin(bot, ann)
    await pick(bot, ann, RIGHT)
    await pick(bot, ann, RIGHT)
    async with bot.services.db.write() as session:  # the product after the quiz is taken meanwhile
        await session.execute(update(Item).where(Item.title == "Product 4").values(is_open=False))
    await pick(bot, ann, RIGHT)
    assert f"Qualified for “{name}”: 3 of 3 right" in ann.last.body and "No tasks right now" in ann.last.body
    assert not any("Sorry" in text for text in ann.texts)
