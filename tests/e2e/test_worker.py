"""A worker's whole day through the real Application and the fake Bot API."""

import sqlite3
import threading
from typing import Any

import pytest
from sqlalchemy import select

from bot.money import ledger
from handlers import callbacks
from sandbox.telegram_server import FakeUser
from storage import ledger as books
from storage import sqlite_driver
from storage.models import Assignment, Item, User
from tests.conftest import MovableClock
from tests.e2e.conftest import RunningBot
from tests.factories import SKILLETS, WOKS, load_batch, products

COOKWARE = ("Cookware & Bakeware", "Cookware")


async def press(bot: RunningBot, user: FakeUser, label: str) -> dict:
    """Press a button by its text, turning pages forward until it is visible."""
    for _ in range(20):
        if any(label in row for row in user.buttons()):
            query = await user.press(label)
            await bot.settle()
            return query
        await user.press("▶")
        await bot.settle()
    raise AssertionError(f"no button {label!r}; buttons: {user.buttons()}")


def data_of(user: FakeUser, label: str) -> str:
    message = user.last
    labels = [label for row in message.buttons for label in row]
    data = [value for row in message.callback_data for value in row]
    pairs = zip(labels, data, strict=True)
    return next(data for text, data in pairs if text == label)


async def send(bot: RunningBot, user: FakeUser, text: str) -> None:
    await user.send(text)
    await bot.settle()


async def begin(bot: RunningBot, user: FakeUser) -> None:
    await send(bot, user, "/start")
    await press(bot, user, "▶ Start working")


async def test_start_greets_registers_and_sets_commands(bot: RunningBot) -> None:
    ann = bot.user(101, "Ann")
    await send(bot, ann, "/start")
    assert "Hi Ann" in ann.last.body and ann.buttons() == [["▶ Start working"]]
    commands = bot.telegram.calls("setMyCommands")
    assert commands and {"work", "balance", "help"} <= {c["command"] for c in commands[-1].params["commands"]}
    async with bot.services.db.read() as session:
        assert await session.get(User, 101) is not None
    await send(bot, ann, "/help")
    assert "/work" in ann.last.body and "Skip" in ann.last.body


async def test_worker_labels_ten_products(bot: RunningBot, checks_first: None) -> None:
    # Gold is never in the open pool; with checks_first the two gold products come first as checks
    # (lowest id first), then the regular products in order: Product 1, 2, 3, … as before.
    gold = {1: SKILLETS, 2: WOKS}
    await load_batch(bot.services, products(12, gold=gold), overlap=1)
    ann = bot.user(101, "Ann")
    await begin(bot, ann)
    task_message = ann.last.message_id
    assert "Product 1" in ann.last.body and "Home & Garden › Kitchen & Dining" in ann.last.body
    assert "page 1/2" in ann.last.body and ann.buttons()[-1] == ["⏭ Skip", "⏹ Stop"]

    # 1: drill down to Skillets (gold, correct), turning Cookware's pages.
    for label in COOKWARE:
        await press(bot, ann, label)
    assert "Cookware & Bakeware › Cookware" in ann.last.body
    await press(bot, ann, "Skillets & Frying Pans")
    assert ann.last.message_id == task_message, "the next product replaces the answered one"
    assert "✔ +$0.02 · pending $0.02" in ann.last.body and "Product 2" in ann.last.body

    # 2: wander into Barware, come back with ⬅ Back, then answer Saucepans (gold says Woks: wrong).
    await press(bot, ann, "Barware")
    assert "Kitchen & Dining › Barware" in ann.last.body
    await press(bot, ann, "⬅ Back")
    assert "📂 Home & Garden › Kitchen & Dining" in ann.last.body
    for label in (*COOKWARE, "Saucepans"):
        await press(bot, ann, label)
    assert "Product 3" in ann.last.body

    # 3: the second page of the root has Tableware.
    for label in ("Tableware", "Drinkware", "Mugs"):
        await press(bot, ann, label)
    assert "Product 4" in ann.last.body

    # 4: skip, no penalty, nothing credited.
    await press(bot, ann, "⏭ Skip")
    assert "⏭ Skipped" in ann.last.body and "Product 5" in ann.last.body

    # 5: typed search, then a tap on a match.
    await send(bot, ann, "skillet")
    assert "Categories matching" in ann.last.body
    await press(bot, ann, "Cookware & Bakeware › Cookware › Skillets & Frying Pans")
    assert "Product 6" in ann.last.body

    # 6-11: six more by drill-down, ten answers in all.
    for number in range(6, 12):
        for label in (*COOKWARE, "Woks"):
            await press(bot, ann, label)
        assert f"Product {number + 1}" in ann.last.body

    async with bot.services.db.read() as session:
        answered = list(
            await session.scalars(select(Assignment).where(Assignment.status == "answered").order_by(Assignment.id))
        )
        assert len(answered) == 10
        graded = [(a.gold_graded, a.gold_right, a.gold_distance) for a in answered if a.gold_graded]
        assert graded == [(1, 1, 0), (1, 0, 2)]
        assert await ledger.worker_balance(session, 101) == ledger.WorkerBalance(10 * 20_000, 0, 0, 0)
        assert await books.inconsistencies(session) == []
    await send(bot, ann, "/balance")
    assert "Pending: $0.20" in ann.last.body and "Available: $0.00" in ann.last.body


