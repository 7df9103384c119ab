"""The values of every status column, in one place: storage's queries and bot's rules name the same ones.

They are `StrEnum`s, so a value is the very string stored in its column and compares equal to it.
"""

from enum import StrEnum


class BatchStatus(StrEnum):
    """Batch.status: a draft is launched (active), may pause, and ends completed or cancelled."""

    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


# Launched and not yet completed or cancelled: such a batch still holds its reserve, and may be
# paused, resumed, cancelled or given more quizzes.
UNDER_WAY = (BatchStatus.ACTIVE, BatchStatus.PAUSED)


class AssignmentStatus(StrEnum):
    """Assignment.status: a product shown to a worker (reserved) ends answered or given back."""

    RESERVED = "reserved"
    ANSWERED = "answered"
    EXPIRED = "expired"  # its reservation ran out
    SKIPPED = "skipped"  # the worker tapped Skip
    RELEASED = "released"  # Stop, a blocked bot, or a batch paused or cancelled


class CreditState(StrEnum):
    """Assignment.credit_state: an answer's pay is held (pending), then available, unless rejected."""

    PENDING = "pending"
    AVAILABLE = "available"
    REJECTED = "rejected"  # taken back by quality control


class WorkerState(StrEnum):
    """BatchWorker.state: where one worker stands in one batch."""

    QUALIFYING = "qualifying"  # in the quiz
    FAILED = "failed"  # the quiz; may retry at retry_at
    ACTIVE = "active"
    REMOVED = "removed"  # failed the gold checks
    HELD = "held"  # too fast, or one answer for all: an admin decides


class PayoutStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"


class DisputeState(StrEnum):
    """GoldDispute.status: open until the requester or an admin decides."""

    OPEN = "open"
    CORRECTED = "corrected"  # the gold becomes the worker's answer
    DROPPED = "dropped"  # the item is no longer gold
    UPHELD = "upheld"  # the gold stands


class OutboxState(StrEnum):
    """OutboxMessage.state: a notice waits (and is retried) until Telegram takes it, or it is given up."""

    PENDING = "pending"
    SENT = "sent"
    GIVEN_UP = "given_up"  # the user blocked the bot, or Telegram refused the message as such
