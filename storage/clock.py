"""The system's time (UTC, timezone-aware): what the services' clock reads in production, and the
stamp a new row gets by default. Use cases read the time from the services' clock instead, so tests
can move it."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
