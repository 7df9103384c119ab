"""The attributes type through the bot: a requester names the attributes in the caption, workers tag
each product one question after another on the same card (buttons, or typed for a `text` attribute),
quality control removes a worker who always takes the first button, and the results give a value per
attribute with its confidence and agreement."""

import asyncio
import csv
import io
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.aggregation import methods as aggregation
from bot.batches.results import RAW_TAIL
from bot.money import ledger
from bot.tasks.reading import typed_label
from bot.wiring import cli
from sandbox.telegram_server import FakeUser
from storage import ledger as books
from storage.models import Assignment
from tests.conftest import ScriptedRandom
from tests.e2e.conftest import RunningBot, StartBot
from tests.e2e.test_requester import ADMIN, SHOP, csv_file, fund, tap, upload
from tests.e2e.test_worker import begin, data_of, press, send

ATTRIBUTES = "color:black|white|red|other; material:steel|wood|plastic|other; brand:text"
CAPTION = (
    f'type=attributes attributes="{ATTRIBUTES}" reward=0.02 overlap=3 qualification=2 pass=0.3 min_gold=3 '
    'gold_rate=0.5 name="Tags"'
)
QUESTIONS = ("color", "material", "brand")
# Gold: each row gives some attributes, each of them one gold answer, right when the answer matches it.
GOLD = {
    "g1": {"color": "black"},  # quiz 1: the first button's color, so the first-button worker passes the quiz
    "g2": {"material": "wood", "brand": "ACME"},  # quiz 2
    "g3": {"color": "white", "material": "plastic"},  # then the checks
    "g4": {"color": "red"},
    "g5": {"material": "other", "brand": "Bosch"},
}
# What the careful workers give the gold products: every given attribute right, typed values written
# every which way (full-width letters, spaces around, capitals): they count as the gold all the same.
GOLD_ANSWERS = {
    "g1": ("black", "steel", "Acme"),
    "g2": ("white", "wood", "  ＡＣＭＥ "),
    "g3": ("white", "plastic", "ikea"),
    "g4": ("red", "other", "Bosch"),
    "g5": ("other", "other", " BOSCH"),
}
# The regular products, by worker: (color, material, brand).
WORK = {
    101: {"p1": ("black", "steel", "  ＡＣＭＥ "), "p2": ("red", "wood", "Ikea"), "p3": ("other", "plastic", "Bosch")},
    102: {"p1": ("black", "steel", "acme"), "p2": ("red", "wood", "IKEA "), "p3": ("other", "plastic", "bosch")},
    103: {"p1": ("white", "steel", "Acme"), "p2": ("red", "plastic", "ikea"), "p3": ("other", "wood", "Makita")},
}
# value, agreement per product and attribute, as the careful workers' answers above make them.
EXPECTED = {
    "p1": {"color": ("black", 2 / 3), "material": ("steel", 1.0), "brand": ("acme", 1.0)},
    "p2": {"color": ("red", 1.0), "material": ("wood", 2 / 3), "brand": ("ikea", 1.0)},
    "p3": {"color": ("other", 1.0), "material": ("plastic", 2 / 3), "brand": ("bosch", 2 / 3)},
}
SPAM = ("black", "steel", "aaa")  # the first buttons, and the same typed word every time


@pytest.fixture
async def bot(start_bot: StartBot) -> RunningBot:
    return await start_bot(admin_ids=str(ADMIN), requester_ids=str(SHOP))


def rows() -> list[dict[str, str]]:
    gold = [
        {"item_id": key, "title": f"Gold {key}", **{f"gold_{q}": labels.get(q, "") for q in QUESTIONS}}
        for key, labels in GOLD.items()
    ]
    regular = [{"item_id": f"p{n}", "title": f"Chair {n}", **{f"gold_{q}": "" for q in QUESTIONS}} for n in (1, 2, 3)]
    return gold + regular


async def tag(bot: RunningBot, user: FakeUser, color: str, material: str, brand: str) -> None:
    """Answer the open card: color and material by their buttons on the same card, then the brand typed."""
    card = user.last.message_id
    assert "Choose the color:" in user.last.body and "(1 of 3)" in user.last.body
    await press(bot, user, color)
    assert user.last.message_id == card, "the next question comes on the same card"
    assert f"✔ Color: {color}" in user.last.body and "Choose the material:" in user.last.body
    assert "(2 of 3)" in user.last.body
    await press(bot, user, material)
    assert user.message(card).body.count("✔") == 2 and "Type the brand." in user.message(card).body
    assert user.buttons(card) == [["⏭ Skip", "⏹ Stop"]], "a typed question has no answer buttons"
    await send(bot, user, brand)


