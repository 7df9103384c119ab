"""What the types with requester-named questions share (attributes, image_quality): the rule for a
question's key, and reading a chosen option."""

import re
from collections.abc import Callable
from typing import Any

from bot.errors import Problem, ProblemCode
from bot.tasks.base import Question
from bot.tasks.reading import clip

GOLD_PREFIX = "gold_"
# A key becomes the gold column gold_<key> and the results' columns: safe in any file and any header.
_KEY = re.compile(r"[a-z][a-z0-9_]{0,31}")


class KeyProblem(ProblemCode):
    """A requester's question key in a setting (attributes, questions) that cannot be one: {setting, key}."""

    NOT_A_KEY = "question_key_not_a_key"
    REPEATED = "question_key_repeated"


def key_problem(setting: str, key: str) -> Problem | None:
    """Why a requester's question key cannot be one; None when it is fine."""
    if _KEY.fullmatch(key):
        return None
    return Problem.of(KeyProblem.NOT_A_KEY, setting=setting, key=clip(key))


def repeated_key(setting: str, key: str) -> Problem:
    return Problem.of(KeyProblem.REPEATED, setting=setting, key=clip(key))


def read_keyed(
    setting: str, parts: list[str], read: Callable[[str], tuple[dict[str, Any], list[Problem]]]
) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Each part of a setting read by `read` into an entry with its "key", and every problem; a key given
    twice is one more."""
    entries: list[dict[str, Any]] = []
    problems: list[Problem] = []
    keys: set[str] = set()
    for part in parts:
        entry, found = read(part)
        problems += found
        if entry["key"] in keys:
            problems.append(repeated_key(setting, entry["key"]))
        keys.add(entry["key"])
        entries.append(entry)
    return entries, problems


def gold_column(key: str) -> str:
    return GOLD_PREFIX + key


def chosen(question: Question, label: str) -> str | None:
    """The option a press chose (the core turns a button's option index into its label), if it is one."""
    return label if label in question.options else None
