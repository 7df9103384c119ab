"""A small task type for tests of the core: a colour by buttons, then a category of the tree, so one card
mixes both kinds of question. No module of the bot registers it; a test does, for itself only, with
`monkeypatch.setitem(registry.TYPES, TYPE.name, TYPE)`."""

from collections.abc import Mapping
from typing import Any

from bot.errors import Problem
from bot.tasks import tree_questions
from bot.tasks.attributes import AttributesProblem
from bot.tasks.base import Grade, LabelSpace, Question, QuestionKind, RowReading, TaskContext
from taxonomy import Tree

COLOR = Question("color", QuestionKind.CHOICE, ("red", "blue"))
CATEGORY = Question("category", QuestionKind.TREE)


class ColorThenCategory:
    name = "color_then_category"
    settings: tuple[str, ...] = ()
    needs_photo = False

    def columns(self, context: TaskContext) -> tuple[str, ...]:
        return ("gold_color", "gold_category")

    def configure(self, settings: Mapping[str, str], tree: Tree) -> dict[str, Any]:
        return {}

    def read_row(self, values: Mapping[str, str], context: TaskContext) -> RowReading:
        gold = {}
        color = values.get("gold_color", "")
        if color:
            if color not in COLOR.options:
                problem = Problem.of(
                    AttributesProblem.GOLD_NOT_A_VALUE,
                    column="gold_color",
                    value=color,
                    key="color",
                    values=["red", "blue"],
                )
                return RowReading(problems=(problem,))
            gold[COLOR.key] = color
        reference = values.get("gold_category", "")
        if reference:
            node = tree_questions.read_reference("gold_category", reference, context, as_answer=True)
            if not isinstance(node, int):
                return RowReading(problems=(node,))
            gold[CATEGORY.key] = str(node)
        return RowReading(gold=gold or None)

    def questions(self, context: TaskContext) -> tuple[Question, ...]:
        return (COLOR, CATEGORY)

    def next_question(
        self, payload: Mapping[str, Any], answers: Mapping[str, str], context: TaskContext
    ) -> Question | None:
        return next((question for question in (COLOR, CATEGORY) if question.key not in answers), None)

    def accept(self, question: Question, value: str, context: TaskContext) -> str | None:
        if question.kind == QuestionKind.TREE:
            return tree_questions.accept(value, context)
        return value if value in question.options else None

    def grade(self, question: Question, label: str, gold: str, context: TaskContext) -> Grade:
        if question.kind == QuestionKind.TREE:
            return tree_questions.grade(label, gold, context)
        return Grade(label == gold)

    def label_space(self, question: Question, context: TaskContext) -> LabelSpace:
        if question.kind == QuestionKind.TREE:
            return tree_questions.label_space(context)
        return LabelSpace(len(question.options))

    def describe(self, question: Question, label: str, context: TaskContext) -> str:
        return tree_questions.path(label, context) if question.kind == QuestionKind.TREE else label

    def card_facts(self, payload: Mapping[str, Any], context: TaskContext) -> Mapping[str, str]:
        return {}


TYPE = ColorThenCategory()
