"""What a person reads of the core's codes: the text layer's words, so tests can say it as before."""

from collections.abc import Iterable

from bot.errors import DomainError, InvalidInput, Problem
from handlers import messages


def said(problems: Iterable[Problem]) -> tuple[str, ...]:
    """Each problem's words, without the row it belongs to."""
    return tuple(messages.problem_text(problem) for problem in problems)


def refusal(error: DomainError) -> str:
    """The refusal as the command line prints it: what is wrong, then a line per problem (a row's problems
    together), the first 20 of them."""
    return messages.plain(error)


def problem_lines(error: InvalidInput) -> list[str]:
    """Every problem line of a refusal: "Line 3: title is empty; brand starts with '@', …"."""
    return messages.problem_lines(error.problems)
