"""Every task type by its name: adding a type is its module and a line here."""

from bot.errors import InvalidInput
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


def get(name: str) -> TaskType:
    """The type of that name; a stored batch's type is always known, so only typed names can fail."""
    try:
        return TYPES[name]
    except KeyError:
        raise InvalidInput(f"type {name!r} is not supported; use one of: {', '.join(TYPES)}") from None
