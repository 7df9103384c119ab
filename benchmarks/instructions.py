"""Instructions per answer, counted by valgrind's callgrind: `benchmarks/answers.py`'s ratio without the noise.

The CPU time of a bot process on a shared machine moves by a factor of two from one run to the next, and
the ratio crowdshelf/minimal with it. The number of instructions the process runs for an answer does not:
callgrind counts them, whatever else the machine is doing. So this runs the same harness as
`benchmarks/answers.py` (the same fake Bot API server, simulated workers, bare application and bot) with
each bot process under `valgrind --tool=callgrind`, counting only over the measured window (switched on and
off with `callgrind_control`), and prints the instructions per answer of each application and their ratio.
Every thread of the bot process is counted, the SQLite driver's included.

Under callgrind the bot runs about 50 times slower, so the runs are short in answers and long in seconds:
with the defaults (5 workers, 40 s of warm-up, 60 s windows, 2 rounds) a run takes about ten minutes.

    python benchmarks/instructions.py
    python benchmarks/instructions.py --floor         # also answers.py's floor: 6 statements an answer, no logic
    python benchmarks/instructions.py --webhook --rounds 1

Needs valgrind (`apt-get install valgrind`). SQLite only; the figures are printed, never enforced.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import answers
from benchmarks.answers import CROWDSHELF, FLOOR, BotRunner, RunResult, make_pool, measure, say

SLOWER = 60  # how many times longer every wait on a bot under callgrind may take


class Callgrind:
    """Bot processes started under callgrind, their counting switched on for the measured window only."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.pids: list[int] = []  # of the runs' first instances, in order
        wrapper = directory / "python-under-callgrind"
        # multiprocessing starts its resource tracker with the same executable: that one runs as it is.
        wrapper.write_text(
            "#!/bin/sh\n"
            f'case "$*" in *resource_tracker*) exec "{sys.executable}" "$@";; esac\n'
            f'exec valgrind --tool=callgrind --instr-atstart=no -q --callgrind-out-file="{directory}/callgrind.%p" '
            f'"{sys.executable}" "$@"\n'
        )
        wrapper.chmod(0o755)
        self.executable = str(wrapper)

    async def window(self, runners: list[BotRunner], opening: bool) -> None:
        pid = runners[0].process.pid
        assert pid is not None
        if opening:
            self.pids.append(pid)
        switch = ["callgrind_control", "--instr=on" if opening else "--instr=off", str(pid)]
        await asyncio.to_thread(subprocess.run, switch, check=True, capture_output=True)

    def instructions(self, pid: int) -> int:
        """The instructions process `pid` ran while counting was on (written when it ended)."""
        for line in (self.directory / f"callgrind.{pid}").read_text().splitlines():
            if line.startswith("totals:"):  # the sum of what was counted ("summary:" counts from the start, off)
                return int(line.split()[1])
        raise RuntimeError(f"callgrind wrote no total for process {pid}")


async def run(args: argparse.Namespace, directory: Path, callgrind: Callgrind) -> None:
    kinds = ["minimal", CROWDSHELF, *([FLOOR] if args.floor else [])]
    runs: dict[str, list[tuple[RunResult, int]]] = {kind: [] for kind in kinds}

    async def counted(kind: str) -> None:
        pool = await make_pool(directory, "instructions", 2_000) if kind == CROWDSHELF else None
        try:
            url = pool.url if pool else f"sqlite+aiosqlite:///{directory / 'floor.db'}" if kind == FLOOR else ""
            result = await measure(kind, kind, url, args.workers, args.warmup, args.seconds, hooked=args.webhook)
        finally:
            if pool:
                pool.remove()
        spent = callgrind.instructions(callgrind.pids[-1])
        runs[kind].append((result, spent))
        say(
            f"{kind} round {len(runs[kind])}",
            f"{result.answers} answers, {spent / result.answers / 1e6:.2f} M instructions/answer",
        )

    for _ in range(args.rounds):
        for kind in kinds:
            await counted(kind)
    per_answer = {kind: [spent / result.answers for result, spent in done] for kind, done in runs.items()}
    for kind, figures in per_answer.items():
        say(f"{kind} M instructions/answer", " ".join(f"{figure / 1e6:.2f}" for figure in figures))
    for kind in kinds[1:]:
        ratios = [minimal / ours for minimal, ours in zip(per_answer["minimal"], per_answer[kind], strict=True)]
        rounds = ", ".join(f"{ratio:.2f}" for ratio in ratios)
        say(f"ratio {kind}/minimal by instructions per answer", f"{statistics.median(ratios):.2f} (rounds: {rounds})")
    say("target", "crowdshelf/minimal >= 0.7; the floor (6 statements, no logic) is the most any such bot reaches")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=5, help="simulated workers (default 5)")
    parser.add_argument("--warmup", type=float, default=40, help="seconds before the window (default 40)")
    parser.add_argument("--seconds", type=float, default=60, help="the measured window (default 60)")
    parser.add_argument("--rounds", type=int, default=2, help="minimal, crowdshelf (and the floor), this many times")
    parser.add_argument("--webhook", action="store_true", help="updates by webhook, for both applications")
    parser.add_argument("--floor", action="store_true", help="also the bare app writing 6 statements an answer")
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    say("benchmark", "instructions per answer under callgrind, the harness of benchmarks/answers.py")
    say("workers", args.workers)
    say("updates", "by webhook" if args.webhook else "by long polling")
    with tempfile.TemporaryDirectory(prefix="crowdshelf-instructions-") as scratch:
        directory = Path(scratch)
        callgrind = Callgrind(directory)
        answers.PATIENCE = SLOWER
        answers.WINDOW_OBSERVERS.append(callgrind.window)
        answers.multiprocessing.get_context("spawn").set_executable(callgrind.executable)
        asyncio.run(run(args, directory, callgrind))
    return 0


if __name__ == "__main__":
    sys.exit(main())
