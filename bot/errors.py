"""Domain errors: each carries a message fit to show the user as it is."""


class DomainError(Exception):
    """Something the user asked for cannot be done; `str(error)` says why in plain words."""


class TaskUnavailable(DomainError):
    def __init__(self, message: str = "This task is no longer available.") -> None:
        super().__init__(message)


class AlreadyAnswered(TaskUnavailable):
    """A repeat of an answer that was already recorded (double tap, replayed update)."""


class NotAnAnswer(DomainError):
    """Typed text the open question does not take (too long to be a value): the task stays open."""

    def __init__(self) -> None:
        super().__init__("That was not taken as the answer: type the value alone, in a few words.")


class NotAllowed(DomainError):
    def __init__(self, message: str = "You are not allowed to do that.") -> None:
        super().__init__(message)


class InvalidInput(DomainError):
    """A file or value was rejected; `problems` lists what is wrong, first ones first."""

    def __init__(self, summary: str, problems: list[str] | None = None, shown: int = 20) -> None:
        self.summary = summary
        self.problems = problems or []
        lines = [summary, *self.problems[:shown]]
        if len(self.problems) > shown:
            lines.append(f"… and {len(self.problems) - shown} more")
        super().__init__("\n".join(lines))
