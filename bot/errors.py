"""Domain errors and the problems they list, as codes with parameters: the text layer words them.

Every area lists its codes in enums derived from ErrorCode (a refusal) or ProblemCode (one thing wrong
with an input), so the text layer's catalogue can be checked to cover each. Parameters are plain values
(numbers, amounts in micros under a name ending in `_micros`, what the person typed), a Place, a list of
such values, or a nested Problem; never words of a language.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """What a refusal says, as a code; each area derives its own enum."""


class ProblemCode(StrEnum):
    """One thing wrong with a file, a setting or a value, as a code; each area derives its own enum."""


class PlaceKind(StrEnum):
    LINE = "line"  # a line of a CSV or JSON Lines file
    ITEM = "item"  # an object of a JSON list, counted from 1


@dataclass(frozen=True)
class Place:
    """Where in a file something is, as the person finds it there: line 4, item 3."""

    kind: PlaceKind
    number: int


@dataclass(frozen=True)
class Problem:
    code: ProblemCode
    params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, code: ProblemCode, **params: Any) -> "Problem":
        return cls(code, params)

    @property
    def place(self) -> Place | None:
        """The row it belongs to, when it belongs to one (the `place` parameter)."""
        place = self.params.get("place")
        return place if isinstance(place, Place) else None

    def at(self, place: Place) -> "Problem":
        return Problem(self.code, {**self.params, "place": place})

    def __str__(self) -> str:
        return f"{self.code} {dict(self.params)}" if self.params else str(self.code)


class Refusal(ErrorCode):
    """Refusals every area may give."""

    TASK_UNAVAILABLE = "task_unavailable"
    ALREADY_ANSWERED = "already_answered"
    NOT_ALLOWED = "not_allowed"
    SETTINGS_INVALID = "settings_invalid"  # the caption's or the command line's settings: see the problems
    BATCH_SETTINGS_INVALID = "batch_settings_invalid"  # the batch's settings together: see the problems
    VALUE_INVALID = "value_invalid"  # one value a person typed: {problem}
    NOT_AN_ANSWER = "not_an_answer"  # typed text the open question does not take; the task stays open


class DomainError(Exception):
    """Something the user asked for cannot be done: `code` says why, with its `params`.

    `str(error)` shows the code and parameters, for logs; the text layer says it in words."""

    default_code: ErrorCode | None = None

    def __init__(self, code: ErrorCode | None = None, **params: Any) -> None:
        chosen = code or self.default_code
        if chosen is None:
            raise TypeError(f"{type(self).__name__} needs a code")
        self.code: ErrorCode = chosen
        self.params: dict[str, Any] = params
        super().__init__(self._log_text())

    def _log_text(self) -> str:
        return f"{self.code} {self.params}" if self.params else str(self.code)


class TaskUnavailable(DomainError):
    default_code = Refusal.TASK_UNAVAILABLE


class AlreadyAnswered(TaskUnavailable):
    """A repeat of an answer that was already recorded (double tap, replayed update)."""

    default_code = Refusal.ALREADY_ANSWERED


class NotAnAnswer(DomainError):
    """Typed text the open question does not take (too long to be a value): the task stays open."""

    default_code = Refusal.NOT_AN_ANSWER


class NotAllowed(DomainError):
    default_code = Refusal.NOT_ALLOWED


class InvalidInput(DomainError):
    """A file or value was rejected; `problems` lists what is wrong, first ones first."""

    def __init__(self, code: ErrorCode, problems: list[Problem] | None = None, **params: Any) -> None:
        self.problems: list[Problem] = problems or []
        super().__init__(code, **params)

    def _log_text(self) -> str:
        return "\n".join([super()._log_text(), *map(str, self.problems[:20])])


class ValueProblem(ValueError):
    """A value cannot be read (an amount, a setting's text); `problem` says why. A ValueError, so that
    readers inside pydantic models and callers that catch ValueError keep working."""

    def __init__(self, code: ProblemCode, **params: Any) -> None:
        self.problem = Problem(code, params)
        super().__init__(str(self.problem))
