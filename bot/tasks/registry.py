"""Every task type by its name: adding a type is its module and a line here."""

from bot.errors import InvalidInput, Problem, ProblemCode, Refusal
from bot.tasks import attributes, categorize, image_match, image_quality, validate
from bot.tasks.base import TaskType

TYPES: dict[str, TaskType] = {
    categorize.TYPE.name: categorize.TYPE,
    validate.TYPE.name: validate.TYPE,
    attributes.TYPE.name: attributes.TYPE,
    image_match.TYPE.name: image_match.TYPE,
    image_quality.TYPE.name: image_quality.TYPE,
}


def setting_keys() -> set[str]:
    """The caption keys the types read besides the common settings."""
    return {key for task_type in TYPES.values() for key in task_type.settings}


class TypeProblem(ProblemCode):
    UNKNOWN = "type_unknown"  # {type, types}
    NOT_ITS_SETTING = "type_setting_unknown"  # {key, type}


def unknown(name: str) -> Problem:
    return Problem.of(TypeProblem.UNKNOWN, type=name, types=list(TYPES))


def get(name: str) -> TaskType:
    """The type of that name; a stored batch's type is always known, so only typed names can fail."""
    try:
        return TYPES[name]
    except KeyError:
        raise InvalidInput(Refusal.BATCH_SETTINGS_INVALID, [unknown(name)]) from None
