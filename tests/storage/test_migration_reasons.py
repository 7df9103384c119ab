"""Migration 0007 turns the English reasons the bot stored into codes with parameters, and back.

A database at 0006 (the run of test_migration_data) gets the reasons the bot wrote before: holds and
removals of workers, rejected payouts, suspensions, and outbox messages that carry them; an admin's own
words among them. Upgraded, each is a code the text layer words exactly as it was written; downgraded
again, the database is what it was.
"""

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection

from bot.reasons import Reason, loads
from handlers import messages
from storage import migrate
from storage.models import UTCDateTime
from tests.conftest import BACKENDS
from tests.storage.test_migration_data import OLD_RUN, _contents, _empty_database, _revision, _sync

OLD, NEW = "0006", "0007"
AT = datetime(2026, 12, 1, 10, tzinfo=UTC)
HELD_FAST = "3 of their last 10 answers took under 2.1 s"
REMOVED = "gold answers right 1/5, at best 62%; confirmed by an admin"
SAME = "the same answer for 10 products in a row"
PAYOUT_REASONS = {
    1: "no reason given",
    2: "its request moved no money (found by db check --repair)",
    3: "Looks like 'fraud' \\ \"really\"",
    4: None,
}
SUSPENSIONS = {100: None, 201: "suspended by an admin", 202: "copying answers", 203: None}
OUTBOX = {
    1: ("hold_for_admins", {"batch_id": 1, "batch_name": "Cookware", "worker_id": 201, "reason": HELD_FAST}),
    2: (
        "hold_outcome",
        {"batch_id": 1, "batch_name": "Cookware", "worker_id": 202, "removed": True, "reason": SAME, "rejected": 2},
    ),
    3: ("account_suspended", {"reason": "suspended by an admin"}),
    4: ("account_suspended", {"reason": "copying answers"}),
    5: ("payout_requested", {"payout_id": 1}),
}
REASONS = [
    "UPDATE batch_workers SET state = 'held', reason = '" + HELD_FAST + "' WHERE worker_id = 201",
    "UPDATE batch_workers SET state = 'removed', reason = '" + REMOVED + "' WHERE worker_id = 202",
    "UPDATE batch_workers SET state = 'held', reason = '" + SAME + "' WHERE worker_id = 203",
    "UPDATE users SET suspended_reason = 'suspended by an admin' WHERE id = 201",
    "UPDATE users SET suspended_reason = 'copying answers' WHERE id = 202",
]
# What each English reason is as a code: the ones the bot wrote are read back, an admin's words kept.
CODES = {
    HELD_FAST: ("too_fast", {"strikes": 3, "window": 10, "seconds": 2.1}),
    REMOVED: (
        "confirmed_by_admin",
        {"reason": {"code": "gold_below", "params": {"right": 1, "total": 5, "percent": 62}}},
    ),
    SAME: ("same_answer", {"run": 10}),
    "no reason given": ("payout_no_reason_given", {}),
    "its request moved no money (found by db check --repair)": ("payout_moved_no_money", {}),
    "suspended by an admin": ("suspended_by_admin", {}),
}


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database at 0006 holding test_migration_data's run and the reasons above."""
    with _empty_database(request.param, tmp_path) as url:
        migrate.upgrade(url, "0005")
        _sync(url, lambda connection: [connection.execute(sa.text(statement)) for statement in OLD_RUN])
        migrate.upgrade(url, OLD)
        _sync(url, _add_reasons)
        yield url


def test_the_upgrade_makes_each_reason_a_code_worded_as_before(database: str) -> None:
    before = _sync(database, _contents)

    migrate.upgrade(database, NEW)

    after = _sync(database, _contents)
    assert _sync(database, _revision) == NEW
    for table, column in (("batch_workers", "reason"), ("payouts", "reason"), ("users", "suspended_reason")):
        for old, new in zip(before[table], after[table], strict=True):
            assert {**old, column: None} == {**new, column: None}, "nothing else changes"
            if old[column] is None:
                assert new[column] is None
                continue
            stored = loads(new[column])
            assert (stored.code, _plain(stored)["params"]) == CODES.get(old[column], ("text", {"text": old[column]}))
            assert messages.reason_text(stored) == old[column]
    for old, new in zip(before["outbox"], after["outbox"], strict=True):
        assert {**old, "params": None} == {**new, "params": None}
        old_params, new_params = _params(old), _params(new)
        if "reason" not in old_params:
            assert new_params == old_params
            continue
        reason = Reason.from_dict(new_params.pop("reason"))
        assert messages.reason_text(reason) == old_params.pop("reason") and new_params == old_params


def test_the_downgrade_gives_back_every_reason_as_it_was(database: str) -> None:
    before = _sync(database, _contents)
    migrate.upgrade(database, NEW)

    command.downgrade(migrate.alembic_config(database), OLD)

    assert _sync(database, _revision) == OLD
    after = _sync(database, _contents)
    assert {table: rows for table, rows in after.items() if table != "outbox"} == {
        table: rows for table, rows in before.items() if table != "outbox"
    }
    assert [_params(row) for row in after["outbox"]] == [_params(row) for row in before["outbox"]]


def _add_reasons(connection: Connection) -> None:
    for statement in REASONS:
        connection.execute(sa.text(statement))
    payouts = sa.table(
        "payouts",
        *(sa.column(name) for name in ("id", "worker_id", "amount_micros", "method_kind", "method_address")),
        *(sa.column(name) for name in ("status", "reason")),
        sa.column("requested_at", UTCDateTime()),
    )
    connection.execute(
        sa.insert(payouts),
        [
            {
                "id": payout_id,
                "worker_id": 201,
                "amount_micros": 10_000_000,
                "method_kind": "paypal",
                "method_address": "ann@example.com",
                "status": "requested" if reason is None else "rejected",
                "reason": reason,
                "requested_at": AT,
            }
            for payout_id, reason in PAYOUT_REASONS.items()
        ],
    )
    outbox = sa.table(
        "outbox",
        *(sa.column(name) for name in ("id", "dedupe_key", "chat_id", "kind", "state", "attempts")),
        sa.column("params", sa.JSON()),
        *(sa.column(name, UTCDateTime()) for name in ("created_at", "next_attempt_at")),
    )
    connection.execute(
        sa.insert(outbox),
        [
            {
                "id": id_,
                "dedupe_key": f"test:{id_}",
                "chat_id": 201,
                "kind": kind,
                "params": params,
                "state": "pending",
                "attempts": 0,
                "created_at": AT,
                "next_attempt_at": AT,
            }
            for id_, (kind, params) in OUTBOX.items()
        ],
    )


def _params(row: dict[str, Any]) -> dict[str, Any]:
    """An outbox row's parameters, as the JSON column gives them back on either database."""
    params = row["params"]
    return json.loads(params) if isinstance(params, str) else dict(params)


def _plain(reason: Reason) -> dict[str, Any]:
    return reason.as_dict()
