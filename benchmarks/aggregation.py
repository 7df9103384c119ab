"""How well, and how fast, ``bot.aggregation`` turns crowd answers into labels, on real crowds.

The data sets are four public crowdsourcing benchmarks with ground truth (Zheng et al., "Truth
Inference in Crowdsourcing: Is the Problem Solved?", PVLDB 10(5), 2017): one folder each, with
``answer.csv`` (question,worker,answer) and ``truth.csv`` (question,truth). They are not part
of the repository; the script reads them from the folder given as its argument (default:
``../shared/datasets/truth-inference`` beside the repository root) and, when that folder is
absent, says so and exits 0.

Three parts:

1. Every item, no gold: majority vote, Dawid–Skene and one-coin accuracy against truth.csv and
   the seconds each took, beside reference figures for majority vote and Dawid–Skene (50 EM
   iterations from the soft majority vote; the published crowd-kit figures agree: D_Product
   MV 0.897, DS 0.940). Target: at least the reference Dawid–Skene accuracy, < 5 s a set.
2. 5 % of the items given as gold (seeded): accuracy on the other 95 %.
3. Dynamic overlap on d_jn-product: the answers in a seeded random order, each item takes them
   one by one until ``should_stop`` says enough. Worker accuracies come either from the gold of
   part 2 (what the bot has in production), or from a first one-coin pass over all answers, or
   from agreement with a first Dawid–Skene pass (both optimistic: they have seen answers the
   stop rule would not have collected).

Run it from the repository root::

    python benchmarks/aggregation.py
    python benchmarks/aggregation.py path/to/truth-inference --seed 7

Output is plain ``name: value`` lines and small tables; the exit status is 0 unless the script
itself breaks (missed targets are printed, not fatal).
"""

import argparse
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.aggregation.files import read_answers_csv, read_gold_csv  # noqa: E402
from bot.aggregation.methods import (  # noqa: E402
    Answer,
    Label,
    choose_method,
    dawid_skene,
    leading_label,
    majority_vote,
    one_coin,
    one_coin_accuracy,
    should_stop,
    worker_accuracy,
)

DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "truth-inference"
REFERENCE = {  # data set: (items, answers, workers, majority vote, Dawid–Skene)
    "d_jn-product": (8315, 24945, 176, 0.8966, 0.9396),
    "s4_Dog_data": (807, 8070, 109, 0.8178, 0.8426),
    "s4_Face_Sentiment_Identification": (584, 5242, 27, 0.6301, 0.6404),
    "d_Duck_Identification": (108, 4212, 39, 0.7593, 0.8981),
}
SECONDS_TARGET = 5.0
GOLD_SHARE = 0.05
REPLAY_SET = "d_jn-product"
REPLAY_CONFIDENCE = 0.95
REPLAY_MIN_OVERLAP = 2

Method = Callable[..., dict[str, Label]]
METHODS: tuple[tuple[str, Method], ...] = (("MV", majority_vote), ("DS", dawid_skene), ("one-coin", one_coin))


@dataclass(frozen=True)
class DataSet:
    """One crowd: its answers and the true label of each item."""

    name: str
    answers: tuple[Answer, ...]
    truth: dict[str, str]


@dataclass(frozen=True)
class Replay:
    """What the stop rule kept of a crowd, and the label each item had when it stopped."""

    kept: tuple[Answer, ...]
    at_stop: dict[str, str]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, load the data sets, print the three parts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA, help="folder of data-set folders")
    parser.add_argument("--seed", type=int, default=7, help="seed for the gold sample and the answer order")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"skipped: no data-set folder at {args.data} (pass one as the first argument)")
        return 0
    sets = [load(folder) for folder in sorted(args.data.iterdir()) if is_data_set(folder)]
    if not sets:
        print(f"skipped: no data sets (folders with answer.csv and truth.csv) in {args.data}")
        return 0
    print(f"seed: {args.seed}")
    accuracy_table(sets)
    golds = {data.name: gold_sample(data, args.seed) for data in sets}
    gold_table(sets, golds)
    replay_set = next((data for data in sets if data.name == REPLAY_SET), None)
    if replay_set is None:
        print(f"\ndynamic overlap: skipped, no {REPLAY_SET} data set")
    else:
        replay_table(replay_set, golds[replay_set.name], args.seed)
    return 0


