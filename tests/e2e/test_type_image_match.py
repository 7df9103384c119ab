"""image_match through the bot: a requester's file of titles and photo links, a quiz, workers who say
whether the photo shows the product (or that it does not load, when Telegram cannot fetch it), a spammer
held and removed, one who fails the quiz, rows refused, and the classic one-question results file."""

import csv
import io
import json

import pytest
from sqlalchemy import func, select

from bot.aggregation import methods as aggregation
from bot.money import ledger
from sandbox.telegram_server import FakeUser
from storage import ledger as books
from storage.models import Assignment, Batch, Item
from storage.states import CreditState
from tests.e2e.conftest import RunningBot, StartBot
from tests.e2e.test_requester import ADMIN, SHOP, csv_file, fund, tap, upload
from tests.e2e.test_worker import begin, press, send

CAPTION = 'type=image_match reward=0.02 overlap=3 qualification=2 name="Photos"'
YES, NO, NO_IMAGE = "✔ Yes", "✖ No", "⚠ Photo does not load"
BUTTONS = {"yes": YES, "no": NO, "no_image": NO_IMAGE}
QUESTION = "Does the photo show this product?"


@pytest.fixture
async def bot(start_bot: StartBot) -> RunningBot:
    return await start_bot(admin_ids=str(ADMIN), requester_ids=str(SHOP))


def photo(item_id: str) -> str:
    return f"https://img.example.com/{item_id}.jpg"


# item id: (title, the true answer). g1–g3 are gold (a quiz of two, then a check); r12's photo does not load.
TRUTH = {
    "g1": ("Red kettle", "yes"),
    "g2": ("Blue teapot", "no"),
    "g3": ("Green mug", "no_image"),
    **{f"r{n:02}": (f"Product {n}", "yes" if n % 2 else "no") for n in range(1, 12)},
    "r12": ("Product 12", "no_image"),
}
DEAD = {photo("g3"), photo("r12")}
GOLD_CELLS = {"g1": "yes", "g2": "No", "g3": "no image"}  # as a spreadsheet may write them


def rows() -> list[dict[str, str]]:
    return [
        {"item_id": item, "title": title, "image_url": photo(item), "gold_answer": GOLD_CELLS.get(item, "")}
        for item, (title, _) in TRUTH.items()
    ]


async def look_and_answer(bot: RunningBot, worker: FakeUser, item: str, answer: str) -> None:
    """The card of `item`: its photo above the question, or, when Telegram cannot fetch the photo, a
    text card with the photo's address; then the answer's button."""
    card = worker.last
    assert TRUTH[item][0] in card.body and QUESTION in card.body, card.body
    assert card.buttons[0] == [YES, NO, NO_IMAGE]
    if photo(item) in DEAD:
        assert card.photo is None and f"🖼 Photo: {photo(item)}" in card.text
    else:
        assert card.photo == photo(item) and "🖼 Photo" not in card.caption
    await press(bot, worker, BUTTONS[answer])


async def take_quiz(bot: RunningBot, worker: FakeUser) -> None:
    await begin(bot, worker)
    assert "Qualification 1 of 2" in worker.last.body
    await look_and_answer(bot, worker, "g1", "yes")
    await look_and_answer(bot, worker, "g2", "no")
    assert "🎓 Qualified for “Photos”: 2 of 2 right" in worker.last.body


async def answer_all(bot: RunningBot, worker: FakeUser, items: list[str], answer: str | None = None) -> None:
    """The check (checks_first: the gold the quiz left), then `items` in order: truthfully, or always `answer`."""
    for item in ["g3", *items]:
        await look_and_answer(bot, worker, item, answer or TRUTH[item][1])


