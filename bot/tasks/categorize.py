"""categorize: put a product in a category of the batch's taxonomy.

One question, "category", answered by drilling down from the batch's root, by typed search, or by
a suggestion; gold is the file's `gold_category` (an id or a full path)."""

from collections.abc import Mapping
from typing import Any

from bot.tasks import tree_questions
from bot.tasks.base import Grade, LabelSpace, Question, QuestionKind, RowReading, TaskContext
from taxonomy import Tree

CATEGORY = Question("category", QuestionKind.TREE)


class Categorize:
    name = "categorize"
    settings: tuple[str, ...] = ()
    needs_photo = False

    def columns(self, context: TaskContext) -> tuple[str, ...]:
        return ("gold_category",)

    def configure(self, settings: Mapping[str, str], tree: Tree) -> dict[str, Any]:
        return {}

    def read_row(self, values: Mapping[str, str], context: TaskContext) -> RowReading:
        reference = values.get("gold_category", "")
        if not reference:
            return RowReading()
        node = tree_questions.read_reference("gold_category", reference, context, as_answer=True)
        if not isinstance(node, int):
            return RowReading(problems=(node,))
        return RowReading(gold={CATEGORY.key: str(node)})

    def questions(self, context: TaskContext) -> tuple[Question, ...]:
        return (CATEGORY,)

    def next_question(
        self, payload: Mapping[str, Any], answers: Mapping[str, str], context: TaskContext
    ) -> Question | None:
        return None if CATEGORY.key in answers else CATEGORY

    def accept(self, question: Question, value: str, context: TaskContext) -> str | None:
        return tree_questions.accept(value, context)

    def grade(self, question: Question, label: str, gold: str, context: TaskContext) -> Grade:
        return tree_questions.grade(label, gold, context)

    def label_space(self, question: Question, context: TaskContext) -> LabelSpace:
        return tree_questions.label_space(context)

    def describe(self, question: Question, label: str, context: TaskContext) -> str:
        return tree_questions.path(label, context)

    def card_facts(self, payload: Mapping[str, Any], context: TaskContext) -> Mapping[str, str]:
        return {}


TYPE = Categorize()
