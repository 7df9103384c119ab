"""The task-type seam holds: a type the product does not have, written here in a few lines and put in the
registry for one test, runs through the bot end to end (upload, preview, quiz, answers, results) with
nothing else taught about it."""

import csv
import io
from collections.abc import Mapping
from typing import Any

import pytest

from bot.errors import InvalidInput, Problem, ProblemCode, Refusal
from bot.tasks import registry
from bot.tasks.base import Grade, LabelSpace, Question, QuestionKind, RowReading, TaskContext
from handlers import messages
from taxonomy import Tree
from tests.e2e.conftest import RunningBot, StartBot
from tests.e2e.test_requester import ADMIN, SHOP, csv_file, fund, tap, upload
from tests.e2e.test_worker import begin, press, send


class RatingProblem(ProblemCode):
    SCALE = "rating_scale"  # {scale}
    STARS = "rating_stars"  # {value, scale}


WORDS = {
    RatingProblem.SCALE: "scale {scale!r} is not 3, 4 or 5",
    RatingProblem.STARS: "gold_stars {value!r} is not 1 to {scale}",
}


class Rating:
    """How good the product looks, one to five stars (`scale=` in the caption: up to that many); gold is
    the file's gold_stars."""

    name = "rating"
    settings: tuple[str, ...] = ("scale",)
    needs_photo = False

    def columns(self, context: TaskContext) -> tuple[str, ...]:
        return ("gold_stars",)

    def configure(self, settings: Mapping[str, str], tree: Tree) -> dict[str, Any]:
        scale = settings.get("scale", "5")
        if scale not in ("3", "4", "5"):
            raise InvalidInput(Refusal.BATCH_SETTINGS_INVALID, [Problem.of(RatingProblem.SCALE, scale=scale)])
        return {"scale": int(scale)}

    def read_row(self, values: Mapping[str, str], context: TaskContext) -> RowReading:
        value = values.get("gold_stars", "")
        if not value:
            return RowReading()
        if value not in self.stars(context).options:
            return RowReading(problems=(Problem.of(RatingProblem.STARS, value=value, scale=context.config["scale"]),))
        return RowReading(gold={"stars": value})

    def questions(self, context: TaskContext) -> tuple[Question, ...]:
        return (self.stars(context),)

    def next_question(
        self, payload: Mapping[str, Any], answers: Mapping[str, str], context: TaskContext
    ) -> Question | None:
        return None if "stars" in answers else self.stars(context)

    def accept(self, question: Question, value: str, context: TaskContext) -> str | None:
        return value if value in question.options else None

    def grade(self, question: Question, label: str, gold: str, context: TaskContext) -> Grade:
        return Grade(label == gold)

    def label_space(self, question: Question, context: TaskContext) -> LabelSpace:
        return LabelSpace(len(question.options))

    @staticmethod
    def stars(context: TaskContext) -> Question:
        return Question("stars", QuestionKind.CHOICE, tuple(str(n) for n in range(1, context.config["scale"] + 1)))

    def describe(self, question: Question, label: str, context: TaskContext) -> str:
        return label

    def card_facts(self, payload: Mapping[str, Any], context: TaskContext) -> Mapping[str, str]:
        return {}


@pytest.fixture
async def bot(monkeypatch: pytest.MonkeyPatch, start_bot: StartBot) -> RunningBot:
    # monkeypatch first: torn down last, so the type stays registered until the bot has stopped.
    monkeypatch.setitem(registry.TYPES, Rating.name, Rating())
    for code, words in WORDS.items():  # a type's problems are worded in the text layer's catalogue
        monkeypatch.setitem(messages.PROBLEMS, code, words)
    return await start_bot(admin_ids=str(ADMIN), requester_ids=str(SHOP))


CAPTION = 'type=rating reward=0.02 overlap=3 qualification=1 name="Stars"'
ROWS = [
    {"item_id": "g1", "title": "Gold lamp", "gold_stars": "4"},
    {"item_id": "p1", "title": "Lamp 1", "gold_stars": ""},
    {"item_id": "p2", "title": "Lamp 2", "gold_stars": ""},
]
# Each worker's stars for the quiz (g1, gold 4) and the two products.
STARS_GIVEN = {101: ("4", "5", "2"), 102: ("4", "5", "2"), 103: ("4", "3", "2")}