async def test_upload_quiz_answers_a_spammer_held_and_removed_and_results(bot: RunningBot, checks_first: None) -> None:
    bot.telegram.unreachable_photo_urls.update(DEAD)
    shop, admin = bot.user(SHOP, "Shop"), bot.user(ADMIN, "Ada")
    content = "\n".join(json.dumps(line) for line in rows()).encode()
    said = await upload(bot, shop, content, "photos.jsonl", CAPTION)
    preview = shop.messages[-2]
    assert "Preview of batch #1 “Photos”" in said
    assert preview.photo == photo("g1") and preview.caption == f"🛒 Red kettle\n\n❓ {QUESTION}\nReward $0.02."
    assert preview.buttons == [[YES, NO, NO_IMAGE], ["⏭ Skip", "⏹ Stop"]]
    assert "12 products × 3 answers × $0.02" in shop.last.body
    await fund(bot, "5")
    assert "is live" in await tap(bot, shop, "🚀 Launch")

    regular = [item for item in TRUTH if item.startswith("r")]
    ann, bob, sam, dan = (bot.user(n, name) for n, name in ((101, "Ann"), (102, "Bob"), (103, "Sam"), (104, "Dan")))
    for worker in (ann, bob):
        await take_quiz(bot, worker)
        await answer_all(bot, worker, regular)
        assert "No tasks right now" in worker.last.body

    # Sam passes the quiz, then says yes to everything: ten in a row (the check and nine products),
    # where the others disagree on half.
    await take_quiz(bot, sam)
    await answer_all(bot, sam, regular[:9], "yes")
    assert sam.last.body.startswith("⏸ Your work on “Photos” is paused for a review")
    assert "(the same answer for 10 products in a row)" in sam.last.body
    assert "held in batch #1 “Photos”" in admin.last.body
    await press(bot, admin, "✖ Remove, reject answers")
    told = sam.last.body
    assert "After a review you are removed from “Photos”" in told
    assert "10 of your answers there, whose pay was still in its hold, are rejected" in told, "the check and nine"

    # Dan takes the products Sam's rejected answers gave back, and the last two.
    await take_quiz(bot, dan)
    await answer_all(bot, dan, regular)
    assert "No tasks right now" in dan.last.body

    await bot.run_job("complete-batches")
    assert "✅ Batch #1 “Photos” is complete." in shop.texts[-3]
    completed = shop.messages[-2].document_bytes
    await send(bot, shop, "/results 1")
    labels_file, answers_file = shop.messages[-2], shop.messages[-1]
    assert labels_file.document["file_name"] == "batch-1-results.csv"
    assert labels_file.document_bytes == completed, "/results sends what the completion sent"
    lines = list(csv.DictReader(io.StringIO(labels_file.document_bytes.decode())))
    assert list(lines[0]) == ["item_id", "title", "label_id", "label_path", "confidence", "answers", "agreement"]
    results = {line["item_id"]: line for line in lines}
    assert {item: line["label_id"] for item, line in results.items()} == {
        item: truth for item, (_, truth) in TRUTH.items()
    }
    for item in regular:
        assert (results[item]["answers"], results[item]["agreement"]) == ("3", "1.0000"), "Sam's answers are out"
    assert results["g1"]["answers"] == "4", "quiz answers are kept, Sam's too"

    # The confidences are the aggregation's over the accepted answers the bot stored.
    async with bot.services.db.read() as session:
        stored = (
            await session.execute(
                select(Item.external_id, Assignment.worker_id, Assignment.answer, Assignment.credit_state).join(Item)
            )
        ).all()
        assert (await ledger.worker_balance(session, 103)).pending == 2 * 20_000, "Sam keeps the quiz's pay"
        assert (await ledger.requester_funds(session, SHOP)).reserved == 0
        assert await books.inconsistencies(session) == []
    crowd = [
        aggregation.Answer(item, str(worker), labels["match"])
        for item, worker, labels, state in stored
        if state != CreditState.REJECTED
    ]
    gold = {item: truth for item, (_, truth) in TRUTH.items() if item.startswith("g")}
    for item, label in aggregation.aggregate(crowd, "auto", gold).items():
        confidence = results[item]["confidence"]
        assert confidence == f"{label.confidence:.4f}" and 0.5 <= float(confidence) <= 1

    raw = list(csv.DictReader(io.StringIO(answers_file.document_bytes.decode())))
    assert list(raw[0])[:4] == ["item_id", "worker", "answer_id", "answer_path"]
    spam = [line for line in raw if line["worker"] == "worker 3"]
    assert len(spam) == 12 and {line["worker_status"] for line in spam} == {"removed"}
    assert sorted(line["accepted"] for line in spam) == ["no"] * 10 + ["yes"] * 2
    assert [line["answer_id"] for line in raw if line["item_id"] == "r12"] == ["no_image"] * 3
    refused = {call.params["photo"] for call in bot.telegram.errors if call.method == "sendPhoto"}
    assert refused == DEAD, "the bot tried each dead photo, and fell back to text"


async def test_saying_yes_to_every_photo_fails_the_quiz(bot: RunningBot, checks_first: None) -> None:
    """After a Yes, the quiz's next product is one whose answer is not Yes: the miss is shown on the photo
    card itself, with the right answer and a way to contest it."""
    bot.telegram.unreachable_photo_urls.update(DEAD)
    shop = bot.user(SHOP, "Shop")
    await upload(bot, shop, csv_file(rows()), "photos.csv", CAPTION)
    await fund(bot, "5")
    await tap(bot, shop, "🚀 Launch")
    yes_man = bot.user(105, "Yuri")
    await begin(bot, yes_man)
    await send(bot, yes_man, "yes")
    assert yes_man.last.body == "This question is answered with the buttons under the product."
    card = yes_man.messages[-2]
    await yes_man.press(YES, card.message_id)
    await bot.settle()
    second = yes_man.message(card.message_id)
    assert second.photo == photo("g2") and "Qualification 2 of 2" in second.caption, "the next photo, in place"
    await yes_man.press(YES, card.message_id)
    await bot.settle()
    missed = yes_man.message(card.message_id)
    assert missed.photo == photo("g2"), "the missed product keeps its photo"
    assert "Blue teapot" in missed.caption and "the right answer is ✖ No." in missed.caption
    assert missed.buttons == [["⚖ I think this gold is wrong"]]
    assert "You did not qualify for “Photos” (1 of 2 right" in yes_man.texts[-2]
    assert "No tasks right now" in yes_man.last.body


async def test_rows_without_a_web_photo_are_refused_naming_them(bot: RunningBot) -> None:
    shop = bot.user(SHOP, "Shop")
    lines = rows()[:5]
    lines[1]["image_url"] = ""
    lines[2]["image_url"] = "ftp://img.example.com/r1.jpg"
    lines[3]["image_url"] = "img.example.com/r2.jpg"
    lines[4]["gold_answer"] = "blurry"
    await upload(bot, shop, csv_file(lines), "photos.csv", CAPTION)
    refusal = shop.last.body
    assert "The file was rejected: 4 rows have problems. Nothing was stored." in refusal
    assert "Line 3: image_url is empty: image_match needs a photo" in refusal
    assert "Line 4: image_url 'ftp://img.example.com/r1.jpg' is not an http(s) address" in refusal
    assert "Line 5: image_url 'img.example.com/r2.jpg' is not an http(s) address" in refusal
    assert "Line 6: gold_answer 'blurry' is not yes, no or no_image" in refusal
    async with bot.services.db.read() as session:
        assert await session.scalar(select(func.count(Batch.id))) == 0
