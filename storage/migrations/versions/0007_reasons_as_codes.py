"""reasons as codes: a stored reason is a code with its parameters, worded by the text layer when shown

The reason columns (batch_workers.reason, payouts.reason, users.suspended_reason) keep their type and
now hold JSON text, {"code": …, "params": {…}}; outbox messages that carry a reason (a hold, a hold's
outcome, a suspension) hold the same object in their parameters. The English the bot wrote before is
read back into its code and parameters; anything else is a person's own words (an admin's reason), kept
as typed under the "text" code. The downgrade words every reason in English again.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08 10:00:00
"""

import json
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIMIT = 512  # every reason column's length
CHUNK = 1000
TEXT = "text"
CONFIRMED = "confirmed_by_admin"
OUTBOX_KINDS = ("hold_for_admins", "hold_outcome", "account_suspended")

# The sentences the bot wrote, by code: the pattern that reads one, and the template that writes it again.
_QUALITY: dict[str, tuple[re.Pattern[str], str]] = {
    "too_fast": (
        re.compile(r"(?P<strikes>\d+) of their last (?P<window>\d+) answers took under (?P<seconds>[\d.]+) s"),
        "{strikes} of their last {window} answers took under {seconds:.1f} s",
    ),
    "same_answer": (
        re.compile(r"the same answer for (?P<run>\d+) products in a row"),
        "the same answer for {run} products in a row",
    ),
    "gold_below": (
        re.compile(r"gold answers right (?P<right>\d+)/(?P<total>\d+), at best (?P<percent>\d+)%"),
        "gold answers right {right}/{total}, at best {percent}%",
    ),
    "no_check_since_quiz": (
        re.compile(r"no check right since the quiz, 0/(?P<total>\d+), at best (?P<percent>\d+)%"),
        "no check right since the quiz, 0/{total}, at best {percent}%",
    ),
}
_CONFIRMED_SUFFIX = "; confirmed by an admin"
_PAYOUT = {
    "payout_no_reason_given": "no reason given",
    "payout_moved_no_money": "its request moved no money (found by db check --repair)",
}
_SUSPENSION = {"suspended_by_admin": "suspended by an admin"}


def _reason(code: str, **params: Any) -> dict[str, Any]:
    return {"code": code, "params": params}


def _number(name: str, text: str) -> float | int:
    return float(text) if name == "seconds" else int(text)


def _quality_reason(text: str) -> dict[str, Any]:
    if text.endswith(_CONFIRMED_SUFFIX):
        return _reason(CONFIRMED, reason=_quality_reason(text.removesuffix(_CONFIRMED_SUFFIX)))
    for code, (pattern, _) in _QUALITY.items():
        found = pattern.fullmatch(text)
        if found:
            return _reason(code, **{name: _number(name, value) for name, value in found.groupdict().items()})
    return _reason(TEXT, text=text)


def _fixed_reason(sentences: dict[str, str]) -> Callable[[str], dict[str, Any]]:
    codes = {sentence: code for code, sentence in sentences.items()}
    return lambda text: _reason(codes[text]) if text in codes else _reason(TEXT, text=text)


def _english(reason: dict[str, Any]) -> str:
    code, params = reason["code"], reason["params"]
    if code == TEXT:
        return str(params["text"])
    if code == CONFIRMED:
        return _english(params["reason"]) + _CONFIRMED_SUFFIX
    if code in _QUALITY:
        return _QUALITY[code][1].format(**params)
    return {**_PAYOUT, **_SUSPENSION}[code]


def _dumps(reason: dict[str, Any]) -> str:
    """As the bot stores a reason; a person's long words are cut so the JSON fits the column."""
    text = json.dumps(reason, ensure_ascii=False, separators=(",", ":"))
    if len(text) <= LIMIT or reason["code"] != TEXT:
        return text
    words = reason["params"]["text"]
    return _dumps(_reason(TEXT, text=words[: len(words) - (len(text) - LIMIT)]))


_suspension = _fixed_reason(_SUSPENSION)
# Each reason column: its table, the table's key, and how the bot's English there reads back.
_COLUMNS: tuple[tuple[str, tuple[str, ...], str, Callable[[str], dict[str, Any]]], ...] = (
    ("batch_workers", ("batch_id", "worker_id"), "reason", _quality_reason),
    ("payouts", ("id",), "reason", _fixed_reason(_PAYOUT)),
    ("users", ("id",), "suspended_reason", _suspension),
)
_outbox = sa.table(
    "outbox", sa.column("id", sa.Integer()), sa.column("kind", sa.String()), sa.column("params", sa.JSON())
)


def upgrade() -> None:
    bind = op.get_bind()
    for table, keys, column, read in _COLUMNS:
        _rewrite(bind, table, keys, column, _stored(read))
    _rewrite_outbox(bind, lambda kind, old: (_suspension if kind == "account_suspended" else _quality_reason)(old))


def downgrade() -> None:
    bind = op.get_bind()
    for table, keys, column, _ in _COLUMNS:
        _rewrite(bind, table, keys, column, lambda text: _english(json.loads(text))[:LIMIT])
    _rewrite_outbox(bind, lambda kind, old: _english(old))


def _stored(read: Callable[[str], dict[str, Any]]) -> Callable[[str], str]:
    return lambda text: _dumps(read(text))


def _rewrite(bind: Connection, table: str, keys: tuple[str, ...], column: str, change: Callable[[str], str]) -> None:
    rows = sa.table(table, *(sa.column(key, sa.BigInteger()) for key in keys), sa.column(column, sa.String()))
    found = sa.select(*(rows.c[key] for key in keys), rows.c[column]).where(rows.c[column].is_not(None))
    statement = (
        sa.update(rows)
        .where(*(rows.c[key] == sa.bindparam(f"k_{key}") for key in keys))
        .values({column: sa.bindparam("value")})
    )
    for chunk in _chunks(bind.execute(found.order_by(*(rows.c[key] for key in keys))).all()):
        values = [
            {**{f"k_{key}": row[i] for i, key in enumerate(keys)}, "value": change(row[len(keys)])} for row in chunk
        ]
        bind.execute(statement, values)


def _rewrite_outbox(bind: Connection, change: Callable[[str, Any], Any]) -> None:
    """The reason in the parameters of every message that carries one, sent or not."""
    found = sa.select(_outbox.c.id, _outbox.c.kind, _outbox.c.params).where(_outbox.c.kind.in_(OUTBOX_KINDS))
    statement = sa.update(_outbox).where(_outbox.c.id == sa.bindparam("k_id")).values(params=sa.bindparam("value"))
    for chunk in _chunks(bind.execute(found.order_by(_outbox.c.id)).all()):
        values = [
            {"k_id": id_, "value": {**params, "reason": change(kind, params["reason"])}}
            for id_, kind, params in chunk
            if params.get("reason") is not None
        ]
        if values:
            bind.execute(statement, values)


def _chunks(rows: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]