async def test_a_type_of_the_tests_runs_end_to_end(bot: RunningBot, checks_first: None) -> None:
    shop = bot.user(SHOP, "Shop")
    bad = [*ROWS, {"item_id": "p3", "title": "Lamp 3", "gold_stars": "6"}]
    await upload(bot, shop, csv_file(bad), "lamps.csv", CAPTION)
    assert "Line 5: gold_stars '6' is not 1 to 5" in shop.last.body, "the type reads its own column"
    said = await upload(bot, shop, csv_file(ROWS), "lamps.csv", CAPTION)
    preview = shop.messages[-2]
    assert "Preview of batch #1 “Stars”" in said
    assert preview.body == "🛒 Gold lamp\n\n❓ Choose the stars:\nReward $0.02."
    assert preview.buttons == [["1", "2", "3"], ["4", "5"], ["⏭ Skip", "⏹ Stop"]]
    assert "2 products × 3 answers × $0.02" in shop.last.body
    await fund(bot, "5")
    assert "is live" in await tap(bot, shop, "🚀 Launch")

    for worker_id, (quiz, *work) in STARS_GIVEN.items():
        worker = bot.user(worker_id, f"W{worker_id}")
        await begin(bot, worker)
        assert "Qualification 1 of 1" in worker.last.body and "Gold lamp" in worker.last.body
        await press(bot, worker, quiz)
        assert "Qualified for “Stars”: 1 of 1 right" in worker.last.body and "Lamp 1" in worker.last.body
        for stars in work:
            await press(bot, worker, stars)
        assert "No tasks right now" in worker.last.body
    await send(bot, shop, "/batches")  # progress reads the type's answers too
    assert "6/6 answers" in shop.last.body

    await bot.run_job("complete-batches")
    await bot.settle()
    assert "is complete" in shop.texts[-3]
    table = {row["item_id"]: row for row in csv.DictReader(io.StringIO(shop.messages[-2].document_bytes.decode()))}
    assert list(table["p1"]) == ["item_id", "title", "label_id", "label_path", "confidence", "answers", "agreement"]
    picked = {
        item: (row["label_id"], row["label_path"], row["answers"], row["agreement"]) for item, row in table.items()
    }
    assert picked["p1"] == ("5", "5", "3", "0.6667") and picked["p2"] == ("2", "2", "3", "1.0000")
    raw = list(csv.DictReader(io.StringIO(shop.messages[-1].document_bytes.decode())))
    assert sorted((row["item_id"], row["answer_id"], row["gold"]) for row in raw if row["worker"] == "worker 3") == [
        ("g1", "4", "correct"),
        ("p1", "3", ""),
        ("p2", "2", ""),
    ]


async def test_a_type_of_the_tests_reads_its_own_caption_setting(bot: RunningBot) -> None:
    shop = bot.user(SHOP, "Shop")
    await upload(bot, shop, csv_file(ROWS), "lamps.csv", CAPTION + " scale=7")
    assert "scale '7' is not 3, 4 or 5" in shop.last.body, "the type's configure judged it"
    await upload(bot, shop, csv_file(ROWS), "lamps.csv", CAPTION + " scale=3")
    assert "Line 2: gold_stars '4' is not 1 to 3" in shop.last.body, "the file is read with the type's setting"
    rows = [{**row, "gold_stars": "2" if row["gold_stars"] else ""} for row in ROWS]
    await upload(bot, shop, csv_file(rows), "lamps.csv", CAPTION + " scale=3")
    assert shop.messages[-2].buttons == [["1", "2", "3"], ["⏭ Skip", "⏹ Stop"]]
    await upload(bot, shop, csv_file([{"item_id": "p1", "title": "Pan"}]), "pans.csv", "type=categorize scale=3")
    assert "scale is not a setting of type categorize" in shop.last.body