async def spam(bot: RunningBot, user: FakeUser) -> None:
    """The first button for every question, and the same word for the typed one."""
    await press(bot, user, user.buttons()[0][0])
    await press(bot, user, user.buttons()[0][0])
    await send(bot, user, SPAM[2])


def product(user: FakeUser) -> str:
    """The item_id of the product on the user's card."""
    found = re.search(r"🛒 (?:Gold (g\d)|Chair (\d))", user.last.body)
    assert found is not None, user.last.body
    return found[1] or f"p{found[2]}"


def crowd(question: str) -> list[aggregation.Answer]:
    """The answers the results aggregate, as the workers gave them: the careful workers' all, and the
    first-button worker's quiz (paid training, never rejected); typed values as they are grouped."""
    given = [(104, item, SPAM) for item in ("g1", "g2")]
    given += [(worker, item, answers) for worker in WORK for item, answers in GOLD_ANSWERS.items()]
    given += [(worker, item, answers) for worker, work in WORK.items() for item, answers in work.items()]
    place = QUESTIONS.index(question)
    return [aggregation.Answer(item, str(worker), typed_label(answers[place])) for worker, item, answers in given]


async def test_attributes_end_to_end(bot: RunningBot, draws: ScriptedRandom, tmp_path: Path) -> None:
    shop = bot.user(SHOP, "Shop")
    said = await upload(bot, shop, csv_file(rows()), "chairs.csv", CAPTION)
    preview = shop.messages[-2]
    assert "Preview of batch #1 “Tags”" in said, "the first product as workers see it"
    assert preview.body == "🛒 Gold g1\n\n❓ Choose the color: (1 of 3)\nReward $0.02."
    assert preview.buttons == [["black", "white", "red"], ["other"], ["⏭ Skip", "⏹ Stop"]]
    assert "3 products × 3 answers × $0.02" in shop.last.body
    await fund(bot, "5")
    assert "is live" in await tap(bot, shop, "🚀 Launch")

    # The first-button worker comes first: the quiz (g1 right, both of g2's attributes wrong: 1 of 3 gold
    # answers passes at pass=0.3), two regular products (draws of 1.0), then checks only (0.0), all of them
    # wrong: removed after the first, whose two attributes make 1 of 5.
    draws.script(1.0, 1.0, then=0.0)
    sam = bot.user(104, "Sam")
    await begin(bot, sam)
    seen = []
    while not any("You were removed" in text for text in sam.texts):
        seen.append(product(sam))
        await spam(bot, sam)
        if len(seen) == 2:
            assert "Qualified for “Tags”: 1 of 3 answers right" in sam.last.body
    assert seen == ["g1", "g2", "p1", "p2", "g3"]
    removal = next(text for text in sam.texts if "You were removed" in text)
    assert "You were removed from “Tags”" in removal and "at best 62%; this batch needs 70%" in removal
    chose = "you chose Color: black; Material: steel; Brand: aaa; right:"
    assert f"Gold g2: {chose} Material: wood; Brand: acme" in removal
    assert f"Gold g3: {chose} Color: white; Material: plastic" in removal
    assert "3 answers since your last correct check were rejected" in removal, "p1, p2 and g3"
    await send(bot, sam, "/work")
    assert "No tasks right now" in sam.last.body, "the batch is closed to them"

    # Three careful workers: the quiz and the checks on the gold products in order, then the work.
    for worker_id, work in WORK.items():
        worker = bot.user(worker_id, f"W{worker_id}")
        await begin(bot, worker)
        for n in range(len(GOLD) + len(work)):
            item = product(worker)
            await tag(bot, worker, *(GOLD_ANSWERS.get(item) or work[item]))
            if n == 1:
                assert "Qualified for “Tags”: 3 of 3 answers right" in worker.last.body, (
                    "the typed brand counted as ACME"
                )
        assert "No tasks right now" in worker.last.body
        async with bot.services.db.read() as session:
            query = select(Assignment.gold_graded, Assignment.gold_right).where(Assignment.worker_id == worker_id)
            graded = [(count, right) for count, right in await session.execute(query) if count]
            assert len(graded) == len(GOLD) and all(right == count for count, right in graded)

    await bot.run_job("complete-batches")
    await bot.settle()
    assert "is complete" in shop.texts[-3]
    labels_file, answers_file = shop.messages[-2], shop.messages[-1]
    table = list(csv.DictReader(io.StringIO(labels_file.document_bytes.decode())))
    columns = ["item_id", "title"]
    for question in QUESTIONS:
        columns += [question, f"{question}_confidence", f"{question}_agreement"]
    assert list(table[0]) == [*columns, "answers"]
    found = {row["item_id"]: row for row in table}
    for question in QUESTIONS:
        gold = {item: typed_label(labels[question]) for item, labels in GOLD.items() if question in labels}
        expected = aggregation.aggregate(crowd(question), "auto", gold)
        for item, wanted in EXPECTED.items():
            value, agreement = wanted[question]
            cells = tuple(
                found[item][column] for column in (question, f"{question}_agreement", f"{question}_confidence")
            )
            assert cells == (value, f"{agreement:.4f}", f"{expected[item].confidence:.4f}"), (item, question)
    assert [found[item]["answers"] for item in EXPECTED] == ["3", "3", "3"], "the removed worker's answers left out"
    raw = list(csv.DictReader(io.StringIO(answers_file.document_bytes.decode())))
    assert list(raw[0]) == ["item_id", "worker", *QUESTIONS, *RAW_TAIL]
    assert {(row["item_id"], row["brand"], row["accepted"]) for row in raw if row["worker"] == "worker 1"} == {
        ("g1", SPAM[2], "yes"),
        ("g2", SPAM[2], "yes"),
        *((item, SPAM[2], "no") for item in ("p1", "p2", "g3")),
    }
    assert sorted(row["brand"] for row in raw if row["item_id"] == "p1") == ["aaa", "acme", "acme", "acme"]

    # `crowdshelf aggregate --question` reads one question's column of the answers file as the bot sent it.
    sent, out = tmp_path / answers_file.document["file_name"], tmp_path / "brands.csv"
    sent.write_bytes(answers_file.document_bytes)
    command = ["aggregate", str(sent), "--question", "brand", "--method", "mv", "--out", str(out)]
    assert await asyncio.to_thread(cli.main, command) == 0
    brands = {row["item"]: (row["label"], row["answers"]) for row in csv.DictReader(io.StringIO(out.read_text()))}
    assert [brands[item] for item in EXPECTED] == [("acme", "3"), ("ikea", "3"), ("bosch", "3")]
    async with bot.services.db.read() as session:
        assert await books.inconsistencies(session) == []
        assert (await ledger.worker_balance(session, 104)).pending == 2 * 20_000, "only the quiz stays paid"


