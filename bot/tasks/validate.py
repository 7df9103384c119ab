"""validate: confirm or reject a proposed category, and with `correct=true` give the right one.

The card shows the product and the file's `proposed_category`; the worker answers "verdict" yes or
no, and in a batch with `correct=true` a no goes on to "category", answered like categorize's
question. Gold is the file's `gold_answer` (yes/no) or `gold_category` (the right category, which
gives the verdict and, when correcting, the category too)."""

from collections.abc import Mapping
from typing import Any

from bot.errors import InvalidInput, Problem, ProblemCode, Refusal
from bot.tasks import tree_questions
from bot.tasks.base import Grade, LabelSpace, Question, QuestionKind, RowReading, TaskContext
from bot.tasks.reading import NO, YES, RowProblem, clip, yes_no
from taxonomy import Tree

VERDICT = Question("verdict", QuestionKind.CHOICE, (YES, NO))
CATEGORY = Question("category", QuestionKind.TREE)
CORRECT = "correct"
# A caption is typed by a requester who means a flag: only the plain spellings, so a typo is caught.
_FLAGS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


class ValidateProblem(ProblemCode):
    CORRECT_NOT_A_FLAG = "validate_correct_not_a_flag"  # {key}
    # A row's gold_answer and gold_category contradict each other: {answer, reference} as written.
    YES_BUT_ANOTHER_CATEGORY = "validate_yes_but_another_category"
    NO_BUT_THE_PROPOSED_CATEGORY = "validate_no_but_the_proposed_category"


class Validate:
    name = "validate"
    settings: tuple[str, ...] = (CORRECT,)
    needs_photo = False

    def columns(self, context: TaskContext) -> tuple[str, ...]:
        return ("proposed_category", "gold_answer", "gold_category")

    def configure(self, settings: Mapping[str, str], tree: Tree) -> dict[str, Any]:
        if CORRECT not in settings:
            return {CORRECT: False}
        flag = _FLAGS.get(settings[CORRECT].strip().lower())
        if flag is None:
            raise InvalidInput(
                Refusal.BATCH_SETTINGS_INVALID, [Problem.of(ValidateProblem.CORRECT_NOT_A_FLAG, key=CORRECT)]
            )
        return {CORRECT: flag}

    def read_row(self, values: Mapping[str, str], context: TaskContext) -> RowReading:
        problems: list[Problem] = []
        proposed = _read_proposed(values.get("proposed_category", ""), context, problems)
        answer = _read_answer(values.get("gold_answer", ""), problems)
        reference = values.get("gold_category", "")
        right = _read_category(reference, context, problems)
        if problems or proposed is None:  # no proposed category always comes with its problem
            return RowReading(problems=tuple(problems))
        if answer is not None and right is not None and (answer == YES) != (right == proposed):
            code = (
                ValidateProblem.YES_BUT_ANOTHER_CATEGORY
                if answer == YES
                else ValidateProblem.NO_BUT_THE_PROPOSED_CATEGORY
            )
            return RowReading(
                problems=(Problem.of(code, answer=clip(values["gold_answer"]), reference=clip(reference)),)
            )
        payload = {"proposed": str(proposed)}
        return RowReading(payload=payload, gold=_gold(answer, proposed, right, context))

    def questions(self, context: TaskContext) -> tuple[Question, ...]:
        return (VERDICT, CATEGORY) if _correcting(context) else (VERDICT,)

    def next_question(
        self, payload: Mapping[str, Any], answers: Mapping[str, str], context: TaskContext
    ) -> Question | None:
        if VERDICT.key not in answers:
            return VERDICT
        if _correcting(context) and answers[VERDICT.key] == NO and CATEGORY.key not in answers:
            return CATEGORY
        return None

    def accept(self, question: Question, value: str, context: TaskContext) -> str | None:
        if question.key == CATEGORY.key:
            return tree_questions.accept(value, context)
        return value if value in VERDICT.options else None

    def grade(self, question: Question, label: str, gold: str, context: TaskContext) -> Grade:
        if question.key == CATEGORY.key:
            return tree_questions.grade(label, gold, context)
        return Grade(label == gold)

    def label_space(self, question: Question, context: TaskContext) -> LabelSpace:
        if question.key == CATEGORY.key:
            return tree_questions.label_space(context)
        return LabelSpace(len(VERDICT.options))

    def describe(self, question: Question, label: str, context: TaskContext) -> str:
        if question.key == CATEGORY.key:
            return tree_questions.path(label, context)
        return label

    def card_facts(self, payload: Mapping[str, Any], context: TaskContext) -> Mapping[str, str]:
        return {"proposed": tree_questions.path(payload["proposed"], context, below_root=True)}


def _correcting(context: TaskContext) -> bool:
    return bool(context.config.get(CORRECT, False))


def _read_proposed(reference: str, context: TaskContext, problems: list[Problem]) -> int | None:
    if not reference:
        problems.append(Problem.of(RowProblem.EMPTY, column="proposed_category"))
        return None
    # Any category under the root may be proposed, even one a worker could not pick (a parent in a leaf-only batch).
    node = tree_questions.read_reference("proposed_category", reference, context, as_answer=False)
    return _node(node, problems)


def _read_answer(value: str, problems: list[Problem]) -> str | None:
    if not value:
        return None
    answer = yes_no(value)
    if answer is None:
        problems.append(Problem.of(RowProblem.NOT_YES_NO, column="gold_answer", value=clip(value)))
    return answer


def _read_category(reference: str, context: TaskContext, problems: list[Problem]) -> int | None:
    if not reference:
        return None
    return _node(tree_questions.read_reference("gold_category", reference, context, as_answer=True), problems)


def _node(found: int | Problem, problems: list[Problem]) -> int | None:
    """A category read from the file, or None with its problem added to `problems`."""
    if isinstance(found, int):
        return found
    problems.append(found)
    return None


def _gold(answer: str | None, proposed: int, right: int | None, context: TaskContext) -> dict[str, str] | None:
    """The right label per question from a row's gold columns, which already agree; None without gold."""
    if right is None:
        return None if answer is None else {VERDICT.key: answer}
    verdict = YES if right == proposed else NO
    gold = {VERDICT.key: verdict}
    if verdict == NO and _correcting(context):
        gold[CATEGORY.key] = str(right)
    return gold


TYPE = Validate()