def is_data_set(folder: Path) -> bool:
    """A folder with both files; anything else beside the data sets is not one."""
    return (folder / "answer.csv").is_file() and (folder / "truth.csv").is_file()


def load(folder: Path) -> DataSet:
    """A data set folder as answers and truth, through the module's own CSV readers."""
    answers = read_answers_csv((folder / "answer.csv").read_text(encoding="utf-8"))
    truth = read_gold_csv((folder / "truth.csv").read_text(encoding="utf-8"))
    return DataSet(folder.name, tuple(answers), truth)


def accuracy(labels: Mapping[str, Label], truth: Mapping[str, str], skip: Mapping[str, str] | None = None) -> float:
    """Share of truth items (less those in ``skip``) whose label is right; an unlabelled item counts as wrong."""
    graded = [item for item in truth if item not in (skip or {})]
    right = sum(1 for item in graded if item in labels and labels[item].label == truth[item])
    return right / len(graded)


def timed(
    method: Method, answers: Sequence[Answer], gold: Mapping[str, str] | None = None
) -> tuple[dict[str, Label], float]:
    """Labels from ``method`` and the wall-clock seconds it took."""
    start = time.perf_counter()
    labels = method(answers, gold)
    return labels, time.perf_counter() - start


def accuracy_table(sets: Sequence[DataSet]) -> None:
    """Part 1: every method on every set, beside the reference figures."""
    print("\naccuracy against truth.csv, all items, no gold (ref = reference figures)")
    header = ("data set", "items", "answers", "workers", "MV", "DS", "one-coin", "ref MV", "ref DS", "DS>=ref")
    rows = []
    timings = []
    slowest = 0.0
    all_met = True
    for data in sets:
        results = {name: timed(method, data.answers) for name, method in METHODS}
        scores = {name: accuracy(labels, data.truth) for name, (labels, _) in results.items()}
        reference = REFERENCE.get(data.name)
        met = reference is None or round(scores["DS"], 4) >= reference[4]
        all_met = all_met and met
        ref_cells = (f"{reference[3]:.4f}", f"{reference[4]:.4f}") if reference else ("-", "-")
        rows.append((data.name, *shape(data), *(f"{scores[name]:.4f}" for name, _ in METHODS), *ref_cells, yes(met)))
        seconds = [seconds for _, seconds in results.values()]
        slowest = max(slowest, *seconds)
        timings.append((data.name, *(f"{value:.2f}" for value in seconds), choose_method(data.answers)))
    print_table(header, rows)
    print("\nseconds per method (and what aggregate(method='auto') picks)")
    print_table(("data set", "MV s", "DS s", "one-coin s", "auto"), timings)
    print(f"DS at least the reference on every set that has one: {yes(all_met)}")
    print(
        f"slowest method on any set: {slowest:.2f} s (target < {SECONDS_TARGET:.0f} s): {yes(slowest < SECONDS_TARGET)}"
    )


def shape(data: DataSet) -> tuple[str, str, str]:
    """Items, answers and workers of a data set, as table cells."""
    items = len({answer.item for answer in data.answers})
    workers = len({answer.worker for answer in data.answers})
    return str(items), str(len(data.answers)), str(workers)


def gold_sample(data: DataSet, seed: int) -> dict[str, str]:
    """A seeded 5 % of the answered items, with their true labels as gold."""
    items = sorted({answer.item for answer in data.answers} & set(data.truth))
    chosen = random.Random(seed).sample(items, max(1, round(GOLD_SHARE * len(items))))
    return {item: data.truth[item] for item in chosen}


def gold_table(sets: Sequence[DataSet], golds: Mapping[str, dict[str, str]]) -> None:
    """Part 2: accuracy on the items that are not gold, when 5 % are; DS without gold on the same items beside."""
    print(f"\nwith {GOLD_SHARE:.0%} of the items as gold (seeded): accuracy on the other items")
    rows = []
    for data in sets:
        gold = golds[data.name]
        scores = [accuracy(method(data.answers, gold), data.truth, skip=gold) for _, method in METHODS]
        without = accuracy(dawid_skene(data.answers), data.truth, skip=gold)
        rows.append((data.name, str(len(gold)), *(f"{score:.4f}" for score in scores), f"{without:.4f}"))
    print_table(("data set", "gold", *(name for name, _ in METHODS), "DS without gold"), rows)


