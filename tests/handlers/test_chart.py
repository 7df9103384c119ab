"""The batch chart as a picture: a PNG for a phone whatever the figures, and matplotlib loaded only for it."""

import io
import subprocess
import sys
import warnings
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from bot.batches.chart import ChartData, WorkerAccuracy
from handlers import chart

START = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)


def figures(span: timedelta, workers: int = 3, name: str = "Kitchen") -> ChartData:
    """Answers spread over `span`, a few finished labels, `workers` workers with gold answers."""
    answered = tuple(START + span * step / 20 for step in range(21))
    crowd = tuple(WorkerAccuracy(f"worker {n}", 2 * n, n + n % 2) for n in range(1, workers + 1))
    return ChartData(3, name, 25, answered, 30, (0.52, 0.91, 0.97, 1.0), crowd, 0.7)


def decoded(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


@pytest.mark.parametrize("span", [timedelta(0), timedelta(minutes=3), timedelta(hours=3.4), timedelta(days=4)])
def test_a_chart_is_a_phone_sized_png_whatever_the_time_span(span: timedelta) -> None:
    """From a batch answered in one instant to one that ran for days, without matplotlib complaining (it
    warns when its date axis cannot place its ticks)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        image = decoded(chart.render_chart(figures(span)))
    assert (image.format, image.size) == ("PNG", (900, 1500))


def test_a_batch_nobody_answered_still_draws() -> None:
    """Each panel says there is nothing yet (the bot sends a line instead, but the demo draws whatever it has)."""
    empty = ChartData(3, "Kitchen", 0, (), 30, (), (), 0.7)
    assert decoded(chart.render_chart(empty)).size == (900, 1500)


def test_a_name_is_drawn_as_written() -> None:
    """matplotlib reads text between two "$" as a formula, and fails on one it cannot parse."""
    assert decoded(chart.render_chart(figures(timedelta(hours=1), name="Pans $\\frac{ $ 5"))).format == "PNG"


def test_many_workers_show_those_with_most_gold_answers() -> None:
    crowd = tuple(WorkerAccuracy(f"worker {n}", n, n) for n in range(1, 31))
    shown = chart.workers_shown(crowd)
    assert [worker.worker for worker in shown] == [f"worker {n}" for n in range(16, 31)]
    assert decoded(chart.render_chart(figures(timedelta(hours=1), workers=30))).size == (900, 1500)


def test_the_bot_starts_without_loading_matplotlib() -> None:
    """Importing matplotlib takes a good part of a second: only the first chart pays for it."""
    code = "import sys, bot.wiring.app, bot.wiring.cli; print('matplotlib' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "False"
