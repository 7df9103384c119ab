"""The seam every kind of job goes through: a task type is one module that implements `TaskType`.

The core (claiming, answering, gold and the quiz, quality rules, disputes, aggregation, results, the
keyboards) knows items, questions and labels only; everything a kind of job means lives in its type:
how a file row becomes an item, which questions an item asks and with which options, which pressed or
typed values are answers, how an answer is graded against gold, and each question's label space.

A label is a string: a category's id ("5181"), "yes", "no", an attribute's value. An item's answers
and its gold are both {question key: label}, stored as JSON. A type says nothing in English: a
question's key and a label are codes the text layer turns into words (a requester's own question or
value is shown as they wrote it).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from bot.errors import Problem
from taxonomy import Tree


class QuestionKind(StrEnum):
    TREE = "tree"  # a category of the batch's taxonomy: drill-down pages and typed search
    CHOICE = "choice"  # one of a few options, one button each
    TEXT = "text"  # typed by the worker


@dataclass(frozen=True)
class Question:
    key: str  # the results column and the gold column's suffix: "category", "verdict", "color"
    kind: QuestionKind
    options: tuple[str, ...] = ()  # CHOICE: the labels offered, in the order of the buttons
    # A requester's own wording of a custom question; "" when the text layer words it from the key.
    prompt: str = ""


# Labels as a person reads them, in the type's order of questions: (the question's key, or a requester's
# own wording of it; the label described). Plain strings, so they travel in an outbox message's parameters.
Described = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class TaskContext:
    """What a type needs besides the item: the batch's type settings and its taxonomy."""

    config: Mapping[str, Any]  # the batch's task settings, as the type's `configure` made them
    tree: Tree
    root_id: int | None  # the batch's root category (None: the whole taxonomy)
    leaf_only: bool


@dataclass(frozen=True)
class RowReading:
    """What a type made of one file row: the item's payload and gold, or why the row is refused."""

    payload: dict[str, Any] = field(default_factory=dict)
    gold: dict[str, str] | None = None  # None: an ordinary item; else the right label per question
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class Grade:
    """One question's answer against its gold."""

    correct: bool
    distance: int | None = None  # in a tree: how many steps apart the answer and the gold are


@dataclass(frozen=True)
class ItemGrade:
    """An answer against a gold item: each question the gold has is one gold answer, right or wrong."""

    graded: int  # the item's questions with gold
    right: int
    distance: int | None = None  # the tree distance of the first graded question that has one
    wrong: tuple[str, ...] = ()  # the keys of the questions answered wrong, in the type's order

    @property
    def correct(self) -> bool:
        """Every graded question right."""
        return self.right == self.graded


@dataclass(frozen=True)
class LabelSpace:
    """What aggregation needs to know of a question's possible answers."""

    size: int  # how many labels a worker could give (a typed question: a rough guess)
    families: Mapping[str, str] | None = None  # label → its family (siblings in a tree); None: no families


class TaskType(Protocol):
    """One kind of job. Every method is pure: no database, no Telegram, no clock."""

    name: str
    settings: tuple[str, ...]  # the caption keys it reads besides the common ones ("attributes", "correct")
    needs_photo: bool  # a row without an http(s) image_url is refused; the card offers "photo does not load"

    def columns(self, context: TaskContext) -> tuple[str, ...]:
        """The file columns it reads besides the product card's; another type's column in a row is refused."""
        ...

    def configure(self, settings: Mapping[str, str], tree: Tree) -> dict[str, Any]:
        """The batch's task settings from the caption's type keys; raises InvalidInput naming the bad ones."""
        ...

    def read_row(self, values: Mapping[str, str], context: TaskContext) -> RowReading:
        """One file row's payload and gold (stripped text by column), or its problems."""
        ...

    def questions(self, context: TaskContext) -> tuple[Question, ...]:
        """Every question an item of the batch may ask, in order; their keys are the results' columns."""
        ...

    def next_question(
        self, payload: Mapping[str, Any], answers: Mapping[str, str], context: TaskContext
    ) -> Question | None:
        """The question the worker answers next, given the answers so far; None when the item is answered."""
        ...

    def accept(self, question: Question, value: str, context: TaskContext) -> str | None:
        """A pressed or typed value as the label it stands for; None when it is no answer to the question."""
        ...

    def grade(self, question: Question, label: str, gold: str, context: TaskContext) -> Grade:
        """Whether an answer matches the gold."""
        ...

    def label_space(self, question: Question, context: TaskContext) -> LabelSpace: ...

    def describe(self, question: Question, label: str, context: TaskContext) -> str:
        """A label as data a person reads: a category's path, a value as given ("yes" stays a code the
        text layer words)."""
        ...

    def card_facts(self, payload: Mapping[str, Any], context: TaskContext) -> Mapping[str, str]:
        """What the card shows besides the product, by code: {"proposed": "Cookware › Skillets"}."""
        ...