def replay(answers: Sequence[Answer], accuracies: Mapping[str, float], labels_count: int, seed: int) -> Replay:
    """Feed each item its answers in a seeded random order until ``should_stop`` says enough."""
    shuffled = list(answers)
    random.Random(seed).shuffle(shuffled)
    queues: dict[str, list[Answer]] = {}
    for answer in shuffled:
        queues.setdefault(answer.item, []).append(answer)
    kept: list[Answer] = []
    at_stop: dict[str, str] = {}
    for item, queue in queues.items():
        taken: list[Answer] = []
        for answer in queue:
            taken.append(answer)
            if should_stop(taken, accuracies, labels_count, REPLAY_CONFIDENCE, REPLAY_MIN_OVERLAP, len(queue)):
                break
        kept.extend(taken)
        at_stop[item] = leading_label(taken, accuracies, labels_count)[0]
    return Replay(tuple(kept), at_stop)


def replay_table(data: DataSet, gold: Mapping[str, str], seed: int) -> None:
    """Part 3: answers saved by the stop rule, and what it costs in accuracy."""
    labels_count = len({answer.label for answer in data.answers})
    first_pass = {item: label.label for item, label in dawid_skene(data.answers).items()}
    sources = (
        (f"gold ({len(gold)} items)", worker_accuracy(data.answers, gold)),
        ("one-coin pass", one_coin_accuracy(data.answers)),
        ("DS pass labels", worker_accuracy(data.answers, first_pass)),
    )
    print(f"\ndynamic overlap on {data.name}")
    print(f"confidence: {REPLAY_CONFIDENCE}")
    print(f"min_overlap: {REPLAY_MIN_OVERLAP}")
    print("overlap: all answers of the item")
    print(f"labels: {labels_count}")
    print("accuracies from gold: each worker's share right on the gold items, smoothed by 2 answers towards 0.7")
    print("accuracies from one-coin pass: p_w of one_coin_accuracy over all answers (optimistic: sees every answer)")
    print("accuracies from DS pass labels: share agreeing with Dawid-Skene labels of all answers, smoothed as gold")
    print("workers without an estimate: 0.7")
    total = len(data.answers)
    rows = [("no stop rule", str(total), "0.0%", "-", *replay_scores(data.answers, data.truth))]
    for source, accuracies in sources:
        result = replay(data.answers, accuracies, labels_count, seed)
        at_stop = {item: Label(item, label, 1.0, 0) for item, label in result.at_stop.items()}
        rows.append(
            (
                f"stop, accuracies from {source}",
                str(len(result.kept)),
                f"{1 - len(result.kept) / total:.1%}",
                f"{accuracy(at_stop, data.truth):.4f}",
                *replay_scores(result.kept, data.truth),
            )
        )
    print_table(("run", "answers", "saved", "at stop", "MV", "DS"), rows)
    print("at stop = the one-coin leading label when the item stopped; MV, DS = aggregating the answers kept")


def replay_scores(answers: Sequence[Answer], truth: Mapping[str, str]) -> tuple[str, str]:
    """Majority-vote and Dawid–Skene accuracy of a set of answers, as table cells."""
    return f"{accuracy(majority_vote(answers), truth):.4f}", f"{accuracy(dawid_skene(answers), truth):.4f}"


def yes(flag: bool) -> str:
    """A boolean as the word a reader scans for."""
    return "yes" if flag else "NO"


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Columns padded to their widest cell; the first left-aligned, numbers right-aligned."""
    widths = [max(len(str(row[column])) for row in (header, *rows)) for column in range(len(header))]
    for row in (header, *rows):
        cells = [
            str(cell).ljust(width) if index == 0 else str(cell).rjust(width)
            for index, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())


if __name__ == "__main__":
    sys.exit(main())
