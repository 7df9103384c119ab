"""The image_quality type: built-in and custom yes/no questions on the photo, gold per question, and
"photo does not load" answering the whole item."""

from typing import Any

import pytest

from bot.errors import InvalidInput, Refusal
from bot.tasks import image_quality, registry
from bot.tasks.base import Grade, LabelSpace, Question, QuestionKind, RowReading, TaskContext
from bot.tasks.image_quality import NO_IMAGE, OPTIONS, TYPE
from taxonomy import Tree, load_default
from tests.words import said

PHOTO = "https://example.com/mug.jpg"
NO_PHOTO = "image_url is empty: image_quality needs a photo"


@pytest.fixture(scope="module")
def tree() -> Tree:
    return load_default()


def configure(tree: Tree, text: str) -> dict[str, Any]:
    return TYPE.configure({"questions": text}, tree)


def problems_of(tree: Tree, text: str) -> list[str]:
    with pytest.raises(InvalidInput) as refused:
        configure(tree, text)
    assert refused.value.code == Refusal.BATCH_SETTINGS_INVALID
    return list(said(refused.value.problems))


def context(tree: Tree, text: str | None = None) -> TaskContext:
    config = TYPE.configure({} if text is None else {"questions": text}, tree)
    return TaskContext(config, tree, root_id=None, leaf_only=True)


def keys(ctx: TaskContext) -> list[str]:
    return [question.key for question in TYPE.questions(ctx)]


@pytest.mark.parametrize("settings", [{}, {"questions": ""}, {"questions": " , "}])
def test_default_questions(tree: Tree, settings: dict[str, str]) -> None:
    assert TYPE.configure(settings, tree) == {
        "questions": [
            {"key": "blurry", "prompt": ""},
            {"key": "person", "prompt": ""},
            {"key": "white_background", "prompt": ""},
        ]
    }


def test_built_in_and_custom_questions(tree: Tree) -> None:
    assert configure(tree, " watermark, logo : Is there a logo? ,dark") == {
        "questions": [
            {"key": "watermark", "prompt": ""},
            {"key": "logo", "prompt": "Is there a logo?"},
            {"key": "dark", "prompt": ""},
        ]
    }


def test_every_built_in_question_is_known(tree: Tree) -> None:
    assert keys(context(tree, ",".join(image_quality.BUILT_IN))) == list(image_quality.BUILT_IN)


def test_an_unknown_bare_key_is_named_with_the_built_in_ones(tree: Tree) -> None:
    (problem,) = problems_of(tree, "blurry,logo")
    assert problem.startswith("questions: 'logo' is not a built-in question")
    assert all(key in problem for key in image_quality.BUILT_IN)
    assert "key:Question text?" in problem


def test_built_in_keys_are_written_as_they_are(tree: Tree) -> None:
    (problem,) = problems_of(tree, "Blurry")
    assert "'Blurry' is not a built-in question" in problem


@pytest.mark.parametrize("key", ["Logo", "1logo", "lo-go", "a" * 33, ""])
def test_a_custom_key_follows_the_key_rule(tree: Tree, key: str) -> None:
    (problem,) = problems_of(tree, f"{key}:Is there a logo?")
    assert repr(key) in problem and "lower-case" in problem


def test_a_custom_question_needs_its_text(tree: Tree) -> None:
    assert problems_of(tree, "logo:  ") == ["questions: 'logo' has no question; write logo:Question text?"]


def test_a_custom_question_is_at_most_200_characters(tree: Tree) -> None:
    longest = "Is " + "x" * 196 + "?"
    assert configure(tree, f"logo:{longest}")["questions"][0]["prompt"] == longest
    assert problems_of(tree, f"logo:{longest}x") == ["questions: the question of 'logo' is longer than 200 characters"]


def test_at_most_10_questions(tree: Tree) -> None:
    ten = ",".join(f"q{n}:Question {n}?" for n in range(10))
    assert len(configure(tree, ten)["questions"]) == 10
    assert problems_of(tree, ten + ",dark") == ["questions: at most 10 questions, not 11"]


def test_keys_are_unique(tree: Tree) -> None:
    assert problems_of(tree, "blurry,person,blurry:Is it blurry?") == [
        "questions: the key 'blurry' is given more than once"
    ]


def test_questions_offer_yes_no_and_no_image(tree: Tree) -> None:
    assert TYPE.questions(context(tree, "blurry,logo:Is there a logo?")) == (
        Question("blurry", QuestionKind.CHOICE, ("yes", "no", "no_image")),
        Question("logo", QuestionKind.CHOICE, ("yes", "no", "no_image"), "Is there a logo?"),
    )


