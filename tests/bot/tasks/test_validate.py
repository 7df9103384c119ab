"""validate: reading rows and settings, the verdict and the correction, grading and label spaces."""

from collections.abc import Mapping
from typing import Any

import pytest

from bot.errors import InvalidInput, Refusal
from bot.tasks import registry, tree_questions
from bot.tasks.base import Grade, LabelSpace, QuestionKind, RowReading, TaskContext
from bot.tasks.reading import clip
from bot.tasks.validate import CATEGORY, TYPE, VERDICT
from taxonomy import load_default
from tests.words import said

COOKWARE_AND_BAKEWARE = 6070  # the batch root in these tests
COOKWARE = 654  # has subcategories
SKILLETS = 662  # Cookware > Skillets & Frying Pans, a leaf
CAKE_PANS = 643  # Bakeware > Cake Pans & Molds, a leaf
TILT_SKILLETS = 7553  # Business & Industrial > Food Service > Tilt Skillets: outside the root
SKILLETS_PATH = "Home & Garden > Kitchen & Dining > Cookware & Bakeware > Cookware > Skillets & Frying Pans"


def context(correct: bool = False, root_id: int | None = COOKWARE_AND_BAKEWARE, leaf_only: bool = True) -> TaskContext:
    tree = load_default()
    return TaskContext(TYPE.configure({"correct": "true" if correct else "false"}, tree), tree, root_id, leaf_only)


def read(correct: bool = False, leaf_only: bool = True, **values: str) -> RowReading:
    return TYPE.read_row(values, context(correct, leaf_only=leaf_only))


# --- the type's shape ---------------------------------------------------------------------


def test_is_registered_under_its_name() -> None:
    assert registry.TYPES["validate"] is TYPE
    assert registry.get("validate") is TYPE


def test_reads_the_correct_setting_and_needs_no_photo() -> None:
    assert TYPE.settings == ("correct",)
    assert TYPE.needs_photo is False


def test_columns() -> None:
    assert TYPE.columns(context()) == ("proposed_category", "gold_answer", "gold_category")


def test_verdict_is_a_yes_no_choice_and_category_a_tree_question() -> None:
    assert (VERDICT.key, VERDICT.kind, VERDICT.options) == ("verdict", QuestionKind.CHOICE, ("yes", "no"))
    assert (CATEGORY.key, CATEGORY.kind) == ("category", QuestionKind.TREE)


# --- configure ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "correct"),
    [("true", True), ("TRUE", True), ("yes", True), ("1", True), ("false", False), ("No", False), ("0", False)],
)
def test_configure_reads_the_correct_flag(value: str, correct: bool) -> None:
    assert TYPE.configure({"correct": value}, load_default()) == {"correct": correct}


def test_configure_without_correct_does_not_correct() -> None:
    assert TYPE.configure({}, load_default()) == {"correct": False}


