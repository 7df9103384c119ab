"""image_match: reading rows, the one question, grading and its label space."""

import pytest

from bot.tasks import registry
from bot.tasks.base import Grade, LabelSpace, QuestionKind, RowReading, TaskContext
from bot.tasks.image_match import MATCH, TYPE
from taxonomy import load_default
from tests.words import said

PHOTO = "https://example.com/skillet.jpg"


def context() -> TaskContext:
    tree = load_default()
    return TaskContext(TYPE.configure({}, tree), tree, None, True)


def read(**values: str) -> RowReading:
    return TYPE.read_row(values, context())


def test_is_registered_under_its_name() -> None:
    assert registry.TYPES["image_match"] is TYPE
    assert registry.get("image_match") is TYPE


def test_needs_a_photo_and_no_settings() -> None:
    assert TYPE.needs_photo is True
    assert TYPE.settings == ()
    assert TYPE.configure({}, load_default()) == {}


def test_columns() -> None:
    assert TYPE.columns(context()) == ("gold_answer",)


def test_the_one_question_is_match() -> None:
    assert (MATCH.key, MATCH.kind, MATCH.options) == ("match", QuestionKind.CHOICE, ("yes", "no", "no_image"))
    assert TYPE.questions(context()) == (MATCH,)


def test_a_row_with_a_photo_and_no_gold_is_an_ordinary_item() -> None:
    assert read(image_url=PHOTO) == RowReading()
    assert read(image_url=PHOTO, gold_answer="") == RowReading()


@pytest.mark.parametrize(
    ("value", "label"),
    [
        ("yes", "yes"),
        ("YES", "yes"),
        ("no", "no"),
        ("no_image", "no_image"),
        ("no image", "no_image"),
        ("No-Image", "no_image"),
        ("NO_IMAGE", "no_image"),
    ],
)
def test_gold_answer(value: str, label: str) -> None:
    assert read(image_url=PHOTO, gold_answer=value) == RowReading(gold={"match": label})


@pytest.mark.parametrize("value", ["maybe", "image", "noimage", "no photo"])
def test_gold_answer_must_be_yes_no_or_no_image(value: str) -> None:
    assert said(read(image_url=PHOTO, gold_answer=value).problems) == (
        f"gold_answer {value!r} is not yes, no or no_image",
    )


def test_a_row_without_a_photo_is_refused() -> None:
    assert said(read(title="Skillet").problems) == ("image_url is empty: image_match needs a photo",)
    assert said(read(image_url="", gold_answer="yes").problems) == ("image_url is empty: image_match needs a photo",)


def test_every_problem_of_a_row_is_reported() -> None:
    reading = read(image_url="", gold_answer="sure")
    assert said(reading.problems) == (
        "image_url is empty: image_match needs a photo",
        "gold_answer 'sure' is not yes, no or no_image",
    )
    assert reading.gold is None


def test_next_question_asks_match_once() -> None:
    ctx = context()
    assert TYPE.next_question({}, {}, ctx) is MATCH
    for label in MATCH.options:
        assert TYPE.next_question({}, {"match": label}, ctx) is None


def test_accept_takes_the_options_only() -> None:
    ctx = context()
    assert [TYPE.accept(MATCH, value, ctx) for value in MATCH.options] == ["yes", "no", "no_image"]
    assert [TYPE.accept(MATCH, value, ctx) for value in ("Yes", "no image", "", "5181")] == [None] * 4


def test_grade_by_exact_match() -> None:
    ctx = context()
    assert TYPE.grade(MATCH, "no_image", "no_image", ctx) == Grade(True)
    assert TYPE.grade(MATCH, "yes", "no", ctx) == Grade(False)
    assert TYPE.grade(MATCH, "no_image", "no", ctx) == Grade(False)


def test_label_space_has_three_labels_and_no_families() -> None:
    assert TYPE.label_space(MATCH, context()) == LabelSpace(3, None)


def test_describe_keeps_the_label() -> None:
    ctx = context()
    assert [TYPE.describe(MATCH, label, ctx) for label in MATCH.options] == ["yes", "no", "no_image"]


def test_card_has_no_facts() -> None:
    assert TYPE.card_facts({}, context()) == {}