async def test_no_tasks_message(bot: RunningBot) -> None:
    ann = bot.user(101)
    await send(bot, ann, "/work")
    assert "No tasks right now" in ann.last.body


async def test_double_tap_and_replay_credit_once(bot: RunningBot) -> None:
    await load_batch(bot.services, products(3), overlap=1)
    ann = bot.user(101)
    await begin(bot, ann)
    for label in COOKWARE:
        await press(bot, ann, label)
    await press(bot, ann, "▶")
    message_id = ann.last.message_id
    leaf = data_of(ann, "Skillets & Frying Pans")
    await ann.press_data(leaf, message_id)  # two taps before the bot answers either
    await ann.press_data(leaf, message_id)
    await bot.settle()
    await ann.press_data(leaf, message_id)  # a replay long after
    await bot.settle()
    async with bot.services.db.read() as session:
        assert (await ledger.worker_balance(session, 101)).pending == 20_000
        answers = await session.scalar(select(Item.answers).where(Item.external_id == "sku-0001"))
    assert answers == 1
    assert "Product 2" in ann.last.body
    assert not any("no longer available" in text for text in ann.texts), "a double tap is not an error"


async def test_an_answer_runs_on_the_event_loop_once_its_transaction_has_begun(
    bot: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite: the answer's transaction is brief (storage.sqlite_driver). Its BEGIN IMMEDIATE, which may wait
    for another process, goes to the driver's thread with the first statement; every statement after it,
    the COMMIT included, runs on the event loop's thread, and the answer is recorded and paid all the same."""
    if bot.services.db.engine.dialect.name != "sqlite":
        pytest.skip("asyncpg has no thread to hand statements to")
    await load_batch(bot.services, products(3), overlap=1)
    ann = bot.user(101)
    await begin(bot, ann)
    for label in COOKWARE:
        await press(bot, ann, label)
    ran: list[tuple[str, str]] = []  # (thread, statement), as SQLite runs them
    original = sqlite_driver._run_statement

    def traced(connection: sqlite3.Connection, *args: Any) -> Any:
        connection.set_trace_callback(lambda sql: ran.append((threading.current_thread().name, sql)))
        return original(connection, *args)

    monkeypatch.setattr(sqlite_driver, "_run_statement", traced)
    await press(bot, ann, "Skillets & Frying Pans")
    assert "Product 2" in ann.last.body
    recorded = next(n for n, (_, sql) in enumerate(ran) if sql.startswith("UPDATE assignments SET status"))
    begun = max(n for n, (_, sql) in enumerate(ran[:recorded]) if sql == "BEGIN IMMEDIATE")
    committed = next(n for n, (_, sql) in enumerate(ran) if n > recorded and sql == "COMMIT")
    threads = [thread for thread, _ in ran[begun : committed + 1]]
    assert threads[0] == threads[1] != "MainThread", "BEGIN and the first statement in the driver's thread"
    assert set(threads[2:]) == {"MainThread"}, ran[begun : committed + 1]
    assert len(threads) >= 10, "the answer, its credit and the next claim are all in that transaction"
    async with bot.services.db.read() as session:
        assert (await ledger.worker_balance(session, 101)).pending == 20_000


async def test_forged_and_stale_buttons_change_nothing(bot: RunningBot) -> None:
    await load_batch(bot.services, products(3), overlap=1)
    ann, bob = bot.user(101, "Ann"), bot.user(102, "Bob")
    await begin(bot, ann)
    await begin(bot, bob)
    ann_assignment = data_of(ann, "Barware").split(":")[1]
    # Well-formed picks of a category Ann's task takes (Skillets), so only whose task it is refuses them.
    bob_pick = callbacks.encode(callbacks.Pick(int(ann_assignment), 0, 662))  # a pick on Ann's task
    nobodys_pick = callbacks.encode(callbacks.Pick(999999, 0, 662))
    for forged in (bob_pick, nobodys_pick, "b:1:1:0", "totally-not-ours"):
        query = await bob.press_data(forged, bob.last.message_id)
        await bot.settle()
        answer = bob.callback_answer(query["id"])
        assert answer is not None, "every press gets answerCallbackQuery"
        said = (answer.get("text") or "") + bob.last.body
        assert "no longer available" in said
    async with bot.services.db.read() as session:
        assert await session.scalar(select(Assignment.id).where(Assignment.status == "answered")) is None
        assert (await ledger.worker_balance(session, 102)).pending == 0
    # Ann's task is untouched and still works.
    await press(bot, ann, "Barware")
    assert "Barware" in ann.last.body


async def test_expired_reservation_goes_to_another_worker(bot: RunningBot, clock: MovableClock) -> None:
    await load_batch(bot.services, products(1), overlap=1)
    ann, bob = bot.user(101, "Ann"), bot.user(102, "Bob")
    await begin(bot, ann)
    stale = ann.last.message_id
    await send(bot, bob, "/work")
    assert "No tasks right now" in bob.last.body
    clock.advance(bot.services.settings.assignment_ttl_seconds)
    await bot.run_job("reclaim-reservations")
    await send(bot, bob, "/work")
    assert "Product 1" in bob.last.body
    await ann.press("Barware", message_id=stale)
    await bot.settle()
    assert "no longer available" in ann.last.body


async def test_user_who_blocked_the_bot_is_released(bot: RunningBot) -> None:
    await load_batch(bot.services, products(1), overlap=1)
    ann, bob = bot.user(101, "Ann"), bot.user(102, "Bob")
    await begin(bot, ann)
    ann.blocked = True
    await ann.press("Barware")
    await bot.settle()
    async with bot.services.db.read() as session:
        assert (await session.get(User, 101)).is_reachable is False
        assert (await session.scalar(select(Assignment.status))) == "released"
    await send(bot, bob, "/work")
    assert "Product 1" in bob.last.body


async def test_photo_card_and_fallback_when_photo_fails(bot: RunningBot) -> None:
    rows = products(2, image=True)
    bot.telegram.broken_photo_urls.add(rows[1]["image_url"])
    await load_batch(bot.services, rows, overlap=1)
    ann = bot.user(101)
    await begin(bot, ann)
    assert ann.last.photo == rows[0]["image_url"] and "Product 1" in ann.last.caption
    await press(bot, ann, "Barware")
    assert "Barware" in ann.last.caption, "browsing edits the caption under the photo"
    await press(bot, ann, "⬅ Back")
    for label in (*COOKWARE, "Woks"):
        await press(bot, ann, label)
    assert ann.last.photo is None and "Product 2" in ann.last.text, "a photo Telegram cannot fetch falls back to text"


async def test_emoji_heavy_photo_card_keeps_its_photo_and_ends_cleanly(bot: RunningBot) -> None:
    """Telegram counts a caption in UTF-16 units, where most emoji count two: the card is cut to fit,
    between whole characters and before the HTML is made, so the photo stays."""
    title, description = "👩‍🍳" * 300, "🥘&<" * 1000  # a joined emoji (five units); two characters HTML escapes
    row = {
        "item_id": "sku-1",
        "title": title,
        "description": description,
        "brand": "🇫🇷" * 100,
        "price": "💲" * 64,
        "image_url": "https://img.example.com/chef.jpg",
    }
    await load_batch(bot.services, [row], overlap=1)
    ann = bot.user(101)
    await begin(bot, ann)
    assert ann.last.photo == row["image_url"], "the caption fits, so the photo is not lost"
    caption = ann.last.caption
    assert not any(0xD800 <= ord(char) <= 0xDFFF for char in caption), "no half of a character"
    shown_title, _, shown_description = caption.splitlines()[:3]
    for shown, whole in ((shown_title.removeprefix("🛒 "), title), (shown_description, description)):
        assert shown.endswith("…") and whole.startswith(shown.removesuffix("…")), "cut text, no cut entity"
        assert not shown.removesuffix("…").endswith("\u200d"), "no dangling joiner"
    assert caption.endswith("Reward $0.02."), "the category place and reward survive the cut"


async def test_accepting_an_inner_category_when_leaf_only_is_off(bot: RunningBot) -> None:
    await load_batch(bot.services, products(1), overlap=1, leaf_only=False)
    ann = bot.user(101)
    await begin(bot, ann)
    await press(bot, ann, "Cookware & Bakeware")
    await press(bot, ann, "✅ Cookware & Bakeware")
    async with bot.services.db.read() as session:
        chosen = await session.scalar(select(Assignment.answer))
    tree = (await bot.services.taxonomies.get(1)).tree
    assert list(chosen) == ["category"]
    assert tree.path_names(int(chosen["category"])) == "Home & Garden > Kitchen & Dining > Cookware & Bakeware"


async def test_stop_releases_the_product(bot: RunningBot) -> None:
    await load_batch(bot.services, products(1), overlap=1)
    ann, bob = bot.user(101), bot.user(102)
    await begin(bot, ann)
    await press(bot, ann, "⏹ Stop")
    assert "Stopped" in ann.last.body and ann.last.buttons == []
    await send(bot, bob, "/work")
    assert "Product 1" in bob.last.body


async def test_search_without_open_task_explains(bot: RunningBot) -> None:
    ann = bot.user(101)
    await send(bot, ann, "skillet")
    assert "/work" in ann.last.body


@pytest.mark.parametrize("failing", ["answer"])
async def test_unexpected_error_apologises_without_traceback(
    bot: RunningBot, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    from bot import work

    async def broken(*_: object) -> None:
        raise RuntimeError("database on fire")

    await load_batch(bot.services, products(1), overlap=1)
    ann = bot.user(101)
    await begin(bot, ann)
    monkeypatch.setattr(work, failing, broken)
    for label in (*COOKWARE, "Woks"):
        await press(bot, ann, label)
    assert "something went wrong" in ann.last.body.lower() and "Traceback" not in ann.last.body
    assert "may not have been completed" in ann.last.body and "lost" not in ann.last.body, "no false comfort"


async def test_stats_target_and_breaks(bot: RunningBot, checks_first: None) -> None:
    # checks_first: the gold Product 1 is the first task, a check answered right.
    await load_batch(bot.services, products(4, gold={1: SKILLETS}), overlap=1)
    ann = bot.user(101)
    await begin(bot, ann)
    task_id = ann.last.message_id
    await send(bot, ann, "/target $0.04")
    assert "Daily target: $0.04" in ann.last.body and "$0.00 earned today" in ann.last.body
    for label in (*COOKWARE, "Skillets & Frying Pans", *COOKWARE, "Woks"):
        await press(bot, ann, label)
    assert "🎯 Daily target of $0.04 reached" in ann.message(task_id).body
    await send(bot, ann, "/stats")
    stats = ann.last.body
    assert "Tasks: 2 today · 2 this week" in stats and "Accuracy on hidden checks: 100% on 1 check" in stats
    assert "Level: Newcomer → next: Qualified (49 more checked answers" in stats
    assert "Today's target: ▓▓▓▓▓▓▓▓▓▓ $0.04 of $0.04" in stats
    assert stats.endswith("Your running batches\n✅ #1 “Kitchen”: working · checks 1 of 1 right")
    await send(bot, ann, "/breaks off")
    assert "Break reminders are off" in ann.last.body
    await send(bot, ann, "/target nonsense")
    assert "Usage: /target" in ann.last.body
