"""A requester's settings and files that the bot must refuse in plain words, confirm first, or fill in."""

import json

import pytest
from sqlalchemy import select

from handlers.texts import TEXT_LIMIT, utf16_len
from storage.models import Batch
from tests.e2e.conftest import RunningBot, StartBot
from tests.e2e.test_requester import SHOP, batch_count, csv_file, pans, tap, upload
from tests.factories import KITCHEN

SETTINGS = f'qualification=0 root="{KITCHEN}"'


@pytest.fixture
async def bot(start_bot: StartBot) -> RunningBot:
    return await start_bot(requester_ids=str(SHOP))


async def only_batch(bot: RunningBot) -> Batch:
    async with bot.services.db.read() as session:
        (batch,) = (await session.scalars(select(Batch))).all()
        return batch


@pytest.mark.parametrize(("cap", "max_answers"), [("", None), ("max_share=0.1", 4)])
async def test_a_worker_may_answer_every_product_unless_the_caption_sets_max_share(
    bot: RunningBot, cap: str, max_answers: int | None
) -> None:
    """36 products (one of them gold): at 10 % a worker could give 4 answers, and the batch would need 27 workers."""
    shop = bot.user(SHOP, "Shop")
    said = await upload(bot, shop, csv_file(pans(36)), "pans.csv", f"reward=0.02 overlap=3 {SETTINGS} {cap}")
    assert "Cost" in said
    assert (await only_batch(bot)).max_answers == max_answers


async def test_the_overlap_question_recommends_adaptive_overlap(bot: RunningBot) -> None:
    shop = bot.user(SHOP, "Shop")
    await upload(bot, shop, csv_file(pans(4)), "pans.csv", f"reward=0.02 {SETTINGS}")
    assert "How many workers should answer each product?" in shop.last.body
    assert shop.last.buttons == [["3–5, adaptive (recommended)"], ["1", "3", "5"]]
    said = await tap(bot, shop, "3–5, adaptive (recommended)")
    assert "3 products × 5 answers" in said, "the reserve covers the most answers a product may get"
    batch = await only_batch(bot)
    assert (batch.overlap, batch.min_overlap, batch.confidence, batch.status) == (5, 3, 0.9, "draft")


async def test_a_fixed_overlap_is_still_one_tap(bot: RunningBot) -> None:
    shop = bot.user(SHOP, "Shop")
    await upload(bot, shop, csv_file(pans(4)), "pans.csv", f"reward=0.02 {SETTINGS}")
    assert "3 products × 3 answers" in await tap(bot, shop, "3")
    batch = await only_batch(bot)
    assert (batch.overlap, batch.min_overlap, batch.confidence) == (3, 1, None)


async def test_a_csv_cell_beyond_the_csv_modules_limit_is_refused_naming_the_line(bot: RunningBot) -> None:
    shop = bot.user(SHOP, "Shop")
    content = f"item_id,title,description\np1,Pan,short\np2,Pot,{'x' * 131_073}\n".encode()
    await upload(bot, shop, content, "big.csv", f"reward=0.02 overlap=3 {SETTINGS}")
    assert shop.last.body == (
        "Line 3 has a cell longer than 131,072 characters; a product's description may have at most 5,000."
    )
    assert await batch_count(bot) == 0


async def test_many_long_problems_fit_in_one_message_saying_how_many_more(bot: RunningBot) -> None:
    """30 rows sharing one item_id of 3,000 characters: each problem quotes the id cut short."""
    shop = bot.user(SHOP, "Shop")
    rows = [{"item_id": "p" * 3000, "title": f"Pan {n}"} for n in range(30)]
    await upload(bot, shop, csv_file(rows), "dup.csv", f"reward=0.02 overlap=3 {SETTINGS}")
    body = shop.last.body
    lines = body.splitlines()
    assert lines[0] == "The file was rejected: 30 rows have problems. Nothing was stored."
    assert lines[2] == f"Line 3: item_id '{'p' * 59}…' repeats line 2; item_id is longer than 256 characters"
    assert lines[-1] == "… and 10 more problems" and len(lines) == 22
    assert utf16_len(body) <= TEXT_LIMIT and await batch_count(bot) == 0


