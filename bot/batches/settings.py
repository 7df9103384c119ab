"""A batch's settings as a person types them: in a file's caption (`reward=0.02 overlap=3`) or as flags of
`crowdshelf batch load` (`--reward 0.02 --overlap 3`). One model names every setting, reads its text and
says what is wrong with it, so both ways take the same settings and refuse them in the same words."""

import math
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from bot.errors import InvalidInput, Problem, ProblemCode, Refusal, ValueProblem
from bot.money.amounts import typed_amount
from bot.quality.levels import LEVEL_RANKS

MAX_OVERLAP = 100
MAX_HOURS = 24 * 365


class SettingProblem(ProblemCode):
    """What is wrong with one setting as typed: {key} (the caption's key or the command line's flag), and
    {problem}, what its reader found."""

    INVALID = "setting_invalid"
    NOT_READ = "setting_not_read"  # {key, detail}: the settings model's own words, for a value no reader saw


class ValueCode(ProblemCode):
    """What a setting's reader finds wrong with its text (said after the setting's name)."""

    NOT_A_NUMBER = "value_not_a_number"
    NOT_WHOLE = "value_not_whole"
    NOT_A_SHARE = "value_not_a_share"
    NEGATIVE = "value_negative"
    OUT_OF_RANGE = "value_out_of_range"  # {fewest, most}
    HOURS_OUT_OF_RANGE = "value_hours_out_of_range"  # {most}
    NOT_POSITIVE = "value_not_positive"
    NOT_A_LEVEL = "value_not_a_level"  # {levels}
    NOT_YES_NO = "value_not_yes_no"


def _number(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueProblem(ValueCode.NOT_A_NUMBER) from None
    if not math.isfinite(number):
        raise ValueProblem(ValueCode.NOT_A_NUMBER)
    return number


def _whole(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueProblem(ValueCode.NOT_WHOLE) from None


def _share(value: str) -> float:
    share = _number(value)
    if not 0 <= share <= 1:
        raise ValueProblem(ValueCode.NOT_A_SHARE)
    return share


def _count(value: str) -> int:
    count = _whole(value)
    if count < 0:
        raise ValueProblem(ValueCode.NEGATIVE)
    return count


def _overlap(value: str) -> int:
    overlap = _whole(value)
    if not 1 <= overlap <= MAX_OVERLAP:
        raise ValueProblem(ValueCode.OUT_OF_RANGE, fewest=1, most=MAX_OVERLAP)
    return overlap


def _seconds(value: str) -> float | None:
    if not value:
        return None  # the default: a third of the crowd's median time
    seconds = _number(value)
    if seconds < 0:
        raise ValueProblem(ValueCode.NEGATIVE)
    return seconds


def _hours(value: str) -> float:
    hours = _number(value)
    if not 0 <= hours <= MAX_HOURS:
        raise ValueProblem(ValueCode.HOURS_OUT_OF_RANGE, most=MAX_HOURS)
    return hours


def _reward(value: str) -> int:
    reward = typed_amount(value)
    if not reward:
        raise ValueProblem(ValueCode.NOT_POSITIVE)
    return reward


def _level(value: str) -> int:
    if value.lower() not in LEVEL_RANKS:
        raise ValueProblem(ValueCode.NOT_A_LEVEL, levels=list(LEVEL_RANKS))
    return LEVEL_RANKS[value.lower()]


def _yes_no(value: str) -> bool:
    if value.lower() in ("true", "yes", "1", "on"):
        return True
    if value.lower() in ("false", "no", "0", "off"):
        return False
    raise ValueProblem(ValueCode.NOT_YES_NO)


def _read(reader: Callable[[str], object]) -> BeforeValidator:
    """A setting's type: its text, read by `reader` (whose ValueProblem says what is wrong)."""
    return BeforeValidator(lambda value: reader(value) if isinstance(value, str) else value)


class BatchSettings(BaseModel):
    """Every setting a requester may give, by the name they type (the alias where the field differs);
    the text layer says what each means (handlers.messages.SETTING_HELP, the command line's help).

    A setting left out is None here and takes BatchSpec's default; `given` has only those typed.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    task_type: str | None = Field(None, alias="type")
    reward_micros: Annotated[int | None, _read(_reward)] = Field(None, alias="reward")
    overlap: Annotated[int | None, _read(_overlap)] = None
    gold_rate: Annotated[float | None, _read(_share)] = None
    root: Annotated[str | None, _read(lambda value: value or None)] = None
    name: str | None = None
    leaf_only: Annotated[bool | None, _read(_yes_no)] = None
    confidence: Annotated[float | None, _read(_share)] = None
    min_overlap: Annotated[int | None, _read(_overlap)] = None
    instructions: str | None = None
    min_gold: Annotated[int | None, _read(_count)] = None
    min_accuracy: Annotated[float | None, _read(_share)] = None
    min_seconds: Annotated[float | None, _read(_seconds)] = None
    max_share: Annotated[float | None, _read(_share)] = None
    min_level: Annotated[int | None, _read(_level)] = None
    qualification: Annotated[int | None, _read(_count)] = None
    pass_score: Annotated[float | None, _read(_share)] = Field(None, alias="pass")
    retry_hours: Annotated[float | None, _read(_hours)] = None
    bonus_qualified_micros: Annotated[int | None, _read(typed_amount)] = Field(None, alias="bonus_qualified")
    bonus_expert_micros: Annotated[int | None, _read(typed_amount)] = Field(None, alias="bonus_expert")
    # The task types' own settings, kept as typed: the batch's type reads them (TaskType.configure).
    correct: str | None = None
    attributes: str | None = None
    questions: str | None = None

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The settings' names as typed, in the order of the model."""
        return tuple(field.alias or name for name, field in cls.model_fields.items())

    @classmethod
    def read(cls, values: Mapping[str, str], named: Callable[[str], str] = str) -> "BatchSettings":
        """Settings from their texts by key; every bad one is named (through `named`: the caption's key,
        or the command line's flag) in one InvalidInput."""
        try:
            return cls.model_validate(dict(values))
        except ValidationError as error:
            problems = [_problem(found, named) for found in error.errors()]
            raise InvalidInput(Refusal.SETTINGS_INVALID, problems) from None

    def given(self) -> dict[str, Any]:
        """The settings typed, by BatchSpec field."""
        return self.model_dump(exclude_unset=True)


def _problem(found: Any, named: Callable[[str], str]) -> Problem:
    key = named(str(found["loc"][0]) if found["loc"] else "")
    reason = found.get("ctx", {}).get("error")  # what the reader found: ValueCode.NOT_WHOLE
    if isinstance(reason, ValueProblem):
        return Problem.of(SettingProblem.INVALID, key=key, problem=reason.problem)
    return Problem.of(SettingProblem.NOT_READ, key=key, detail=found["msg"])


SETTING_KEYS = BatchSettings.keys()
TYPE_SETTING_KEYS = ("correct", "attributes", "questions")
