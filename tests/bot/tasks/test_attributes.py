"""The attributes type: the caption's attribute list, gold per attribute, one question per attribute
answered by a pressed option's index or by typing."""

from typing import Any

import pytest

from bot.errors import InvalidInput, Refusal
from bot.tasks import attributes, registry
from bot.tasks.attributes import TYPE
from bot.tasks.base import Grade, LabelSpace, Question, QuestionKind, RowReading, TaskContext
from taxonomy import Tree, load_default
from tests.words import said

EXAMPLE = "color:black|white|red|other; material:steel|wood|plastic|other; brand:text"


@pytest.fixture(scope="module")
def tree() -> Tree:
    return load_default()


def configure(tree: Tree, text: str) -> dict[str, Any]:
    return TYPE.configure({"attributes": text}, tree)


def problems_of(tree: Tree, text: str) -> list[str]:
    with pytest.raises(InvalidInput) as refused:
        configure(tree, text)
    assert refused.value.code == Refusal.BATCH_SETTINGS_INVALID
    return list(said(refused.value.problems))


def context(tree: Tree, text: str = EXAMPLE) -> TaskContext:
    return TaskContext(configure(tree, text), tree, root_id=None, leaf_only=True)


def test_configure_reads_choices_and_typed_attributes(tree: Tree) -> None:
    assert configure(tree, EXAMPLE) == {
        "attributes": [
            {"key": "color", "values": ["black", "white", "red", "other"]},
            {"key": "material", "values": ["steel", "wood", "plastic", "other"]},
            {"key": "brand", "values": None},
        ]
    }


def test_configure_trims_and_keeps_values_as_written(tree: Tree) -> None:
    config = configure(tree, "  color : Off-White |  Jet Black ;; size: TEXT ;")
    assert config == {
        "attributes": [{"key": "color", "values": ["Off-White", "Jet Black"]}, {"key": "size", "values": None}]
    }


@pytest.mark.parametrize("settings", [{}, {"attributes": ""}, {"attributes": " ; ;"}])
def test_attributes_are_required(tree: Tree, settings: dict[str, str]) -> None:
    with pytest.raises(InvalidInput) as refused:
        TYPE.configure(settings, tree)
    assert [problem.code for problem in refused.value.problems] == [attributes.AttributesProblem.REQUIRED]


@pytest.mark.parametrize("key", ["c", "color_2", "a" * 32])
def test_good_keys(tree: Tree, key: str) -> None:
    assert configure(tree, f"{key}:a|b")["attributes"][0]["key"] == key


@pytest.mark.parametrize("key", ["Color", "2color", "_color", "col-or", "col or", "cölor", "a" * 33])
def test_bad_keys_are_named(tree: Tree, key: str) -> None:
    problems = problems_of(tree, f"{key}:a|b")
    assert len(problems) == 1
    assert repr(key) in problems[0] and "lower-case" in problems[0]


def test_a_missing_key_is_a_problem(tree: Tree) -> None:
    assert "the key ''" in problems_of(tree, ":a|b")[0]


def test_keys_are_unique(tree: Tree) -> None:
    problems = problems_of(tree, "color:a|b; brand:text; color:text")
    assert problems == ["attributes: the key 'color' is given more than once"]


@pytest.mark.parametrize("part", ["color", "color:", "color:  "])
def test_an_attribute_needs_values(tree: Tree, part: str) -> None:
    problems = problems_of(tree, part)
    assert len(problems) == 1 and "'color' has no values" in problems[0]


def attribute_list(count: int, values: int) -> str:
    return "; ".join(f"a{n}:" + "|".join(f"value {v}" for v in range(values)) for n in range(count))


def test_the_largest_setting_is_accepted(tree: Tree) -> None:
    config = configure(tree, attribute_list(20, 30))
    assert len(config["attributes"]) == 20
    assert all(len(attribute["values"]) == 30 for attribute in config["attributes"])


def test_more_than_20_attributes_are_refused(tree: Tree) -> None:
    assert problems_of(tree, attribute_list(21, 2)) == ["attributes: at most 20 attributes, not 21"]


@pytest.mark.parametrize("count", [1, 31])
def test_a_value_list_has_2_to_30_values(tree: Tree, count: int) -> None:
    assert problems_of(tree, attribute_list(1, count)) == [f"attributes: a0 needs 2 to 30 values, not {count}"]


def test_empty_values_are_refused(tree: Tree) -> None:
    assert problems_of(tree, "color:a||b") == ["attributes: color has an empty value"]
    assert problems_of(tree, "color:a|b|") == ["attributes: color has an empty value"]


def test_values_are_at_most_40_characters(tree: Tree) -> None:
    assert configure(tree, f"color:{'x' * 40}|b")["attributes"][0]["values"][0] == "x" * 40
    problems = problems_of(tree, f"color:{'x' * 41}|b")
    assert len(problems) == 1 and "longer than 40 characters" in problems[0]


@pytest.mark.parametrize("values", ["Red|red", "red|Ｒｅｄ", "dark  red|Dark Red"])
def test_values_are_distinct_as_typed_labels(tree: Tree, values: str) -> None:
    problems = problems_of(tree, f"color:{values}|blue")
    assert len(problems) == 1 and "given more than once" in problems[0]


def test_every_problem_is_reported_at_once(tree: Tree) -> None:
    problems = problems_of(tree, f"Color:a|a; size; weight:x|{'y' * 41}; weight:text")
    assert problems == [
        "attributes: the key 'Color' must be 1–32 lower-case letters, digits or underscores, starting with a letter",
        "attributes: Color's value 'a' is given more than once",
        "attributes: 'size' has no values; write size:value|value|… or size:text",
        f"attributes: weight's value {'y' * 41!r} is longer than 40 characters",
        "attributes: the key 'weight' is given more than once",
    ]


