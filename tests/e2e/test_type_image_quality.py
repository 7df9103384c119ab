"""The image_quality type through the bot: a photo card with yes/no questions answered one tap each on
the same card (built-in ones and the requester's own), "⚠ Photo does not load" ending the product in
one tap, a worker who always says yes removed by quality control, and results per question."""

import csv
import io
import re

import pytest
from sqlalchemy import select

from bot.aggregation import methods as aggregation
from bot.batches.results import RAW_TAIL
from bot.money import ledger
from sandbox.telegram_server import FakeUser
from storage import ledger as books
from storage.models import Assignment
from tests.conftest import ScriptedRandom
from tests.e2e.conftest import RunningBot, StartBot
from tests.e2e.test_requester import ADMIN, SHOP, csv_file, fund, tap, upload
from tests.e2e.test_worker import begin, press, send

CAPTION = (
    'type=image_quality questions="blurry,person,logo:Is there a logo?" reward=0.02 overlap=3 qualification=2 '
    'pass=0.5 min_gold=3 gold_rate=0.5 name="Photos"'
)
QUESTIONS = ("blurry", "person", "logo")
PROMPTS = ("Is the photo blurry?", "Is there a person in the photo?", "Is there a logo?")
YES, NO, NO_IMAGE = "✔ Yes", "✖ No", "⚠ Photo does not load"
LABELS = {YES: "yes", NO: "no", NO_IMAGE: "no_image"}  # what the results file says for each button
GOLD = {
    "g1": {"blurry": "yes"},  # quiz 1: what the always-yes worker says, so they pass the quiz
    "g2": {"person": "no"},  # quiz 2
    "g3": {"logo": "no"},  # then the checks
    "g4": {"blurry": "no_image"},  # the photo does not load: one tap answers it
    "g5": {"blurry": "no", "person": "no", "logo": "yes"},
}
# The careful workers' taps: a button per question, or the one "does not load" tap.
GOLD_TAPS = {
    "g1": (YES, NO, NO),
    "g2": (NO, NO, YES),
    "g3": (NO, YES, NO),
    "g4": (NO_IMAGE,),
    "g5": (NO, NO, YES),
}
WORK = {
    101: {"p1": (NO, YES, NO), "p2": (YES, NO, NO), "p3": (NO_IMAGE,)},
    102: {"p1": (NO, YES, YES), "p2": (YES, NO, NO), "p3": (NO_IMAGE,)},
    103: {"p1": (NO, NO, NO), "p2": (NO_IMAGE,), "p3": (NO_IMAGE,)},
}
# (label, agreement) per product and question; None: nobody could answer it (the photo did not load).
EXPECTED = {
    "p1": {"blurry": ("no", 1.0), "person": ("yes", 2 / 3), "logo": ("no", 2 / 3)},
    "p2": {"blurry": ("yes", 2 / 3), "person": ("no", 1.0), "logo": ("no", 1.0)},
    "p3": {"blurry": ("no_image", 1.0), "person": None, "logo": None},
}


@pytest.fixture
async def bot(start_bot: StartBot) -> RunningBot:
    return await start_bot(admin_ids=str(ADMIN), requester_ids=str(SHOP))


def rows() -> list[dict[str, str]]:
    gold = [
        {
            "item_id": key,
            "title": f"Gold {key}",
            "image_url": f"https://img.example.com/{key}.jpg",
            **{f"gold_{q}": labels.get(q, "") for q in QUESTIONS},
        }
        for key, labels in GOLD.items()
    ]
    regular = [
        {
            "item_id": f"p{n}",
            "title": f"Photo {n}",
            "image_url": f"https://img.example.com/p{n}.jpg",
            **{f"gold_{q}": "" for q in QUESTIONS},
        }
        for n in (1, 2, 3)
    ]
    return gold + regular


def product(user: FakeUser) -> str:
    """The item_id of the product on the user's card."""
    found = re.search(r"🛒 (?:Gold (g\d)|Photo (\d))", user.last.body)
    assert found is not None, user.last.body
    return found[1] or f"p{found[2]}"


async def look(bot: RunningBot, user: FakeUser, *taps: str) -> None:
    """Answer the photo card's questions one tap each, on the same card."""
    card = user.last
    assert card.photo, "the product's photo is the card"
    for n, label in enumerate(taps):
        assert f"❓ {PROMPTS[n]} ({n + 1} of 3)" in user.last.body
        assert user.buttons()[0] == [YES, NO, NO_IMAGE]
        await press(bot, user, label)
        if n + 1 < len(taps):
            assert user.last.message_id == card.message_id, "the next question comes on the same card"
            assert f"✔ {QUESTIONS[n].capitalize()}: {label}" in user.last.body


def crowd(question: str) -> list[aggregation.Answer]:
    """The answers the results aggregate, as the workers tapped them: the careful workers' all, and the
    always-yes worker's quiz (paid training, never rejected); a question after "does not load" has none."""
    taps = [(104, item, (YES,) * 3) for item in ("g1", "g2")]
    taps += [(worker, item, answers) for worker in WORK for item, answers in GOLD_TAPS.items()]
    taps += [(worker, item, answers) for worker, work in WORK.items() for item, answers in work.items()]
    place = QUESTIONS.index(question)
    return [
        aggregation.Answer(item, str(worker), LABELS[answers[place]])
        for worker, item, answers in taps
        if place < len(answers)
    ]


