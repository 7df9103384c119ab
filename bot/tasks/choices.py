"""What the types with requester-named questions share (attributes, image_quality): the rule for a
question's key, and reading a chosen option."""

import re

from bot.tasks.base import Question
from bot.tasks.reading import quoted

GOLD_PREFIX = "gold_"
SETTINGS_SUMMARY = "The batch settings are not valid."
# A key becomes the gold column gold_<key> and the results' columns: safe in any file and any header.
_KEY = re.compile(r"[a-z][a-z0-9_]{0,31}")


def key_problem(setting: str, key: str) -> str | None:
    """Why a requester's question key cannot be one; None when it is fine."""
    if _KEY.fullmatch(key):
        return None
    return (
        f"{setting}: the key {quoted(key)} must be 1–32 lower-case letters, digits or underscores,"
        " starting with a letter"
    )


def gold_column(key: str) -> str:
    return GOLD_PREFIX + key


def chosen(question: Question, label: str) -> str | None:
    """The option a press chose (the core turns a button's option index into its label), if it is one."""
    return label if label in question.options else None
