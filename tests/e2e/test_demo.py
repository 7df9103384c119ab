"""`crowdshelf demo`: a small crowd labels part of the bundled sample through the local Bot API server,
and the summary it prints says what the database holds."""

import csv
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import func, select

from bot.wiring.cli import wants_demo
from bot.wiring.config import Settings
from sandbox.crowd import HONEST
from sandbox.demo import SAMPLE, TRUTH_COLUMN, run_demo
from sandbox.options import DemoOptions
from sandbox.summary import CHART_FILE, NO_TASK, SUMMARY_FILE
from storage import ledger
from storage.db import Database
from storage.models import Assignment, BatchWorker, Payout
from storage.states import AssignmentStatus, PayoutStatus

ROOT = Path(__file__).resolve().parents[2]
SMALL = DemoOptions(workers=8, spammers=4, items=14, seed=2)


async def test_a_small_demo_says_what_the_database_holds(database_url: str, db: Database) -> None:
    shown = io.StringIO()
    summary = await run_demo(SMALL, Console(file=shown, width=120), database_url)
    try:
        async with db.read() as session:
            answers = await session.scalar(
                select(func.count(Assignment.id)).where(Assignment.status == AssignmentStatus.ANSWERED)
            )
            states = dict((await session.execute(select(BatchWorker.worker_id, BatchWorker.state))).all())
            totals = await ledger.account_totals(session)
            approved = (
                await session.scalars(select(Payout.amount_micros).where(Payout.status == PayoutStatus.APPROVED))
            ).all()
            payouts = await session.scalar(select(func.count(Payout.id)))
        assert summary.answers == answers > 0
        assert {line.worker.id: line.state for line in summary.workers if line.state != NO_TASK} == states
        assert len(summary.workers) == SMALL.workers
        assert sum(line.worker.kind != HONEST for line in summary.workers) == SMALL.spammers
        assert {(a.kind, a.owner, a.balance) for a in summary.accounts} == {
            (t.kind, t.owner_id, t.total) for t in totals
        }
        assert summary.ledger_total == sum(t.total for t in totals) == 0 and summary.ledger_problems == ()
        assert (summary.payouts_requested, summary.payouts_approved) == (payouts, len(approved))
        assert summary.paid_out == sum(approved)

        # The labels file the requester received, against the sample's truth, gives the summary's accuracy.
        (labels_file,) = [path for path in summary.results_files if path.name.endswith("-results.csv")]
        labels = {row["item_id"]: row["label_path"] for row in csv.DictReader(io.StringIO(labels_file.read_text()))}
        sample = list(csv.DictReader(io.StringIO(SAMPLE.read_text())))[: SMALL.items]
        assert sorted(labels) == sorted(row["item_id"] for row in sample)
        scored = [row for row in sample if not row["gold_category"]]
        right = sum(labels[row["item_id"]] == row[TRUTH_COLUMN] for row in scored)
        assert summary.scored == len(scored)
        assert summary.accuracy == right / len(scored)
        assert summary.majority_accuracy is not None

        printed = shown.getvalue()
        assert f"{summary.accuracy:.1%} with quality control" in printed
        assert "the books balance" in printed
        assert f"{summary.payouts_approved} approved" in printed
        assert "the books balance" in (summary.folder / SUMMARY_FILE).read_text()
        assert (summary.folder / CHART_FILE).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    finally:
        shutil.rmtree(summary.folder)


def test_the_demo_command_prints_its_summary(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key not in ("BOT_TOKEN", "DATABASE_URL")}
    done = subprocess.run(
        [sys.executable, "-m", "bot.wiring.cli", "demo", "--workers", "4", "--spammers", "1", "--items", "8"],
        cwd=tmp_path,  # no .env there
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert "Label accuracy" in done.stdout and "the books balance" in done.stdout, done.stdout[-3000:]
    assert "Database: deleted" in done.stdout
    assert not list(tmp_path.iterdir()), "the demo leaves nothing in the folder it was started from"


@pytest.mark.parametrize(
    ("token", "flag", "demo"),
    [
        ("", True, True),  # make run, no token: the demo
        ("changeme", True, True),  # .env.example's placeholder is no token either
        ("123456:ABC-real", True, False),  # make run with a token: the bot
        ("", False, False),  # crowdshelf run, no token: the one-line refusal, as before
    ],
)
def test_make_run_shows_the_demo_only_without_a_token(token: str, flag: bool, demo: bool) -> None:
    assert wants_demo(Settings(bot_token=token, _env_file=None), flag) is demo


def test_make_run_asks_for_the_demo_without_a_token() -> None:
    recipe = (ROOT / "Makefile").read_text().split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "crowdshelf run --demo-without-token" in recipe
