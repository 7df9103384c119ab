"""attributes: one value per attribute the requester names in the caption.

`attributes="color:black|white|other; brand:text"` asks, in that order, one question per attribute:
buttons with the values as written, or a typed value for `text`. Gold is the file's `gold_<key>`
column per attribute; a row with any of them is a gold item, checked on the attributes it gives."""

from collections.abc import Mapping
from typing import Any

from bot.errors import InvalidInput, Problem, ProblemCode, Refusal
from bot.tasks import choices
from bot.tasks.base import Grade, LabelSpace, Question, QuestionKind, RowReading, TaskContext
from bot.tasks.reading import clip, typed_label
from taxonomy import Tree

SETTING = "attributes"
TYPED = "text"  # written instead of the values: the worker types the value
MAX_ATTRIBUTES = 20
MIN_VALUES, MAX_VALUES = 2, 30
VALUE_LIMIT = 40  # a button's text
TYPED_LIMIT = 200
TYPED_SPACE = 50  # a guess at how many different values workers type for one attribute


class AttributesProblem(ProblemCode):
    REQUIRED = "attributes_required"
    TOO_MANY = "attributes_too_many"  # {most, given}
    NO_VALUES = "attributes_no_values"  # {key, typed: the word that asks for a typed value}
    EMPTY_VALUE = "attributes_empty_value"  # {key}
    VALUE_COUNT = "attributes_value_count"  # {key, fewest, most, given}
    VALUE_TOO_LONG = "attributes_value_too_long"  # {key, value, most}
    VALUE_REPEATED = "attributes_value_repeated"  # {key, value}
    GOLD_NOT_A_VALUE = "attributes_gold_not_a_value"  # {column, value, key, values: the question's options}
    GOLD_NOT_TYPED = "attributes_gold_not_typed"  # {column, value, most}


class Attributes:
    name = "attributes"
    settings: tuple[str, ...] = (SETTING,)
    needs_photo = False

    def columns(self, context: TaskContext) -> tuple[str, ...]:
        return tuple(choices.gold_column(question.key) for question in self.questions(context))

    def configure(self, settings: Mapping[str, str], tree: Tree) -> dict[str, Any]:
        parts = [part.strip() for part in settings.get(SETTING, "").split(";") if part.strip()]
        if not parts:
            raise InvalidInput(Refusal.BATCH_SETTINGS_INVALID, [Problem.of(AttributesProblem.REQUIRED)])
        problems: list[Problem] = []
        if len(parts) > MAX_ATTRIBUTES:
            problems.append(Problem.of(AttributesProblem.TOO_MANY, most=MAX_ATTRIBUTES, given=len(parts)))
        attributes, found = choices.read_keyed(SETTING, parts, _read_attribute)
        problems += found
        if problems:
            raise InvalidInput(Refusal.BATCH_SETTINGS_INVALID, problems)
        return {"attributes": attributes}

    def read_row(self, values: Mapping[str, str], context: TaskContext) -> RowReading:
        gold: dict[str, str] = {}
        problems: list[Problem] = []
        for question in self.questions(context):
            column = choices.gold_column(question.key)
            value = values.get(column, "")
            if not value:
                continue
            label = _gold(question, value)
            if label is None:
                problems.append(_gold_problem(question, column, value))
            else:
                gold[question.key] = label
        if problems:
            return RowReading(problems=tuple(problems))
        return RowReading(gold=gold or None)

    def questions(self, context: TaskContext) -> tuple[Question, ...]:
        return tuple(_question(attribute) for attribute in context.config["attributes"])

    def next_question(
        self, payload: Mapping[str, Any], answers: Mapping[str, str], context: TaskContext
    ) -> Question | None:
        return next((question for question in self.questions(context) if question.key not in answers), None)

    def accept(self, question: Question, value: str, context: TaskContext) -> str | None:
        if question.kind == QuestionKind.CHOICE:
            return choices.chosen(question, value)
        return _typed(value)

    def grade(self, question: Question, label: str, gold: str, context: TaskContext) -> Grade:
        if question.kind == QuestionKind.CHOICE:
            return Grade(label == gold)
        return Grade(typed_label(label) == typed_label(gold))

    def label_space(self, question: Question, context: TaskContext) -> LabelSpace:
        return LabelSpace(len(question.options) if question.kind == QuestionKind.CHOICE else TYPED_SPACE)

    def describe(self, question: Question, label: str, context: TaskContext) -> str:
        return label

    def card_facts(self, payload: Mapping[str, Any], context: TaskContext) -> Mapping[str, str]:
        return {}


def _read_attribute(part: str) -> tuple[dict[str, Any], list[Problem]]:
    """One `key:value|value|…` or `key:text` of the setting, and what is wrong with it."""
    key, colon, written = (text.strip() for text in part.partition(":"))
    problem = choices.key_problem(SETTING, key)
    problems = [problem] if problem else []
    if not colon or not written:
        problems.append(Problem.of(AttributesProblem.NO_VALUES, key=clip(key), typed=TYPED))
        return {"key": key, "values": None}, problems
    if typed_label(written) == TYPED:
        return {"key": key, "values": None}, problems
    values = [value.strip() for value in written.split("|")]
    return {"key": key, "values": values}, problems + _value_problems(key, values)


def _value_problems(key: str, values: list[str]) -> list[Problem]:
    problems = []
    if "" in values:
        problems.append(Problem.of(AttributesProblem.EMPTY_VALUE, key=key))
    given = [value for value in values if value]
    if not MIN_VALUES <= len(given) <= MAX_VALUES:
        count = {"fewest": MIN_VALUES, "most": MAX_VALUES, "given": len(given)}
        problems.append(Problem.of(AttributesProblem.VALUE_COUNT, key=key, **count))
    seen: set[str] = set()
    for value in given:
        if len(value) > VALUE_LIMIT:
            problems.append(Problem.of(AttributesProblem.VALUE_TOO_LONG, key=key, value=clip(value), most=VALUE_LIMIT))
        if typed_label(value) in seen:
            problems.append(Problem.of(AttributesProblem.VALUE_REPEATED, key=key, value=clip(value)))
        seen.add(typed_label(value))
    return problems


def _question(attribute: Mapping[str, Any]) -> Question:
    values = attribute["values"]
    if values is None:
        return Question(attribute["key"], QuestionKind.TEXT)
    return Question(attribute["key"], QuestionKind.CHOICE, tuple(values))


def _typed(value: str) -> str | None:
    """A typed value as its label; None when it is empty or too long to be one."""
    label = typed_label(value)
    return label if label and len(label) <= TYPED_LIMIT else None


def _gold(question: Question, value: str) -> str | None:
    """A file's gold value as the label it stands for: a value as the requester wrote it, or a typed label."""
    if question.kind == QuestionKind.TEXT:
        return _typed(value)
    written = {typed_label(option): option for option in question.options}
    return written.get(typed_label(value))


def _gold_problem(question: Question, column: str, value: str) -> Problem:
    if question.kind == QuestionKind.CHOICE:
        return Problem.of(
            AttributesProblem.GOLD_NOT_A_VALUE,
            column=column,
            value=clip(value),
            key=question.key,
            values=list(question.options),
        )
    return Problem.of(AttributesProblem.GOLD_NOT_TYPED, column=column, value=clip(value), most=TYPED_LIMIT)


TYPE = Attributes()