@pytest.mark.parametrize("value", ["maybe", "", "2", "y", "on"])
def test_configure_refuses_anything_else(value: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        TYPE.configure({"correct": value}, load_default())
    assert raised.value.code == Refusal.BATCH_SETTINGS_INVALID
    assert said(raised.value.problems) == ("correct must be true or false",)


# --- read_row: the proposed category --------------------------------------------------------


@pytest.mark.parametrize("reference", [str(SKILLETS), SKILLETS_PATH, SKILLETS_PATH.lower()])
def test_proposed_category_by_id_or_path_becomes_the_payload(reference: str) -> None:
    assert read(proposed_category=reference) == RowReading(payload={"proposed": str(SKILLETS)})


def test_proposed_category_may_have_subcategories_in_a_leaf_only_batch() -> None:
    assert read(proposed_category=str(COOKWARE), leaf_only=True) == RowReading(payload={"proposed": str(COOKWARE)})


def test_proposed_category_is_required() -> None:
    assert said(read().problems) == ("proposed_category is empty",)
    assert said(read(proposed_category="", gold_answer="yes").problems) == ("proposed_category is empty",)


def test_proposed_category_must_be_in_the_taxonomy() -> None:
    assert said(read(proposed_category="Kitchen > Nowhere").problems) == (
        "proposed_category 'Kitchen > Nowhere' is not a category of the taxonomy",
    )


def test_proposed_category_must_be_below_the_root() -> None:
    assert said(read(proposed_category=str(TILT_SKILLETS)).problems) == (
        f"proposed_category '{TILT_SKILLETS}' is outside the batch's root category",
    )
    assert said(read(proposed_category=str(COOKWARE_AND_BAKEWARE)).problems) == (
        f"proposed_category '{COOKWARE_AND_BAKEWARE}' is outside the batch's root category",
    )


# --- read_row: gold ---------------------------------------------------------------------------


def test_a_row_without_gold_columns_is_an_ordinary_item() -> None:
    assert read(proposed_category=str(SKILLETS), gold_answer="", gold_category="").gold is None


@pytest.mark.parametrize(("value", "verdict"), [("yes", "yes"), ("Yes", "yes"), ("no", "no"), ("NO", "no")])
def test_gold_answer_is_the_verdict(value: str, verdict: str) -> None:
    for correct in (False, True):
        reading = read(correct, proposed_category=str(SKILLETS), gold_answer=value)
        assert reading == RowReading(payload={"proposed": str(SKILLETS)}, gold={"verdict": verdict})


def test_gold_answer_must_be_yes_or_no() -> None:
    assert said(read(proposed_category=str(SKILLETS), gold_answer="perhaps").problems) == (
        "gold_answer 'perhaps' is not yes or no",
    )


def test_a_long_bad_gold_answer_is_cut_in_the_problem() -> None:
    (problem,) = said(read(proposed_category=str(SKILLETS), gold_answer="x" * 200).problems)
    assert problem.startswith("gold_answer 'xxx") and problem.endswith("…' is not yes or no")
    assert len(problem) < 100


def test_gold_category_equal_to_the_proposed_one_means_yes() -> None:
    for correct in (False, True):
        reading = read(correct, proposed_category=str(SKILLETS), gold_category=SKILLETS_PATH)
        assert reading.gold == {"verdict": "yes"}


def test_another_gold_category_means_no() -> None:
    reading = read(False, proposed_category=str(SKILLETS), gold_category=str(CAKE_PANS))
    assert reading.gold == {"verdict": "no"}


def test_another_gold_category_is_also_the_category_gold_when_correcting() -> None:
    reading = read(True, proposed_category=str(SKILLETS), gold_category=str(CAKE_PANS))
    assert reading.gold == {"verdict": "no", "category": str(CAKE_PANS)}


def test_gold_answer_and_gold_category_that_agree() -> None:
    yes = read(True, proposed_category=str(SKILLETS), gold_answer="yes", gold_category=str(SKILLETS))
    assert yes.gold == {"verdict": "yes"}
    no = read(True, proposed_category=str(SKILLETS), gold_answer="no", gold_category=str(CAKE_PANS))
    assert no.gold == {"verdict": "no", "category": str(CAKE_PANS)}


def test_gold_answer_yes_with_another_gold_category_is_refused() -> None:
    reading = read(proposed_category=str(SKILLETS), gold_answer="yes", gold_category=str(CAKE_PANS))
    assert reading.gold is None
    assert said(reading.problems) == (
        f"gold_answer 'yes' disagrees with gold_category '{CAKE_PANS}', which is not the proposed category",
    )


def test_gold_answer_no_with_the_proposed_category_as_gold_is_refused() -> None:
    reading = read(proposed_category=str(SKILLETS), gold_answer="no", gold_category=SKILLETS_PATH)
    assert said(reading.problems) == (
        f"gold_answer 'no' disagrees with gold_category {clip(SKILLETS_PATH)!r}, which is the proposed category",
    )


def test_gold_category_must_be_in_the_taxonomy() -> None:
    assert said(read(proposed_category=str(SKILLETS), gold_category="999999999").problems) == (
        "gold_category '999999999' is not a category of the taxonomy",
    )


def test_gold_category_must_be_below_the_root() -> None:
    assert said(read(proposed_category=str(SKILLETS), gold_category=str(TILT_SKILLETS)).problems) == (
        f"gold_category '{TILT_SKILLETS}' is outside the batch's root category",
    )


def test_gold_category_must_be_an_answer_a_worker_could_give() -> None:
    assert said(read(proposed_category=str(SKILLETS), gold_category=str(COOKWARE), leaf_only=True).problems) == (
        f"gold_category '{COOKWARE}' has subcategories, but this batch accepts leaves only",
    )
    reading = read(True, proposed_category=str(SKILLETS), gold_category=str(COOKWARE), leaf_only=False)
    assert reading.gold == {"verdict": "no", "category": str(COOKWARE)}


def test_every_problem_of_a_row_is_reported() -> None:
    reading = read(gold_answer="maybe", gold_category="Nowhere")
    assert said(reading.problems) == (
        "proposed_category is empty",
        "gold_answer 'maybe' is not yes or no",
        "gold_category 'Nowhere' is not a category of the taxonomy",
    )
    assert reading.gold is None and reading.payload == {}


# --- questions and their order ------------------------------------------------------------


def test_questions_ask_the_category_only_when_correcting() -> None:
    assert TYPE.questions(context(correct=False)) == (VERDICT,)
    assert TYPE.questions(context(correct=True)) == (VERDICT, CATEGORY)


def next_questions(correct: bool, *answers: tuple[str, str]) -> list[str | None]:
    """The question asked before each answer and after the last one, by key."""
    ctx, payload, given = context(correct), {"proposed": str(SKILLETS)}, dict[str, str]()
    asked = []
    for key, label in [*answers, ("", "")]:
        question = TYPE.next_question(payload, given, ctx)
        asked.append(None if question is None else question.key)
        given[key] = label
    return asked


def test_without_correcting_the_verdict_is_the_only_question() -> None:
    assert next_questions(False, ("verdict", "yes")) == ["verdict", None]
    assert next_questions(False, ("verdict", "no")) == ["verdict", None]


def test_correcting_a_yes_ends_the_item() -> None:
    assert next_questions(True, ("verdict", "yes")) == ["verdict", None]


def test_correcting_a_no_asks_for_the_category() -> None:
    assert next_questions(True, ("verdict", "no"), ("category", str(CAKE_PANS))) == ["verdict", "category", None]


def test_next_question_returns_the_questions_themselves() -> None:
    ctx = context(correct=True)
    assert TYPE.next_question({}, {}, ctx) is VERDICT
    assert TYPE.next_question({}, {"verdict": "no"}, ctx) is CATEGORY


# --- accept, grade, label_space, describe, card_facts --------------------------------------------


def test_accept_takes_the_verdict_options_only() -> None:
    ctx = context()
    assert [TYPE.accept(VERDICT, value, ctx) for value in ("yes", "no")] == ["yes", "no"]
    assert [TYPE.accept(VERDICT, value, ctx) for value in ("Yes", "y", "no_image", "", str(SKILLETS))] == [None] * 5


def test_accept_takes_the_categories_a_worker_could_give() -> None:
    ctx = context(correct=True, leaf_only=True)
    assert TYPE.accept(CATEGORY, str(SKILLETS), ctx) == str(SKILLETS)
    assert TYPE.accept(CATEGORY, str(COOKWARE), ctx) is None  # not a leaf
    assert TYPE.accept(CATEGORY, str(TILT_SKILLETS), ctx) is None  # outside the root
    assert TYPE.accept(CATEGORY, "yes", ctx) is None


def test_grade_verdict_by_exact_match() -> None:
    ctx = context()
    assert TYPE.grade(VERDICT, "yes", "yes", ctx) == Grade(True)
    assert TYPE.grade(VERDICT, "no", "yes", ctx) == Grade(False)


def test_grade_category_by_tree_distance() -> None:
    ctx = context(correct=True)
    assert TYPE.grade(CATEGORY, str(SKILLETS), str(SKILLETS), ctx) == Grade(True, 0)
    assert TYPE.grade(CATEGORY, str(CAKE_PANS), str(SKILLETS), ctx) == Grade(False, 4)


def test_label_spaces() -> None:
    ctx = context(correct=True)
    assert TYPE.label_space(VERDICT, ctx) == LabelSpace(2, None)
    space = TYPE.label_space(CATEGORY, ctx)
    assert space == tree_questions.label_space(ctx)
    assert space.families is not None and space.families[str(SKILLETS)] == str(COOKWARE)
    assert str(COOKWARE) not in space.families and str(TILT_SKILLETS) not in space.families


def test_describe() -> None:
    ctx = context(correct=True)
    assert TYPE.describe(VERDICT, "yes", ctx) == "yes"
    assert TYPE.describe(VERDICT, "no", ctx) == "no"
    assert TYPE.describe(CATEGORY, str(SKILLETS), ctx) == SKILLETS_PATH.replace(" > ", " › ")


def card(proposed: int, root_id: int | None) -> Mapping[str, Any]:
    return TYPE.card_facts({"proposed": str(proposed)}, context(root_id=root_id))


def test_card_shows_the_proposed_category_below_the_root() -> None:
    assert card(SKILLETS, COOKWARE_AND_BAKEWARE) == {"proposed": "Cookware › Skillets & Frying Pans"}
    assert card(SKILLETS, COOKWARE) == {"proposed": "Skillets & Frying Pans"}
    assert card(SKILLETS, None) == {"proposed": SKILLETS_PATH.replace(" > ", " › ")}