async def test_image_quality_end_to_end(bot: RunningBot, draws: ScriptedRandom) -> None:
    shop = bot.user(SHOP, "Shop")
    said = await upload(bot, shop, csv_file(rows()), "photos.csv", CAPTION)
    preview = shop.messages[-2]
    assert "Preview of batch #1 “Photos”" in said and "Gold g1" in preview.body
    assert preview.photo and "❓ Is the photo blurry? (1 of 3)" in preview.body
    assert preview.buttons[0] == [YES, NO, NO_IMAGE]
    await fund(bot, "5")
    assert "is live" in await tap(bot, shop, "🚀 Launch")

    # The always-yes worker: the quiz (g1 right, g2 wrong: 1 of 2 passes at pass=0.5), two regular
    # products (draws of 1.0), then checks (0.0), all wrong: removed.
    draws.script(1.0, 1.0, then=0.0)
    sam = bot.user(104, "Sam")
    await begin(bot, sam)
    seen = []
    while not any("You were removed" in text for text in sam.texts):
        seen.append(product(sam))
        for _ in QUESTIONS:
            await press(bot, sam, YES)
        if len(seen) == 2:
            assert "Qualified for “Photos”: 1 of 2 right" in sam.last.body
    assert seen == ["g1", "g2", "p1", "p2", "g3", "g4"]
    removal = next(text for text in sam.texts if "You were removed" in text)
    assert "You were removed from “Photos”" in removal and "at best 69%; this batch needs 70%" in removal
    chose = "you chose Blurry: ✔ Yes; Person: ✔ Yes; Is there a logo?: ✔ Yes; right:"
    assert f"Gold g2: {chose} Person: ✖ No" in removal
    assert f"Gold g3: {chose} Is there a logo?: ✖ No" in removal
    assert f"Gold g4: {chose} Blurry: ⚠ Photo does not load" in removal
    assert "4 answers since your last correct check were rejected" in removal
    await send(bot, sam, "/work")
    assert "No tasks right now" in sam.last.body

    for worker_id, work in WORK.items():
        worker = bot.user(worker_id, f"W{worker_id}")
        await begin(bot, worker)
        for _ in range(len(GOLD) + len(work)):
            item = product(worker)
            taps = GOLD_TAPS.get(item) or work[item]
            card = worker.last.message_id
            await look(bot, worker, *taps)
            if taps == (NO_IMAGE,):
                assert worker.last.message_id == card and item not in worker.last.body, "one tap, next product"
        assert "No tasks right now" in worker.last.body
        async with bot.services.db.read() as session:
            query = select(Assignment.gold_graded, Assignment.gold_right).where(Assignment.worker_id == worker_id)
            graded = [(count, right) for count, right in await session.execute(query) if count]
            assert len(graded) == len(GOLD) and all(right == count for count, right in graded)

    await bot.run_job("complete-batches")
    await bot.settle()
    assert "is complete" in shop.texts[-3]
    table = list(csv.DictReader(io.StringIO(shop.messages[-2].document_bytes.decode())))
    columns = ["item_id", "title"]
    for question in QUESTIONS:
        columns += [question, f"{question}_confidence", f"{question}_agreement"]
    assert list(table[0]) == [*columns, "answers"]
    found = {row["item_id"]: row for row in table}
    for question in QUESTIONS:
        gold = {item: labels[question] for item, labels in GOLD.items() if question in labels}
        expected = aggregation.aggregate(crowd(question), "auto", gold)
        for item, wanted in EXPECTED.items():
            cells = tuple(
                found[item][column] for column in (question, f"{question}_agreement", f"{question}_confidence")
            )
            if wanted[question] is None:
                assert cells == ("", "", ""), (item, question)
                continue
            value, agreement = wanted[question]
            assert cells == (value, f"{agreement:.4f}", f"{expected[item].confidence:.4f}"), (item, question)
    assert [found[item]["answers"] for item in EXPECTED] == ["3", "3", "3"], "the removed worker's answers left out"
    raw = list(csv.DictReader(io.StringIO(shop.messages[-1].document_bytes.decode())))
    assert list(raw[0]) == ["item_id", "worker", *QUESTIONS, *RAW_TAIL]
    no_photo = [row for row in raw if row["item_id"] == "p3"]
    assert [(row["blurry"], row["person"], row["logo"]) for row in no_photo] == [("no_image", "", "")] * 3
    assert {(row["item_id"], row["accepted"]) for row in raw if row["worker"] == "worker 1"} == {
        ("g1", "yes"),
        ("g2", "yes"),
        *((item, "no") for item in ("p1", "p2", "g3", "g4")),
    }
    async with bot.services.db.read() as session:
        assert await books.inconsistencies(session) == []
        assert (await ledger.worker_balance(session, 104)).pending == 2 * 20_000, "only the quiz stays paid"


async def test_a_photo_telegram_cannot_fetch_is_linked_and_answered_in_one_tap(bot: RunningBot) -> None:
    shop = bot.user(SHOP, "Shop")
    caption = CAPTION.replace("qualification=2", "qualification=0")
    await upload(bot, shop, csv_file([row for row in rows() if row["item_id"] == "p1"]), "one.csv", caption)
    await fund(bot, "1")
    await tap(bot, shop, "🚀 Launch")
    ann = bot.user(101, "Ann")
    await send(bot, ann, "/start")
    bot.telegram.fail_next("sendPhoto", "Bad Request: wrong type of the web page content", 400)
    await press(bot, ann, "▶ Start working")
    card = ann.last
    assert not card.photo and "🖼 Photo: https://img.example.com/p1.jpg" in card.body
    assert "❓ Is the photo blurry? (1 of 3)" in card.body and card.buttons[0] == [YES, NO, NO_IMAGE]
    await press(bot, ann, NO_IMAGE)
    assert ann.message(card.message_id).body.endswith(
        "No tasks right now. Everything available is done; try /work again later."
    )
    async with bot.services.db.read() as session:
        assert await session.scalar(select(Assignment.answer)) == {"blurry": "no_image"}
