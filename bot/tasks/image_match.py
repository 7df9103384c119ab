"""image_match: does the photo show the product of the title?

One question, "match": yes, no, or no_image when the photo does not load (the text layer words the
buttons). Gold is the file's `gold_answer`."""

from collections.abc import Mapping
from typing import Any

from bot.errors import Problem
from bot.tasks.base import Grade, LabelSpace, Question, QuestionKind, RowReading, TaskContext
from bot.tasks.reading import NO, YES, RowProblem, clip, yes_no
from taxonomy import Tree

NO_IMAGE = "no_image"
MATCH = Question("match", QuestionKind.CHOICE, (YES, NO, NO_IMAGE))


class ImageMatch:
    name = "image_match"
    settings: tuple[str, ...] = ()
    needs_photo = True

    def columns(self, context: TaskContext) -> tuple[str, ...]:
        return ("gold_answer",)

    def configure(self, settings: Mapping[str, str], tree: Tree) -> dict[str, Any]:
        return {}

    def read_row(self, values: Mapping[str, str], context: TaskContext) -> RowReading:
        problems: list[Problem] = []
        # The core refuses a row without a photo too; checked here so the type holds by itself.
        if not values.get("image_url", ""):
            problems.append(Problem.of(RowProblem.NO_PHOTO, type=self.name))
        value = values.get("gold_answer", "")
        answer = _read_answer(value) if value else None
        if value and answer is None:
            problems.append(Problem.of(RowProblem.NOT_YES_NO_OR_NO_IMAGE, column="gold_answer", value=clip(value)))
        if problems:
            return RowReading(problems=tuple(problems))
        return RowReading(gold=None if answer is None else {MATCH.key: answer})

    def questions(self, context: TaskContext) -> tuple[Question, ...]:
        return (MATCH,)

    def next_question(
        self, payload: Mapping[str, Any], answers: Mapping[str, str], context: TaskContext
    ) -> Question | None:
        return None if MATCH.key in answers else MATCH

    def accept(self, question: Question, value: str, context: TaskContext) -> str | None:
        return value if value in MATCH.options else None

    def grade(self, question: Question, label: str, gold: str, context: TaskContext) -> Grade:
        return Grade(label == gold)

    def label_space(self, question: Question, context: TaskContext) -> LabelSpace:
        return LabelSpace(len(MATCH.options))

    def describe(self, question: Question, label: str, context: TaskContext) -> str:
        return label

    def card_facts(self, payload: Mapping[str, Any], context: TaskContext) -> Mapping[str, str]:
        return {}


def _read_answer(value: str) -> str | None:
    """A file's gold_answer as a label: yes/no as every type reads them, and "no image" however joined."""
    if " ".join(value.lower().replace("-", " ").replace("_", " ").split()) == "no image":
        return NO_IMAGE
    return yes_no(value)


TYPE = ImageMatch()