async def test_a_long_json_key_is_quoted_short(bot: RunningBot) -> None:
    shop = bot.user(SHOP, "Shop")
    content = json.dumps([{"item_id": "p1", "title": "Pan", "k" * 6000: {"nested": 1}}]).encode()
    await upload(bot, shop, content, "key.json", f"reward=0.02 overlap=3 {SETTINGS}")
    assert shop.last.body == f"Item 1: '{'k' * 59}…' must be a single value, not a list or object."
    assert await batch_count(bot) == 0


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("min_gold=-5", "min_gold must not be negative"),
        ("min_seconds=-10", "min_seconds must not be negative"),
        ("reward=0", "reward must be more than zero"),
        ("overlap=0", "overlap must be between 1 and 100"),
        ("overlap=2.5", "overlap must be a whole number"),
        ("min_overlap=x", "min_overlap must be a whole number"),
        ("min_gold=1.5", "min_gold must be a whole number"),
        ("qualification=two", "qualification must be a whole number"),
        ("gold_rate=lots", "gold_rate must be a number"),
        ("confidence=nan", "confidence must be a number"),
        ("min_seconds=soon", "min_seconds must be a number"),
        ("retry_hours=1e999", "retry_hours must be a number"),
        ("reward=two", "reward 'two' is not an amount of money"),
    ],
)
async def test_a_bad_setting_is_refused_in_plain_words_with_nothing_stored(
    bot: RunningBot, setting: str, problem: str
) -> None:
    shop = bot.user(SHOP, "Shop")
    caption = f"reward=0.02 overlap=3 {SETTINGS} {setting}"  # the later reward= or overlap= wins
    await upload(bot, shop, csv_file(pans(4)), "pans.csv", caption)
    assert shop.last.body == f"Some settings are not valid.\n{problem}" or problem + ", e.g." in shop.last.body
    assert "invalid literal" not in shop.last.body and "could not convert" not in shop.last.body
    assert not shop.last.buttons and await batch_count(bot) == 0


async def test_a_reward_above_a_hundred_is_confirmed_before_the_draft_takes_it(bot: RunningBot) -> None:
    shop = bot.user(SHOP, "Shop")
    await upload(bot, shop, csv_file(pans(4)), "pans.csv", f"reward=1e9 overlap=3 {SETTINGS}")
    assert shop.last.body == (
        "The caption asks $1,000,000,000.00 per answer, more than the $100.00 I take without asking. "
        "Is that right? Nothing is reserved until you launch."
    )
    assert shop.last.buttons[0] == ["Yes, $1,000,000,000.00 per answer"]
    assert (await only_batch(bot)).reward_micros == 0, "not taken until confirmed"
    said = await tap(bot, shop, "Yes, $1,000,000,000.00 per answer")
    assert "3 products × 3 answers × $1,000,000,000.00" in said and shop.last.buttons == [["🚀 Launch", "✖ Cancel"]]
    assert (await only_batch(bot)).reward_micros == 10**15


async def test_a_mistyped_reward_can_be_replaced_with_a_usual_one(bot: RunningBot) -> None:
    shop = bot.user(SHOP, "Shop")
    await upload(bot, shop, csv_file(pans(4)), "pans.csv", f"reward=500 overlap=3 {SETTINGS}")
    assert "more than the $100.00" in shop.last.body
    assert "3 products × 3 answers × $0.05" in await tap(bot, shop, "$0.05")


async def test_a_reward_of_a_hundred_needs_no_confirmation(bot: RunningBot) -> None:
    shop = bot.user(SHOP, "Shop")
    said = await upload(bot, shop, csv_file(pans(4)), "pans.csv", f"reward=100 overlap=3 {SETTINGS}")
    assert "3 products × 3 answers × $100.00" in said
