"""Reading what requesters and workers type, the same way for every type: yes/no values, typed labels,
and values quoted back in a problem."""

import unicodedata

QUOTED_LIMIT = 60  # a value quoted in a problem: enough to find it in the file, short enough for many problems
YES, NO = "yes", "no"
_YES_WORDS = ("yes", "y", "true", "1")
_NO_WORDS = ("no", "n", "false", "0")


def quoted(value: str) -> str:
    """A value from the file as a problem quotes it: a long one cut, so that many problems fit in a message."""
    return repr(value if len(value) <= QUOTED_LIMIT else value[: QUOTED_LIMIT - 1] + "…")


def yes_no(value: str) -> str | None:
    """ "yes" or "no" for the ways a file writes them; None for anything else."""
    word = value.strip().lower()
    return YES if word in _YES_WORDS else NO if word in _NO_WORDS else None


def typed_label(value: str) -> str:
    """A typed value as compared and grouped: NFKC-normalised, trimmed, inner spaces single, case-folded."""
    return " ".join(unicodedata.normalize("NFKC", value).split()).casefold()
