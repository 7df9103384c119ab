"""Who is talking to the bot: registration, roles, reachability, and lifetime gold record and level."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.quality.levels import level_of, rank_of
from bot.reasons import Reason, loads_optional
from bot.wiring.config import Settings
from bot.wiring.services import Services
from storage import assignments
from storage.assignments import answer_counts
from storage.models import LANGUAGE_LENGTH, Assignment, User
from storage.sql import dialect_module
from storage.states import AssignmentStatus


@dataclass(frozen=True)
class Person:
    id: int
    first_name: str
    is_admin: bool
    is_requester: bool
    suspended_reason: Reason | None


def display_name(user_id: int, username: str | None, first_name: str | None) -> str:
    """How a user is named to admins and requesters: @username when they have one, else first name, else id."""
    return f"@{username}" if username else first_name or str(user_id)


async def register(
    session: AsyncSession,
    settings: Settings,
    user_id: int,
    first_name: str,
    username: str | None,
    now: datetime,
    language: str | None = None,
) -> Person:
    """Create or refresh the user; anyone who writes to the bot is reachable again. `language` is their
    Telegram language tag, kept so that messages sent to them later are in it.

    One INSERT that refreshes the row when it is there already: a new user whose first updates reach
    two processes at once is registered once, and neither of them fails on the other's row.
    """
    name = first_name[:256]
    seen = {"first_name": name, "username": username, "is_reachable": True, "last_seen_at": now}
    if language:  # an update without one keeps the language last seen
        seen["language"] = language[:LANGUAGE_LENGTH]
    users = User.__table__
    statement = (
        dialect_module(session)
        .insert(users)
        .values(id=user_id, is_requester=user_id in settings.requester_ids, **seen)
        .on_conflict_do_update(index_elements=[users.c.id], set_=seen)
        .returning(users.c.is_requester, users.c.suspended_reason)
    )
    is_requester, suspended_reason = (await session.execute(statement)).one()
    return Person(
        id=user_id,
        first_name=name,
        is_admin=user_id in settings.admin_ids,
        is_requester=is_requester or user_id in settings.requester_ids,
        suspended_reason=loads_optional(suspended_reason),
    )


async def register_user(
    services: Services, user_id: int, first_name: str, username: str | None, language: str | None = None
) -> Person:
    """Someone wrote to the bot: their user row, created or refreshed."""
    async with services.db.write() as session:
        now = services.clock.now()
        return await register(session, services.settings, user_id, first_name, username, now, language)


async def languages(services: Services, user_ids: Iterable[int]) -> dict[int, str | None]:
    """The Telegram language tag each of these users last wrote in (None: never seen, or not said)."""
    async with services.db.read() as session:
        rows = await session.execute(select(User.id, User.language).where(User.id.in_(set(user_ids))))
        return {user_id: language for user_id, language in rows}


async def user_blocked_bot(services: Services, user_id: int) -> int:
    """The user blocked the bot; returns how many reservations were released."""
    async with services.db.write() as session:
        return await mark_unreachable(session, user_id)


async def await_typed(services: Services, user_id: int, awaiting: str) -> None:
    """The user's next typed message answers `awaiting` (a question the bot asks them)."""
    async with services.db.write() as session:
        await expect_input(session, user_id, awaiting)


async def question_answered(services: Services, user_id: int) -> str | None:
    """What the user's typed message answers, if the bot asked them something; used once."""
    async with services.db.read() as session:
        awaiting = await expected_input(session, user_id)
    if awaiting:  # taken in a write, so two quick messages cannot both answer the question
        async with services.db.write() as session:
            awaiting = await take_expected_input(session, user_id)
    return awaiting


async def mark_unreachable(session: AsyncSession, user_id: int) -> int:
    """The user blocked the bot: stop offering them work and free what they held. Returns released count."""
    await session.execute(update(User).where(User.id == user_id).values(is_reachable=False))
    return await release_reservations(session, user_id)


async def release_reservations(session: AsyncSession, user_id: int) -> int:
    held = await assignments.open_for_worker(session, user_id, lock_rows=True)
    for assignment in held:
        await assignments.give_back(session, assignment, AssignmentStatus.RELEASED)
    return len(held)


async def expect_input(session: AsyncSession, user_id: int, awaiting: str | None) -> None:
    """Remember what the user's next typed message answers (None: nothing, typing searches)."""
    await session.execute(update(User).where(User.id == user_id).values(awaiting=awaiting))


async def expected_input(session: AsyncSession, user_id: int) -> str | None:
    return await session.scalar(select(User.awaiting).where(User.id == user_id))


async def take_expected_input(session: AsyncSession, user_id: int) -> str | None:
    """What the user's typed message answers, cleared so it is used once."""
    user = await session.get(User, user_id)
    if user is None or user.awaiting is None:
        return None
    awaiting, user.awaiting = user.awaiting, None
    return awaiting


async def record_gold(session: AsyncSession, worker_id: int, graded: int, right: int) -> str | None:
    """Add an answer's gold answers (`graded`, `right` of them) to the worker's lifetime counters and set the
    level they earn; returns the level's name when this answer raised it."""
    row = (
        await session.execute(
            update(User)
            .where(User.id == worker_id)
            .values(gold_answers=User.gold_answers + graded, gold_correct=User.gold_correct + right)
            .returning(User.gold_answers, User.gold_correct, User.level)
            .execution_options(synchronize_session=False)
        )
    ).first()
    if row is None:
        return None
    answers, right, was = row
    rank = rank_of(answers, right)
    if rank == was:
        return None
    await session.execute(
        update(User).where(User.id == worker_id).values(level=rank).execution_options(synchronize_session=False)
    )
    return level_of(answers, right).name if rank > was else None


async def recount_gold(session: AsyncSession, worker_id: int) -> None:
    """Count the worker's lifetime gold answers and level again from their answers (after a regrade)."""
    counts = await answer_counts(session, Assignment.worker_id == worker_id)
    await session.execute(
        update(User)
        .where(User.id == worker_id)
        .values(
            gold_answers=counts.gold,
            gold_correct=counts.gold_correct,
            level=rank_of(counts.gold, counts.gold_correct),
        )
        .execution_options(synchronize_session=False)
    )
