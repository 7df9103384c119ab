"""The benchmark scripts are run by hand, not by the suite: this at least keeps them importable and their
command lines working, so a refactor cannot leave one broken until someone next measures."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda path: path.name)
def test_benchmark_starts(script: Path) -> None:
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout


CROWD_SIM = Path(__file__).resolve().parents[1] / "benchmarks" / "crowd_sim.py"
SUMMARY_ROW = re.compile(r"^(\w+) +(QC, overlap 3-5|QC, overlap 3|no QC, overlap 3) +(\d\.\d{3}) +(\d+\.\d\d) ")


def test_crowd_sim_runs_every_task_type() -> None:
    """A tiny crowd through the real work loop for each type: a summary line per type and run, with figures."""
    done = subprocess.run(
        [sys.executable, str(CROWD_SIM), "--workers", "8", "--items", "20", "--seed", "3"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    rows = [match.groups() for line in done.stdout.splitlines() if (match := SUMMARY_ROW.match(line))]
    types = ("categorize", "validate", "attributes", "image_match", "image_quality")
    assert sorted((name, run) for name, run, _, _ in rows) == sorted(
        (name, run) for name in types for run in ("QC, overlap 3", "QC, overlap 3-5", "no QC, overlap 3")
    )
    # Without quality control nobody is kept out, so every product gets its three answers and some labels are right.
    for name, run, accuracy, answers in rows:
        assert 0.0 <= float(accuracy) <= 1.0
        if run.startswith("no QC"):
            assert float(answers) == 3.0 and float(accuracy) > 0.0, name
