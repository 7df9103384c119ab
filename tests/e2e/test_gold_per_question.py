"""Gold graded per question through the bot: on an image_quality batch whose gold items have three
questions each, a worker who gets one question of three wrong on a quiz item is told which, counted 2 of
3 rather than wrong, and passes a two-item quiz at pass=0.8 with 5 of 6 (graded all or nothing, 1 of 2
items would have failed them); a check after it counts the same way in /stats and in the results."""

import csv
import io

import pytest
from sqlalchemy import select

from storage.models import Assignment, User
from tests.conftest import ScriptedRandom
from tests.e2e.conftest import RunningBot, StartBot
from tests.e2e.test_requester import ADMIN, SHOP, csv_file, fund, tap, upload
from tests.e2e.test_type_image_quality import NO, YES, product
from tests.e2e.test_worker import begin, press, send

CAPTION = 'type=image_quality reward=0.02 overlap=1 qualification=2 pass=0.8 gold_rate=0.5 min_gold=3 name="Photos"'
QUESTIONS = ("blurry", "person", "white_background")
GOLD = {
    "g1": ("no", "no", "yes"),
    "g2": ("yes", "no", "no"),
    "g3": ("no", "yes", "yes"),
}
# Ann's taps: person wrong on g1 (the quiz), all right on g2, white background wrong on g3 (a check).
TAPS = {"g1": (NO, YES, YES), "g2": (YES, NO, NO), "g3": (NO, YES, NO)}


@pytest.fixture
async def bot(start_bot: StartBot) -> RunningBot:
    return await start_bot(admin_ids=str(ADMIN), requester_ids=str(SHOP))


def rows() -> list[dict[str, str]]:
    def row(key: str, title: str, gold: tuple[str, ...]) -> dict[str, str]:
        labels = {f"gold_{question}": label for question, label in zip(QUESTIONS, gold, strict=True)}
        return {"item_id": key, "title": title, "image_url": f"https://img.example.com/{key}.jpg", **labels}

    return [row(key, f"Gold {key}", gold) for key, gold in GOLD.items()] + [
        row(f"p{n}", f"Photo {n}", ("", "", "")) for n in (1, 2)
    ]


async def test_one_wrong_question_of_three_counts_two_of_three(bot: RunningBot, draws: ScriptedRandom) -> None:
    shop = bot.user(SHOP, "Shop")
    await upload(bot, shop, csv_file(rows()), "photos.csv", CAPTION)
    await fund(bot, "5")
    assert "is live" in await tap(bot, shop, "🚀 Launch")

    draws.script(then=0.0)  # after the quiz, a check whenever there is gold left
    ann = bot.user(101, "Ann")
    await begin(bot, ann)
    assert product(ann) == "g1"
    assert "Qualification 1 of 2" in ann.last.body and "(paid; pass with 5 of 6 answers right)" in ann.last.body
    for label in TAPS["g1"]:
        await press(bot, ann, label)
    missed = next(message for message in reversed(ann.messages) if "Not quite" in message.body)
    assert "✘ Not quite: 2 of 3 right: the right answer is Person: ✖ No." in missed.body
    assert ["⚖ I think this gold is wrong"] in missed.buttons, "a partly wrong item may be contested"
    assert product(ann) == "g2"
    assert "✘ 2 of 3 right: the right answer is Person: ✖ No · 2 of 3 right so far" in ann.last.body
    assert "Qualification 2 of 2" in ann.last.body and "pass with 5 of 6 answers right" in ann.last.body

    for label in TAPS["g2"]:
        await press(bot, ann, label)
    assert "✔ Correct\n🎓 Qualified for “Photos”: 5 of 6 answers right. Paid work follows." in ann.last.body
    assert product(ann) == "g3", "the check: its three questions look like any product's"
    for label in TAPS["g3"]:
        await press(bot, ann, label)
    assert product(ann).startswith("p"), "a check says nothing: paid work follows"

    await send(bot, ann, "/stats")
    assert "Accuracy on hidden checks: 78% on 9 checks" in ann.last.body, "7 of 9 gold answers, quiz included"
    assert "✅ #1 “Photos”: working · checks 2 of 3 right" in ann.last.body
    async with bot.services.db.read() as session:
        graded = await session.execute(
            select(Assignment.gold_graded, Assignment.gold_right)
            .where(Assignment.worker_id == 101, Assignment.gold_graded > 0)
            .order_by(Assignment.id)
        )
        assert [tuple(row) for row in graded] == [(3, 2), (3, 3), (3, 2)]
        user = await session.get_one(User, 101)
        assert (user.gold_answers, user.gold_correct) == (9, 7)

    await send(bot, shop, "/results 1")
    raw = next(
        message for message in reversed(shop.messages) if message.document_bytes and b"worker" in message.document_bytes
    )
    table = {row["item_id"]: row for row in csv.DictReader(io.StringIO(raw.document_bytes.decode()))}
    assert [table[item]["gold"] for item in ("g1", "g2", "g3")] == ["2 of 3", "correct", "2 of 3"]
    assert table["g1"]["worker_gold_accuracy"] == "0.78 of 9"
