"""A batch's chart drawn as a PNG for a phone: answers over time, the crowd's confidence on finished
products, and each worker's accuracy on gold (the figures come from bot.batches.chart).

matplotlib takes a good part of a second to import and drawing takes about as long, so it is imported
when the first chart is drawn (the bot's start does not pay for it) and the caller runs `render_chart`
in a worker thread. Only matplotlib's object interface is used: a Figure of its own on the Agg canvas,
nothing of pyplot's global state. matplotlib does not promise to be thread-safe all the same (its
caches are shared), so two charts asked for at once are drawn one after the other.
"""

import io
import threading
from collections.abc import Sequence
from datetime import UTC, timedelta
from typing import TYPE_CHECKING

from bot.batches.chart import ChartData, WorkerAccuracy
from handlers import formatting, texts
from handlers.i18n import gettext as _
from handlers.i18n import plural_text

if TYPE_CHECKING:
    from matplotlib.axes import Axes

SIZE = (6.0, 10.0)  # inches, portrait: 900 × 1,500 pixels at DPI, a phone screen's shape
DPI = 150
BLUE, ORANGE, GREY, RED = "tab:blue", "tab:orange", "tab:gray", "tab:red"
CONFIDENCE_BINS = 20  # 5 % each
MAX_WORKERS = 15  # bars that stay readable on a phone; the workers with most gold answers are shown
MIN_ROWS = 5  # room for at least this many bars, so that one bar is not a slab
MIN_SPAN = timedelta(minutes=1)  # the time axis of a batch whose answers all came at once
_drawing = threading.Lock()


def render_chart(data: ChartData) -> bytes:
    """The chart as PNG bytes. A panel with nothing to show yet says so."""
    with _drawing:
        return _render(data)


def _render(data: ChartData) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    canvas = FigureCanvasAgg(figure)
    # parse_math off: a batch name with two "$" in it is a name, not a formula
    title = _(texts.CHART_TITLE).format(id=data.batch_id, name=data.name)
    figure.suptitle(title, fontsize="large", fontweight="bold", parse_math=False)
    answers, confidence, accuracy = figure.subplots(3, 1, height_ratios=(1, 1, 1.3))
    _answers_over_time(answers, data)
    _confidence(confidence, data.confidences)
    _accuracy(accuracy, data.workers, data.min_accuracy)
    png = io.BytesIO()
    canvas.print_png(png)
    return png.getvalue()


def _answers_over_time(axes: "Axes", data: ChartData) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
    from matplotlib.ticker import MaxNLocator

    axes.set_title(_(texts.CHART_ANSWERS_TITLE), loc="left")
    if not data.answered_at:
        _nothing_yet(axes)
        return
    # From nought at the first answer, one step up at each answer.
    times = date2num([data.answered_at[0], *data.answered_at])  # matplotlib's own measure of time
    axes.plot(times, range(len(times)), drawstyle="steps-post", color=BLUE, linewidth=2)
    axes.axhline(data.answers_needed, color=GREY, linestyle="--", linewidth=1)
    needed = _(texts.CHART_NEEDED).format(count=formatting.number(data.answers_needed))
    axes.text(0.01, data.answers_needed, needed, transform=axes.get_yaxis_transform(), va="bottom", color=GREY)
    axes.set_ylim(0, max(data.answers_needed, len(data.answered_at)) * 1.15)
    first, last = data.answered_at[0], max(data.answered_at[-1], data.answered_at[0] + MIN_SPAN)
    margin = (last - first) * 0.03  # the first step up is not hidden in the axis
    axes.set_xlim(date2num(first - margin), date2num(last + margin))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    locator = AutoDateLocator(tz=UTC)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator, tz=UTC))
    axes.set_xlabel(_(texts.CHART_TIME_AXIS))
    axes.set_ylabel(_(texts.CHART_ANSWERS_AXIS))
    axes.grid(axis="y", alpha=0.3)


def _confidence(axes: "Axes", confidences: Sequence[float]) -> None:
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    axes.set_title(_(texts.CHART_CONFIDENCE_TITLE), loc="left")
    if not confidences:
        _nothing_yet(axes)
        return
    bins = [step / CONFIDENCE_BINS for step in range(CONFIDENCE_BINS + 1)]
    axes.hist(confidences, bins=bins, color=BLUE, edgecolor="white")
    axes.set_xlim(0, 1)
    axes.xaxis.set_major_formatter(PercentFormatter(1.0))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel(_(texts.CHART_CONFIDENCE_AXIS))
    axes.set_ylabel(_(texts.CHART_LABELS_AXIS))
    axes.grid(axis="y", alpha=0.3)


def _accuracy(axes: "Axes", workers: Sequence[WorkerAccuracy], min_accuracy: float) -> None:
    from matplotlib.ticker import PercentFormatter

    shown = workers_shown(workers)
    if len(shown) < len(workers):
        axes.set_title(plural_text(texts.CHART_ACCURACY_SOME_TITLE, len(shown)).format(count=len(shown)), loc="left")
    else:
        axes.set_title(_(texts.CHART_ACCURACY_TITLE), loc="left")
    if not shown:
        _nothing_yet(axes)
        return
    # A worker below the batch's min_accuracy stands out: more checks like these and they are removed.
    colours = [ORANGE if worker.accuracy < min_accuracy else BLUE for worker in shown]
    bars = axes.barh([worker.worker for worker in shown], [worker.accuracy for worker in shown], color=colours)
    axes.bar_label(bars, labels=[f"{worker.right}/{worker.graded}" for worker in shown], padding=3)
    axes.axvline(min_accuracy, color=RED, linestyle="--", linewidth=1)
    # Worker 1 on top, as in the answers file.
    axes.set_ylim(max(len(shown), MIN_ROWS) - 0.5, -0.5)
    axes.set_xlim(0, 1.15)  # room for the longest bar's "right/graded"
    axes.set_xticks([0, 0.25, 0.5, 0.75, 1])
    axes.xaxis.set_major_formatter(PercentFormatter(1.0))
    axes.set_xlabel(_(texts.CHART_ACCURACY_AXIS).format(share=formatting.percent(min_accuracy)))


def workers_shown(workers: Sequence[WorkerAccuracy]) -> list[WorkerAccuracy]:
    """At most MAX_WORKERS of them, those with most gold answers, in their order."""
    kept = set(sorted(range(len(workers)), key=lambda place: -workers[place].graded)[:MAX_WORKERS])
    return [worker for place, worker in enumerate(workers) if place in kept]


def _nothing_yet(axes: "Axes") -> None:
    axes.text(0.5, 0.5, _(texts.CHART_NOTHING_YET), ha="center", va="center", color=GREY, transform=axes.transAxes)
    axes.set_xticks([])
    axes.set_yticks([])
