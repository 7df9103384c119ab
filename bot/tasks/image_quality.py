"""image_quality: the product's photo, with yes/no questions answered one tap each.

`questions=blurry,person,logo:Is there a logo?` chooses them: built-in keys, which the text layer words,
or the requester's own `key:Question text?` (no commas in the text); without it, blurry, person and
white_background. Every question offers yes, no and "photo does not load" (no_image), and that last one
answers the whole item. Gold is the file's `gold_<key>` column per question."""

from collections.abc import Mapping
from typing import Any

from bot.errors import InvalidInput, Problem, ProblemCode, Refusal
from bot.tasks import choices
from bot.tasks.base import Grade, LabelSpace, Question, QuestionKind, RowReading, TaskContext
from bot.tasks.reading import NO, YES, RowProblem, clip, typed_label, yes_no
from taxonomy import Tree

SETTING = "questions"
BUILT_IN = (
    "blurry",
    "person",
    "white_background",
    "watermark",
    "text_overlay",
    "cropped",
    "multiple_products",
    "dark",
)
DEFAULT = ("blurry", "person", "white_background")
NO_IMAGE = "no_image"
OPTIONS = (YES, NO, NO_IMAGE)
MAX_QUESTIONS = 10
PROMPT_LIMIT = 200


class ImageQualityProblem(ProblemCode):
    TOO_MANY = "image_quality_too_many"  # {most, given}
    NOT_BUILT_IN = "image_quality_not_built_in"  # {key, built_in}
    NO_PROMPT = "image_quality_no_prompt"  # {key}
    PROMPT_TOO_LONG = "image_quality_prompt_too_long"  # {key, most}
    NO_IMAGE_MIXED = "image_quality_no_image_mixed"  # no_image beside yes/no in one row's gold


class ImageQuality:
    name = "image_quality"
    settings: tuple[str, ...] = (SETTING,)
    needs_photo = True

    def columns(self, context: TaskContext) -> tuple[str, ...]:
        return tuple(choices.gold_column(question.key) for question in self.questions(context))

    def configure(self, settings: Mapping[str, str], tree: Tree) -> dict[str, Any]:
        parts = [part.strip() for part in settings.get(SETTING, "").split(",") if part.strip()]
        if not parts:  # an empty `questions=` too: nothing chosen is the default
            return {"questions": [{"key": key, "prompt": ""} for key in DEFAULT]}
        problems: list[Problem] = []
        if len(parts) > MAX_QUESTIONS:
            problems.append(Problem.of(ImageQualityProblem.TOO_MANY, most=MAX_QUESTIONS, given=len(parts)))
        questions, found = choices.read_keyed(SETTING, parts, _read_question)
        problems += found
        if problems:
            raise InvalidInput(Refusal.BATCH_SETTINGS_INVALID, problems)
        return {"questions": questions}

    def read_row(self, values: Mapping[str, str], context: TaskContext) -> RowReading:
        problems = [] if values.get("image_url", "") else [Problem.of(RowProblem.NO_PHOTO, type=self.name)]
        gold: dict[str, str] = {}
        for question in self.questions(context):
            column = choices.gold_column(question.key)
            value = values.get(column, "")
            if not value:
                continue
            label = _gold_label(value)
            if label is None:
                problems.append(Problem.of(RowProblem.NOT_YES_NO_OR_NO_IMAGE, column=column, value=clip(value)))
            else:
                gold[question.key] = label
        if NO_IMAGE in gold.values() and set(gold.values()) != {NO_IMAGE}:
            problems.append(Problem.of(ImageQualityProblem.NO_IMAGE_MIXED))
        if problems:
            return RowReading(problems=tuple(problems))
        if NO_IMAGE in gold.values():
            # The worker who sees no photo says so at the first question, and that ends the item.
            return RowReading(gold={self.questions(context)[0].key: NO_IMAGE})
        return RowReading(gold=gold or None)

    def questions(self, context: TaskContext) -> tuple[Question, ...]:
        return tuple(
            Question(question["key"], QuestionKind.CHOICE, OPTIONS, question["prompt"])
            for question in context.config["questions"]
        )

    def next_question(
        self, payload: Mapping[str, Any], answers: Mapping[str, str], context: TaskContext
    ) -> Question | None:
        if NO_IMAGE in answers.values():
            return None  # one "photo does not load" answers the item: the other questions need the photo
        return next((question for question in self.questions(context) if question.key not in answers), None)

    def accept(self, question: Question, value: str, context: TaskContext) -> str | None:
        return choices.chosen(question, value)

    def grade(self, question: Question, label: str, gold: str, context: TaskContext) -> Grade:
        return Grade(label == gold)

    def label_space(self, question: Question, context: TaskContext) -> LabelSpace:
        return LabelSpace(len(OPTIONS))

    def describe(self, question: Question, label: str, context: TaskContext) -> str:
        return label

    def card_facts(self, payload: Mapping[str, Any], context: TaskContext) -> Mapping[str, str]:
        return {}


def _read_question(part: str) -> tuple[dict[str, Any], list[Problem]]:
    """One built-in key or `key:Question text?` of the setting, and what is wrong with it."""
    key, colon, prompt = (text.strip() for text in part.partition(":"))
    if not colon:
        if key in BUILT_IN:
            return {"key": key, "prompt": ""}, []
        return {"key": key, "prompt": ""}, [
            Problem.of(ImageQualityProblem.NOT_BUILT_IN, key=clip(key), built_in=list(BUILT_IN))
        ]
    problem = choices.key_problem(SETTING, key)
    problems = [problem] if problem else []
    if not prompt:
        problems.append(Problem.of(ImageQualityProblem.NO_PROMPT, key=clip(key)))
    elif len(prompt) > PROMPT_LIMIT:
        problems.append(Problem.of(ImageQualityProblem.PROMPT_TOO_LONG, key=clip(key), most=PROMPT_LIMIT))
    return {"key": key, "prompt": prompt}, problems


def _gold_label(value: str) -> str | None:
    return NO_IMAGE if typed_label(value) == NO_IMAGE else yes_no(value)


TYPE = ImageQuality()