def test_columns_are_the_gold_of_each_question(tree: Tree) -> None:
    assert TYPE.columns(context(tree)) == ("gold_blurry", "gold_person", "gold_white_background")


def test_a_row_needs_a_photo(tree: Tree) -> None:
    assert TYPE.read_row({"title": "Mug", "image_url": PHOTO}, context(tree)) == RowReading()
    assert said(TYPE.read_row({"title": "Mug", "image_url": ""}, context(tree)).problems) == (NO_PHOTO,)
    assert said(TYPE.read_row({"title": "Mug"}, context(tree)).problems) == (NO_PHOTO,)


def test_gold_reads_yes_and_no_and_holds_the_given_questions(tree: Tree) -> None:
    row = {"image_url": PHOTO, "gold_blurry": "Yes", "gold_person": "0", "gold_white_background": ""}
    assert TYPE.read_row(row, context(tree)) == RowReading(gold={"blurry": "yes", "person": "no"})


def test_bad_gold_values_are_problems(tree: Tree) -> None:
    row = {"image_url": "", "gold_blurry": "maybe", "gold_person": "yes"}
    assert said(TYPE.read_row(row, context(tree)).problems) == (
        NO_PHOTO,
        "gold_blurry 'maybe' is not yes, no or no_image",
    )


@pytest.mark.parametrize(
    "given", [{"gold_blurry": "no_image"}, {"gold_person": " NO_IMAGE", "gold_blurry": "no_image"}]
)
def test_a_no_image_gold_is_the_first_questions(tree: Tree, given: dict[str, str]) -> None:
    """A worker who sees no photo says so at the first question, which ends the item."""
    assert TYPE.read_row({"image_url": PHOTO, **given}, context(tree)) == RowReading(gold={"blurry": NO_IMAGE})
    only_later = {"image_url": PHOTO, "gold_white_background": "no_image"}
    assert TYPE.read_row(only_later, context(tree)).gold == {"blurry": NO_IMAGE}


def test_no_image_is_not_mixed_with_yes_or_no(tree: Tree) -> None:
    (problem,) = said(
        TYPE.read_row({"image_url": PHOTO, "gold_blurry": "no_image", "gold_person": "yes"}, context(tree)).problems
    )
    assert "give no_image alone" in problem


def test_next_question_goes_in_order(tree: Tree) -> None:
    ctx = context(tree)
    asked = []
    answers: dict[str, str] = {}
    while (question := TYPE.next_question({}, answers, ctx)) is not None:
        asked.append(question.key)
        answers[question.key] = "yes" if len(asked) % 2 else "no"
    assert asked == ["blurry", "person", "white_background"]


@pytest.mark.parametrize("answers", [{"blurry": NO_IMAGE}, {"blurry": "yes", "person": NO_IMAGE}])
def test_no_image_ends_the_item(tree: Tree, answers: dict[str, str]) -> None:
    assert TYPE.next_question({}, answers, context(tree)) is None


def blurry(tree: Tree) -> Question:
    return TYPE.questions(context(tree))[0]


@pytest.mark.parametrize("label", ["yes", "no", "no_image"])
def test_an_option_is_an_answer(tree: Tree, label: str) -> None:
    assert TYPE.accept(blurry(tree), label, context(tree)) == label


@pytest.mark.parametrize("value", ["0", "Yes", "maybe", "", " no"])
def test_anything_but_an_option_is_no_answer(tree: Tree, value: str) -> None:
    assert TYPE.accept(blurry(tree), value, context(tree)) is None


def test_grade_is_exact(tree: Tree) -> None:
    ctx = context(tree)
    assert TYPE.grade(blurry(tree), "yes", "yes", ctx) == Grade(True)
    assert TYPE.grade(blurry(tree), "no", "yes", ctx) == Grade(False)
    assert TYPE.grade(blurry(tree), "no_image", "no", ctx) == Grade(False)


def test_label_space_describe_and_card(tree: Tree) -> None:
    ctx = context(tree)
    assert TYPE.label_space(blurry(tree), ctx) == LabelSpace(3, None)
    assert TYPE.describe(blurry(tree), "no_image", ctx) == "no_image"
    assert TYPE.card_facts({}, ctx) == {}


def test_registered(tree: Tree) -> None:
    assert registry.get("image_quality") is TYPE
    assert TYPE.settings == ("questions",)
    assert TYPE.needs_photo is True
    assert OPTIONS == ("yes", "no", "no_image")
