"""Reading what requesters and workers type, the same way for every type: yes/no values, typed labels,
values quoted back in a problem, and the problems every type may find in a row."""

import unicodedata

from bot.errors import ProblemCode

QUOTED_LIMIT = 60  # a value quoted in a problem: enough to find it in the file, short enough for many problems
YES, NO = "yes", "no"
_YES_WORDS = ("yes", "y", "true", "1")
_NO_WORDS = ("no", "n", "false", "0")


class RowProblem(ProblemCode):
    """What is wrong with a file row, found by the core's checks and by any type's."""

    EMPTY = "column_empty"  # {column}
    NO_PHOTO = "no_photo"  # {type}: image_url is empty, and the type shows the photo
    NOT_YES_NO = "gold_not_yes_no"  # {column, value}
    NOT_YES_NO_OR_NO_IMAGE = "gold_not_yes_no_no_image"  # {column, value}


def clip(value: str) -> str:
    """A value from the file as a problem quotes it: a long one cut, so that many problems fit in a message."""
    return value if len(value) <= QUOTED_LIMIT else value[: QUOTED_LIMIT - 1] + "…"


def yes_no(value: str) -> str | None:
    """ "yes" or "no" for the ways a file writes them; None for anything else."""
    word = value.strip().lower()
    return YES if word in _YES_WORDS else NO if word in _NO_WORDS else None


def typed_label(value: str) -> str:
    """A typed value as compared and grouped: NFKC-normalised, trimmed, inner spaces single, case-folded."""
    return " ".join(unicodedata.normalize("NFKC", value).split()).casefold()