async def test_typed_words_late_presses_and_a_typed_value_too_long(bot: RunningBot) -> None:
    """Words typed while a button question is open point to the buttons; a replayed press of a question
    already answered changes nothing; a typed value too long to be one is refused and the card stays."""
    shop = bot.user(SHOP, "Shop")
    caption = CAPTION.replace("qualification=2", "qualification=0")
    await upload(bot, shop, csv_file([row for row in rows() if not row["item_id"].startswith("g")]), "c.csv", caption)
    await fund(bot, "5")
    await tap(bot, shop, "🚀 Launch")
    ann = bot.user(101, "Ann")
    await begin(bot, ann)
    card = ann.last
    black = data_of(ann, "black")
    await send(bot, ann, "black")
    assert ann.last.body == "This question is answered with the buttons under the product."
    await press(bot, ann, "black")
    await send(bot, ann, "/work")  # the open card again, where the worker left it
    assert ann.last.message_id != card.message_id and "✔ Color: black" in ann.last.body
    assert "Choose the material: (2 of 3)" in ann.last.body
    first, card = card, ann.last
    query = await ann.press_data(black, first.message_id)  # the first card's color, pressed again
    await bot.settle()
    assert ann.callback_answer(query["id"])["text"] == "✔ Already recorded."
    assert "Choose the material:" in ann.message(card.message_id).body, "the card waits for the material"
    await press(bot, ann, "wood")
    await send(bot, ann, "x" * 201)
    assert ann.last.body == "That was not taken as the answer: type the value alone, in a few words."
    assert "Type the brand. (3 of 3)" in ann.message(card.message_id).body, "the card still waits for the brand"
    await send(bot, ann, "  ＡＣＭＥ ")
    assert "Chair 2" in ann.last.body and "✔ +$0.02" in ann.last.body
    async with bot.services.db.read() as session:
        first = await session.scalar(select(Assignment.answer).order_by(Assignment.id).limit(1))
    assert first == {"color": "black", "material": "wood", "brand": "acme"}