def test_columns_are_the_gold_of_each_attribute(tree: Tree) -> None:
    assert TYPE.columns(context(tree)) == ("gold_color", "gold_material", "gold_brand")


def test_a_row_without_gold_is_an_ordinary_item(tree: Tree) -> None:
    assert TYPE.read_row({"title": "Mug", "gold_color": ""}, context(tree)) == RowReading()


def test_gold_holds_the_given_attributes_only(tree: Tree) -> None:
    reading = TYPE.read_row({"gold_color": "WHITE", "gold_brand": "  Ｓｔｅｅｌ   Works "}, context(tree))
    assert reading == RowReading(payload={}, gold={"color": "white", "brand": "steel works"})


def test_a_choice_gold_is_stored_as_the_value_as_written(tree: Tree) -> None:
    ctx = context(tree, "color:Off-White|Jet Black")
    assert TYPE.read_row({"gold_color": "jet  black"}, ctx).gold == {"color": "Jet Black"}


def test_a_choice_gold_must_be_one_of_the_values(tree: Tree) -> None:
    reading = TYPE.read_row({"gold_color": "purple", "gold_material": "wood"}, context(tree))
    assert reading.gold is None
    assert said(reading.problems) == (
        "gold_color 'purple' is not a value of color; use one of: black, white, red, other",
    )


def test_a_long_listing_of_values_is_cut(tree: Tree) -> None:
    ctx = context(tree, attribute_list(1, 30))
    (problem,) = said(TYPE.read_row({"gold_a0": "nope"}, ctx).problems)
    assert problem.startswith("gold_a0 'nope' is not a value of a0; use one of: value 0, value 1")
    assert problem.endswith("…") and len(problem) < 300


def test_a_typed_gold_must_be_typeable(tree: Tree) -> None:
    assert TYPE.read_row({"gold_brand": "b" * 200}, context(tree)).gold == {"brand": "b" * 200}
    (problem,) = said(TYPE.read_row({"gold_brand": "b" * 201}, context(tree)).problems)
    assert problem.startswith("gold_brand 'bbb") and "1 to 200 characters" in problem


def test_questions_follow_the_attributes(tree: Tree) -> None:
    assert TYPE.questions(context(tree)) == (
        Question("color", QuestionKind.CHOICE, ("black", "white", "red", "other")),
        Question("material", QuestionKind.CHOICE, ("steel", "wood", "plastic", "other")),
        Question("brand", QuestionKind.TEXT),
    )


def test_next_question_is_the_first_unanswered(tree: Tree) -> None:
    ctx = context(tree)
    asked = []
    answers: dict[str, str] = {}
    while (question := TYPE.next_question({}, answers, ctx)) is not None:
        asked.append(question.key)
        answers[question.key] = "x"
    assert asked == ["color", "material", "brand"]
    next_one = TYPE.next_question({}, {"material": "wood"}, ctx)
    assert next_one is not None and next_one.key == "color"


def question(tree: Tree, key: str) -> Question:
    return next(q for q in TYPE.questions(context(tree)) if q.key == key)


@pytest.mark.parametrize("label", ["black", "white", "other"])
def test_an_option_is_an_answer(tree: Tree, label: str) -> None:
    assert TYPE.accept(question(tree, "color"), label, context(tree)) == label


@pytest.mark.parametrize("value", ["0", "Black", " black", "steel", "", "9" * 5000])
def test_anything_but_an_option_is_no_answer(tree: Tree, value: str) -> None:
    assert TYPE.accept(question(tree, "color"), value, context(tree)) is None


@pytest.mark.parametrize(
    ("value", "label"), [("  Ｓｔｅｅｌ ", "steel"), ("Le  Creuset\n", "le creuset"), ("x" * 200, "x" * 200)]
)
def test_a_typed_value_is_its_typed_label(tree: Tree, value: str, label: str) -> None:
    assert TYPE.accept(question(tree, "brand"), value, context(tree)) == label


@pytest.mark.parametrize("value", ["", "   ", "\u3000", "x" * 201])
def test_an_empty_or_overlong_typed_value_is_no_answer(tree: Tree, value: str) -> None:
    assert TYPE.accept(question(tree, "brand"), value, context(tree)) is None


def test_grade(tree: Tree) -> None:
    ctx = context(tree)
    color, brand = question(tree, "color"), question(tree, "brand")
    assert TYPE.grade(color, "white", "white", ctx) == Grade(True)
    assert TYPE.grade(color, "red", "white", ctx) == Grade(False)
    assert TYPE.grade(brand, "steel works", "Steel  Works", ctx) == Grade(True)
    assert TYPE.grade(brand, "steel", "steel works", ctx) == Grade(False)


def test_label_spaces(tree: Tree) -> None:
    ctx = context(tree, "color:a|b|c; brand:text")
    assert TYPE.label_space(question(tree, "color"), ctx) == LabelSpace(4)
    assert TYPE.label_space(Question("color", QuestionKind.CHOICE, ("a", "b", "c")), ctx) == LabelSpace(3)
    assert TYPE.label_space(question(tree, "brand"), ctx) == LabelSpace(attributes.TYPED_SPACE)


def test_describe_and_card(tree: Tree) -> None:
    ctx = context(tree)
    assert TYPE.describe(question(tree, "color"), "white", ctx) == "white"
    assert TYPE.card_facts({}, ctx) == {}


def test_registered(tree: Tree) -> None:
    assert registry.get("attributes") is TYPE
    assert TYPE.settings == ("attributes",)
    assert TYPE.needs_photo is False
