"""One clock for the whole database layer, so tests can reason about time."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
