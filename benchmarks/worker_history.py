"""How long a claim takes as one worker's answered products pile up while no one else answers them.

The claim (`storage.assignments.claim_open_item`) prefers started items, most slots taken first. While a
batch has fewer workers than its overlap, none of a worker's answered products closes, and they are all
started: a claim that walked every started item would pass over each of them, and take longer with every
answer. It looks at the first `STARTED_WINDOW` started items only, then at the fresh ones, so its time
should stay flat. One worker, one batch of `--products` products (overlap 3), answering in a loop
through `bot.work.answer`; every `--every` answers it prints the average time of the claim statement over
the last 200, and at the end the last window's average against the first's (the 1,000,000-item pool's
target, within 1.5x, is the yardstick).

    python benchmarks/worker_history.py                               # SQLite, 4,000 answers
    python benchmarks/worker_history.py --database-url postgresql+asyncpg://…   # the database is emptied
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.concurrent_answers import FIRST_WORKER, one_batch, time_statements
from benchmarks.two_processes import empty_database
from bot import work

WINDOW = 200  # claims averaged per figure
CLAIM = "UPDATE items SET slots_taken"  # the claim's statement, alone (SQLite) or in a WITH (PostgreSQL)


async def measure(url: str, answers: int, every: int) -> None:
    db, services, category = await one_batch(url, answers + WINDOW, workers=1)
    claims: list[float] = []

    def claim_timed(statement: str, seconds: float) -> None:
        if CLAIM in statement:
            claims.append(seconds)

    time_statements(db, claim_timed)

    def window() -> float:
        return sum(claims[-WINDOW:]) / len(claims[-WINDOW:]) * 1000

    task = await work.next_task(services, FIRST_WORKER)
    answered, first = 0, 0.0
    while task is not None and answered < answers:
        task = (await work.answer(services, FIRST_WORKER, task.assignment_id, 0, category)).next_task
        answered += 1
        if answered == WINDOW:
            first = window()
        if answered % every == 0:
            print(f"answered and still open: {answered:>6,}  claim ms (last {WINDOW}): {window():6.2f}", flush=True)
    await db.dispose()
    if first:
        ratio = window() / first
        print(
            f"claim ratio last/first window: {ratio:.2f} (the pool's yardstick <= 1.5: {'met' if ratio <= 1.5 else 'MISSED'})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="", help="PostgreSQL's async URL (emptied); default: SQLite")
    parser.add_argument("--answers", type=int, default=4_000, help="the lone worker's answers (default 4,000)")
    parser.add_argument("--every", type=int, default=1_000, help="a figure every this many answers (default 1,000)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="crowdshelf-history-") as scratch:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(scratch) / 'history.db'}"
        print(f"database: {url.split('://')[0]}")
        asyncio.run(empty_database(url))
        asyncio.run(measure(url, args.answers, args.every))


if __name__ == "__main__":
    main()
