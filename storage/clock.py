"""One clock for the whole bot (UTC, timezone-aware): every "now" comes from here, so tests can move time."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
