"""Turn several workers' answers per item into one label with a confidence.

Several workers answer each item because any one of them may be wrong; this module decides what
the crowd meant. Four ways, from the cheapest to the most expressive:

- majority vote: needs no estimation, so it is the right choice for a handful of items;
- one-coin: one accuracy per worker, errors spread evenly over the other labels. Two numbers
  per worker whatever the label space, so it works on a taxonomy with thousands of leaves;
- Dawid–Skene: a full confusion matrix per worker (labels² numbers), which also learns *which*
  mistakes a worker makes ("always says Mugs for Cups") when there are few labels and enough
  answers per worker;
- ``auto``: picks one of the three from the shape of the data (see ``choose_method``).

Known answers (gold) are clamped: a gold item's label is its gold answer with confidence 1 in
every step, and it teaches the model about the workers who answered it.

The module is pure: plain values in, plain values out, stdlib only, no database, so the CLI,
the scheduled jobs and the tests can all call it. Every result is deterministic: labels are
ordered by string, and ties go to the smallest label.
"""

import csv
import io
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

METHODS = ("auto", "ds", "one-coin", "mv")
DEFAULT_ACCURACY = 0.7
"""Accuracy assumed for a worker nobody has measured yet: better than chance, far from perfect."""

AUTO_MIN_ITEMS = 20
AUTO_MIN_WORKER_ANSWERS = 5
AUTO_MIN_LEARNABLE_SHARE = 0.5
AUTO_MAX_DS_LABELS = 10

CONFUSION_SMOOTHING = 0.01
"""Pseudo-count added to every cell of a Dawid–Skene confusion matrix (see ``_ds_tables``)."""
PRIOR_SMOOTHING = 1.0
"""Pseudo-count added to every label when class priors are estimated, so no label gets prior 0."""
ACCURACY_PSEUDO_COUNTS = (1.0, 1.0)
"""One-coin: (right, wrong) pseudo-answers per worker, so one lucky answer is not accuracy 1."""
ACCURACY_FLOOR = 1e-6
"""Accuracies are kept within [floor, 1 - floor]: at exactly 1 a single answer would be certain."""


@dataclass(frozen=True)
class Answer:
    """One worker's answer for one item."""

    item: str
    worker: str
    label: str


@dataclass(frozen=True)
class Label:
    """The aggregated label of one item; ``confidence`` is the posterior probability of ``label``."""

    item: str
    label: str
    confidence: float
    answers: int


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def majority_vote(answers: Iterable[Answer], gold: Mapping[str, str] | None = None) -> dict[str, Label]:
    """The most frequent label per item; ties go to the smallest label.

    The confidence is the plain share of the item's votes for the winner (no smoothing): it is
    the posterior of the soft majority vote, and an item where 3 of 3 agree reads 1.0. A gold
    item gets its gold answer with confidence 1.
    """
    answers = list(answers)
    gold = dict(gold or {})
    votes: dict[str, Counter[str]] = {}
    for answer in answers:
        votes.setdefault(answer.item, Counter())[answer.label] += 1
    result: dict[str, Label] = {}
    for item, counts in votes.items():
        total = sum(counts.values())
        if item in gold:
            result[item] = Label(item, gold[item], 1.0, total)
            continue
        label, count = min(counts.items(), key=lambda pair: (-pair[1], pair[0]))
        result[item] = Label(item, label, count / total, total)
    return result


def dawid_skene(
    answers: Iterable[Answer],
    gold: Mapping[str, str] | None = None,
    iterations: int = 50,
    tolerance: float = 1e-6,
) -> dict[str, Label]:
    """Dawid–Skene (1979) by EM: a confusion matrix per worker, class priors, soft labels.

    Starts from the soft majority vote (each item's vote shares), then alternates an M-step
    (priors and confusion matrices from the current soft labels, smoothed) and an E-step
    (posteriors from them, in log space). Stops after ``iterations`` rounds or once no
    posterior moved by more than ``tolerance``. Costs workers × labels² memory: for a large
    label space use ``one_coin``.
    """
    _check_em_arguments(iterations, tolerance)
    crowd = _Crowd.build(answers, gold)
    if not crowd.items:
        return {}
    posteriors = _soft_majority(crowd)
    keys = _group_keys(crowd)
    groups_of_key = _groups_of_key(keys, len(crowd.workers) * len(crowd.labels))
    for _ in range(iterations):
        log_prior = _log_priors(crowd, posteriors)
        table = _ds_tables(crowd, posteriors, groups_of_key)
        updated = _ds_e_step(crowd, keys, table, log_prior)
        moved = _largest_change(posteriors, updated)
        posteriors = updated
        if moved <= tolerance:
            break
    return _dense_labels(crowd, posteriors)


def one_coin(
    answers: Iterable[Answer],
    gold: Mapping[str, str] | None = None,
    iterations: int = 50,
    tolerance: float = 1e-6,
) -> dict[str, Label]:
    """The one-coin model by EM: worker w is right with probability p_w, else picks any other label.

    Two numbers per worker (its accuracy) plus class priors, so it learns from few answers and
    scales to thousands of labels: posteriors are kept only for the labels someone voted for
    (or the gold answer); every other label of an item shares one number, its prior times a
    common factor. Same start, stop rule and gold clamping as ``dawid_skene``.
    """
    crowd = _Crowd.build(answers, gold)
    return _sparse_labels(crowd, _one_coin_fit(crowd, iterations, tolerance))


def one_coin_accuracy(
    answers: Iterable[Answer],
    gold: Mapping[str, str] | None = None,
    iterations: int = 50,
    tolerance: float = 1e-6,
) -> dict[str, float]:
    """Each worker's accuracy p_w as the one-coin model (``one_coin``) learns it.

    This is what ``should_stop`` wants: it uses gold where there is some and the agreement
    with the crowd everywhere else, and it is smoothed, so a worker with one answer is near 0.5.
    """
    crowd = _Crowd.build(answers, gold)
    state = _one_coin_fit(crowd, iterations, tolerance)
    return dict(zip(crowd.workers, _one_coin_accuracies(crowd, state), strict=True))


def choose_method(answers: Iterable[Answer], gold: Mapping[str, str] | None = None) -> str:
    """The method ``aggregate(method="auto")`` uses: "mv", "one-coin" or "ds".

    - "mv" with fewer than 20 items, or when less than half of the answers come from workers
      with at least 5 answers: EM learns a worker from that worker's own answers, and with
      too few of them it only adds noise to the vote;
    - "one-coin" with more than 10 distinct labels (answers and gold): a confusion matrix has
      labels² cells, far more than a worker gives answers;
    - "ds" otherwise.
    """
    answers = list(answers)
    items = {answer.item for answer in answers}
    if len(items) < AUTO_MIN_ITEMS:
        return "mv"
    per_worker = Counter(answer.worker for answer in answers)
    learnable = sum(count for count in per_worker.values() if count >= AUTO_MIN_WORKER_ANSWERS)
    if learnable < AUTO_MIN_LEARNABLE_SHARE * len(answers):
        return "mv"
    labels = {answer.label for answer in answers} | set(_answered_gold(answers, gold).values())
    return "one-coin" if len(labels) > AUTO_MAX_DS_LABELS else "ds"


def aggregate(
    answers: Iterable[Answer], method: str = "auto", gold: Mapping[str, str] | None = None
) -> dict[str, Label]:
    """One label per answered item by ``method``: "ds", "one-coin", "mv" or "auto" (``choose_method``)."""
    if method not in METHODS:
        raise ValueError(f"unknown aggregation method {method!r}; choose one of {', '.join(METHODS)}")
    answers = list(answers)
    if method == "auto":
        method = choose_method(answers, gold)
    if method == "mv":
        return majority_vote(answers, gold)
    if method == "one-coin":
        return one_coin(answers, gold)
    return dawid_skene(answers, gold)


def leading_label(
    item_answers: Sequence[Answer],
    worker_accuracy: Mapping[str, float],
    labels_count: int,
    default_accuracy: float = DEFAULT_ACCURACY,
) -> tuple[str, float]:
    """The most probable label of one item and its posterior, under the one-coin model.

    Each answer is right with its worker's accuracy (``default_accuracy`` for a worker not in
    ``worker_accuracy``), else one of the other ``labels_count - 1`` labels at random; the prior
    is uniform. Labels nobody chose share what is left, so the posterior is honest even when
    the answers disagree.
    """
    if not item_answers:
        raise ValueError("an item with no answers has no leading label")
    voted = sorted({answer.label for answer in item_answers})
    if labels_count < max(2, len(voted)):
        raise ValueError(f"labels_count {labels_count} is less than the {max(2, len(voted))} labels in play")
    base = 0.0
    bonus = dict.fromkeys(voted, 0.0)
    for answer in item_answers:
        right, wrong = _coin_logs(worker_accuracy.get(answer.worker, default_accuracy), labels_count)
        base += wrong
        bonus[answer.label] += right - wrong
    scores = [base + bonus[label] for label in voted]
    unvoted = labels_count - len(voted)
    if unvoted:
        scores.append(base + math.log(unvoted))
    best = max(range(len(voted)), key=lambda index: (scores[index], -index))
    return voted[best], math.exp(scores[best] - _logsumexp(scores))


def should_stop(
    item_answers: Sequence[Answer],
    worker_accuracy: Mapping[str, float],
    labels_count: int,
    confidence: float,
    min_overlap: int,
    overlap: int,
) -> bool:
    """Whether an item has enough answers (dynamic overlap).

    True once it has ``overlap`` answers, or once it has at least ``min_overlap`` (and at least
    one) and the posterior of its leading label (``leading_label``) reaches ``confidence``. So
    easy items stop early and the answers saved go to the items where workers disagree.
    """
    if len({answer.item for answer in item_answers}) > 1:
        raise ValueError("should_stop takes the answers of one item")
    count = len(item_answers)
    if count >= overlap:
        return True
    if count < max(min_overlap, 1):
        return False
    return leading_label(item_answers, worker_accuracy, labels_count)[1] >= confidence


def worker_accuracy(
    answers: Iterable[Answer],
    reference: Mapping[str, str],
    default: float = DEFAULT_ACCURACY,
    strength: float = 2.0,
) -> dict[str, float]:
    """Each worker's share of answers matching ``reference`` (gold, or aggregated labels).

    Smoothed towards ``default`` by ``strength`` pseudo-answers, so a worker with one lucky
    gold answer is not trusted like one with a hundred. Workers who answered no reference
    item are left out; callers use the default for them.
    """
    right: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for answer in answers:
        if answer.item in reference:
            seen[answer.worker] += 1
            right[answer.worker] += answer.label == reference[answer.item]
    return {worker: (right[worker] + default * strength) / (count + strength) for worker, count in seen.items()}


def read_answers_csv(text: str) -> list[Answer]:
    """Answers from CSV text with a header item,worker,answer (or question,worker,answer)."""
    rows, columns = _csv_rows(text, (("item", "question"), ("worker",), ("answer",)), "answers")
    return [Answer(item, worker, label) for item, worker, label in _pick(rows, columns, "answers")]


def read_gold_csv(text: str) -> dict[str, str]:
    """Known answers from CSV text with a header item,answer (or question,truth)."""
    rows, columns = _csv_rows(text, (("item", "question"), ("answer", "truth")), "gold")
    gold: dict[str, str] = {}
    for (line, _), (item, label) in zip(rows, _pick(rows, columns, "gold"), strict=True):
        if gold.get(item, label) != label:
            raise ValueError(f"gold CSV line {line}: item {item!r} has two answers, {gold[item]!r} and {label!r}")
        gold[item] = label
    return gold


def labels_csv(labels: Mapping[str, Label]) -> str:
    """CSV text with a header item,label,confidence,answers; confidence with six decimals."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("item", "label", "confidence", "answers"))
    for label in labels.values():
        writer.writerow((label.item, label.label, f"{label.confidence:.6f}", label.answers))
    return out.getvalue()


# --------------------------------------------------------------------------------------------
# Indexing: strings become small integers, and items with identical answers share one group
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Crowd:
    """The answers as integers, with items grouped by their exact answers.

    Two items answered the same way by the same workers have the same posterior in either
    model, so EM computes it once per group (weighted by the group's size). On real data this
    is several times fewer rows than items; gold items are grouped with their gold answer.
    """

    items: tuple[str, ...]  # first-appearance order
    counts: tuple[int, ...]  # answers per item
    item_group: tuple[int, ...]
    labels: tuple[str, ...]  # sorted
    workers: tuple[str, ...]
    signatures: tuple[tuple[tuple[int, int], ...], ...]  # per group: sorted (worker, label) pairs
    gold: tuple[int, ...]  # per group: the clamped label, or -1
    sizes: tuple[int, ...]  # per group: how many items

    @staticmethod
    def build(answers: Iterable[Answer], gold: Mapping[str, str] | None) -> "_Crowd":
        """Index answers and gold; gold for items nobody answered is ignored (its label too)."""
        answers = list(answers)
        gold = _answered_gold(answers, gold)
        labels = tuple(sorted({answer.label for answer in answers} | set(gold.values())))
        label_index = {label: index for index, label in enumerate(labels)}
        workers = tuple(dict.fromkeys(answer.worker for answer in answers))
        worker_index = {worker: index for index, worker in enumerate(workers)}
        pairs: dict[str, list[tuple[int, int]]] = {}
        for answer in answers:
            pairs.setdefault(answer.item, []).append((worker_index[answer.worker], label_index[answer.label]))
        group_index: dict[tuple[tuple[tuple[int, int], ...], int], int] = {}
        item_group = []
        for item, item_pairs in pairs.items():
            key = (tuple(sorted(item_pairs)), label_index[gold[item]] if item in gold else -1)
            item_group.append(group_index.setdefault(key, len(group_index)))
        sizes = Counter(item_group)
        return _Crowd(
            items=tuple(pairs),
            counts=tuple(len(item_pairs) for item_pairs in pairs.values()),
            item_group=tuple(item_group),
            labels=labels,
            workers=workers,
            signatures=tuple(signature for signature, _ in group_index),
            gold=tuple(clamped for _, clamped in group_index),
            sizes=tuple(sizes[group] for group in range(len(group_index))),
        )


def _soft_majority(crowd: _Crowd) -> list[list[float]]:
    """Per group, the share of votes for each label (one-hot for gold): where EM starts."""
    width = len(crowd.labels)
    posteriors = []
    for signature, clamped in zip(crowd.signatures, crowd.gold, strict=True):
        row = [0.0] * width
        if clamped >= 0:
            row[clamped] = 1.0
        else:
            for _, label in signature:
                row[label] += 1.0 / len(signature)
        posteriors.append(row)
    return posteriors


def _log_priors(crowd: _Crowd, posteriors: list[list[float]]) -> list[float]:
    """Class priors from the soft labels (every item counts once), Laplace-smoothed, as logs."""
    width = len(crowd.labels)
    totals = [0.0] * width
    for size, row in zip(crowd.sizes, posteriors, strict=True):
        for label, probability in enumerate(row):
            totals[label] += size * probability
    denominator = len(crowd.items) + width * PRIOR_SMOOTHING
    return [math.log((total + PRIOR_SMOOTHING) / denominator) for total in totals]


# --------------------------------------------------------------------------------------------
# Dawid–Skene
# --------------------------------------------------------------------------------------------


def _group_keys(crowd: _Crowd) -> list[tuple[int, ...]]:
    """Per group, one key per answer: worker * labels + answered label, an index into the tables."""
    width = len(crowd.labels)
    return [tuple(worker * width + label for worker, label in signature) for signature in crowd.signatures]


def _groups_of_key(keys: list[tuple[int, ...]], size: int) -> list[list[int]]:
    """For each (worker, answered label) key, the groups that hold it (repeated if held twice)."""
    groups: list[list[int]] = [[] for _ in range(size)]
    for group, group_keys in enumerate(keys):
        for key in group_keys:
            groups[key].append(group)
    return groups


def _ds_tables(crowd: _Crowd, posteriors: list[list[float]], groups_of_key: list[list[int]]) -> list[tuple[float, ...]]:
    """M-step: for each key (worker w, answered label l), log P(w answers l | true label k) for every k.

    Expected counts come from the soft labels, plus ``CONFUSION_SMOOTHING`` in every cell so a
    label a worker never saw, or an answer it never gave, is unlikely but never impossible (no
    log 0, no 0/0). The smoothing is small because a real matrix is mostly its diagonal, and a
    large pseudo-count would pull rare workers towards "answers at random".
    """
    width = len(crowd.labels)
    weighted = [[size * probability for probability in row] for size, row in zip(crowd.sizes, posteriors, strict=True)]
    zero = [0.0] * width
    expected = [
        [sum(column) for column in zip(*map(weighted.__getitem__, groups), strict=True)] if groups else zero
        for groups in groups_of_key
    ]
    tables: list[tuple[float, ...]] = []
    for worker in range(len(crowd.workers)):
        rows = expected[worker * width : (worker + 1) * width]
        log_totals = [math.log(sum(column) + width * CONFUSION_SMOOTHING) for column in zip(*rows, strict=True)]
        for row in rows:
            tables.append(
                tuple(
                    math.log(count + CONFUSION_SMOOTHING) - log_total
                    for count, log_total in zip(row, log_totals, strict=True)
                )
            )
    return tables


def _ds_e_step(
    crowd: _Crowd, keys: list[tuple[int, ...]], tables: list[tuple[float, ...]], log_prior: list[float]
) -> list[list[float]]:
    """E-step: each group's posterior over true labels; gold groups stay clamped."""
    posteriors = []
    for group_keys, clamped in zip(keys, crowd.gold, strict=True):
        if clamped >= 0:
            row = [0.0] * len(log_prior)
            row[clamped] = 1.0
            posteriors.append(row)
        else:
            scores = [sum(column) for column in zip(log_prior, *map(tables.__getitem__, group_keys), strict=True)]
            posteriors.append(_normalise_logs(scores))
    return posteriors


def _largest_change(before: list[list[float]], after: list[list[float]]) -> float:
    """How far the posteriors moved in one round: EM has converged when this is tiny."""
    return max(
        (
            abs(old - new)
            for old_row, new_row in zip(before, after, strict=True)
            for old, new in zip(old_row, new_row, strict=True)
        ),
        default=0.0,
    )


def _dense_labels(crowd: _Crowd, posteriors: list[list[float]]) -> dict[str, Label]:
    """Labels from per-group posteriors: the most probable label, ties to the smallest."""
    chosen = []
    for row in posteriors:
        best = max(range(len(row)), key=lambda label: (row[label], -label))
        chosen.append((crowd.labels[best], row[best]))
    return _labels(crowd, chosen)


# --------------------------------------------------------------------------------------------
# One-coin
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SparseState:
    """One-coin posteriors for every group, without a row of thousands of labels per item.

    ``known[g]`` holds the posterior of each label voted for in group g (and its gold
    answer); any other label k has posterior ``prior[k] * rest[g]``, the prior the E-step used
    times a factor shared by all the labels nobody chose. ``prior`` is that prior.
    """

    known: tuple[dict[int, float], ...]
    rest: tuple[float, ...]
    prior: tuple[float, ...]

    @staticmethod
    def from_dense(crowd: _Crowd, posteriors: list[list[float]]) -> "_SparseState":
        """The soft majority vote puts nothing on unvoted labels, so ``rest`` starts at 0."""
        known = tuple(
            {label: row[label] for label in _group_labels(signature, clamped)}
            for signature, clamped, row in zip(crowd.signatures, crowd.gold, posteriors, strict=True)
        )
        width = len(crowd.labels)
        return _SparseState(known, (0.0,) * len(known), tuple(1.0 / width for _ in range(width)))


def _group_labels(signature: tuple[tuple[int, int], ...], clamped: int) -> list[int]:
    """The labels a group's posterior is kept for: those voted for, and its gold answer."""
    labels = {label for _, label in signature}
    if clamped >= 0:
        labels.add(clamped)
    return sorted(labels)


def _sparse_priors(crowd: _Crowd, state: _SparseState) -> list[float]:
    """M-step for the class priors, exact although unvoted labels are not stored.

    Label k's expected count is its stored posteriors, plus prior[k] * rest[g] over the groups
    where k is not stored; that is prior[k] * (sum of all rests - rests where it is stored).
    """
    width = len(crowd.labels)
    totals = [0.0] * width
    stored_rest = [0.0] * width
    all_rest = 0.0
    for size, known, rest in zip(crowd.sizes, state.known, state.rest, strict=True):
        all_rest += size * rest
        for label, probability in known.items():
            totals[label] += size * probability
            stored_rest[label] += size * rest
    denominator = len(crowd.items) + width * PRIOR_SMOOTHING
    return [
        (total + prior * (all_rest - stored) + PRIOR_SMOOTHING) / denominator
        for total, prior, stored in zip(totals, state.prior, stored_rest, strict=True)
    ]


def _one_coin_fit(crowd: _Crowd, iterations: int, tolerance: float) -> _SparseState:
    """EM for the one-coin model from the soft majority vote; with one label there is nothing to learn."""
    _check_em_arguments(iterations, tolerance)
    state = _SparseState.from_dense(crowd, _soft_majority(crowd))
    if len(crowd.labels) < 2:
        return state
    for _ in range(iterations):
        prior = _sparse_priors(crowd, state)
        accuracy = _one_coin_accuracies(crowd, state)
        updated = _one_coin_e_step(crowd, prior, accuracy)
        moved = _largest_sparse_change(state, updated)
        state = updated
        if moved <= tolerance:
            break
    return state


def _one_coin_accuracies(crowd: _Crowd, state: _SparseState) -> list[float]:
    """M-step for the accuracies: each worker's expected share of right answers, smoothed."""
    right_prior, wrong_prior = ACCURACY_PSEUDO_COUNTS
    right = [right_prior] * len(crowd.workers)
    total = [right_prior + wrong_prior] * len(crowd.workers)
    for size, signature, known in zip(crowd.sizes, crowd.signatures, state.known, strict=True):
        for worker, label in signature:
            right[worker] += size * known[label]
            total[worker] += size
    return [hit / count for hit, count in zip(right, total, strict=True)]


def _one_coin_e_step(crowd: _Crowd, prior: list[float], accuracy: list[float]) -> _SparseState:
    """E-step: each group's posterior over its voted labels and the shared factor for the rest."""
    width = len(crowd.labels)
    coins = [_coin_logs(p, width) for p in accuracy]
    log_prior = [math.log(p) for p in prior]
    least_prior = min(prior)
    known_rows: list[dict[int, float]] = []
    rests: list[float] = []
    for signature, clamped in zip(crowd.signatures, crowd.gold, strict=True):
        labels = _group_labels(signature, clamped)
        if clamped >= 0:
            known_rows.append({label: float(label == clamped) for label in labels})
            rests.append(0.0)
            continue
        base = 0.0
        scores = {label: log_prior[label] for label in labels}
        for worker, label in signature:
            right, wrong = coins[worker]
            base += wrong
            scores[label] += right - wrong
        unvoted_mass = 1.0 - sum(prior[label] for label in labels)
        terms = [base + score for score in scores.values()]
        if len(labels) < width:
            # at least one unvoted label, so at least the smallest prior: guards the subtraction's rounding
            terms.append(base + math.log(max(unvoted_mass, least_prior)))
        log_total = _logsumexp(terms)
        known_rows.append({label: math.exp(base + score - log_total) for label, score in scores.items()})
        rests.append(math.exp(base - log_total) if len(labels) < width else 0.0)
    return _SparseState(tuple(known_rows), tuple(rests), tuple(prior))


def _largest_sparse_change(before: _SparseState, after: _SparseState) -> float:
    """How far the stored posteriors (and the shared factors) moved in one round."""
    moved = max((abs(old - new) for old, new in zip(before.rest, after.rest, strict=True)), default=0.0)
    for old_row, new_row in zip(before.known, after.known, strict=True):
        for label, probability in new_row.items():
            moved = max(moved, abs(old_row[label] - probability))
    return moved


def _sparse_labels(crowd: _Crowd, state: _SparseState) -> dict[str, Label]:
    """Labels from one-coin posteriors; an unvoted label wins only if it truly is the most probable."""
    by_prior = sorted(range(len(crowd.labels)), key=lambda label: (-state.prior[label], label))
    chosen = []
    for known, rest in zip(state.known, state.rest, strict=True):
        best = min(known, key=lambda label: (-known[label], label))
        probability = known[best]
        if rest > 0.0:
            unvoted = next(label for label in by_prior if label not in known)
            if (state.prior[unvoted] * rest, -unvoted) > (probability, -best):
                best, probability = unvoted, state.prior[unvoted] * rest
        chosen.append((crowd.labels[best], probability))
    return _labels(crowd, chosen)


def _coin_logs(accuracy: float, labels_count: int) -> tuple[float, float]:
    """log P(answer is right) and log P(answer is one given wrong label), for one worker."""
    accuracy = min(max(accuracy, ACCURACY_FLOOR), 1.0 - ACCURACY_FLOOR)
    return math.log(accuracy), math.log((1.0 - accuracy) / (labels_count - 1))


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------


def _check_em_arguments(iterations: int, tolerance: float) -> None:
    """Refuse settings that would silently do nothing sensible."""
    if iterations < 0:
        raise ValueError(f"iterations must be 0 or more, not {iterations}")
    if tolerance < 0:
        raise ValueError(f"tolerance must be 0 or more, not {tolerance}")


def _answered_gold(answers: list[Answer], gold: Mapping[str, str] | None) -> dict[str, str]:
    """Gold for the items that have answers: gold elsewhere has nothing to label or teach."""
    items = {answer.item for answer in answers}
    return {item: label for item, label in (gold or {}).items() if item in items}


def _labels(crowd: _Crowd, chosen: list[tuple[str, float]]) -> dict[str, Label]:
    """One Label per item, in the order items first appeared; confidence kept within [0, 1]."""
    result = {}
    for item, count, group in zip(crowd.items, crowd.counts, crowd.item_group, strict=True):
        label, probability = chosen[group]
        result[item] = Label(item, label, min(max(probability, 0.0), 1.0), count)
    return result


def _logsumexp(values: list[float]) -> float:
    """log(sum(exp(v))) without overflow or underflow."""
    peak = max(values)
    return peak + math.log(sum(math.exp(value - peak) for value in values))


def _normalise_logs(scores: list[float]) -> list[float]:
    """Log scores to probabilities summing to 1, subtracting the largest first so nothing underflows to 0/0."""
    peak = max(scores)
    weights = [math.exp(score - peak) for score in scores]
    total = sum(weights)
    return [weight / total for weight in weights]


def _csv_rows(
    text: str, wanted: tuple[tuple[str, ...], ...], kind: str
) -> tuple[list[tuple[int, list[str]]], list[int]]:
    """Rows of a CSV (with their line numbers) and the index of each wanted column.

    Each entry of ``wanted`` lists the accepted names of one column, e.g. ("item", "question");
    a missing column is a ValueError naming what was expected.
    """
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip().lower() for name in next(reader, [])]
    columns, missing = [], []
    for names in wanted:
        found = [header.index(name) for name in names if name in header]
        if found:
            columns.append(found[0])
        else:
            missing.append(" or ".join(names))
    if missing:
        expected = ",".join(names[0] for names in wanted)
        raise ValueError(f"{kind} CSV is missing column {', '.join(missing)}; expected a header like {expected}")
    rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    return rows, columns


def _pick(rows: list[tuple[int, list[str]]], columns: list[int], kind: str) -> list[tuple[str, ...]]:
    """The wanted cells of each row, stripped; a short row or an empty cell is a ValueError with its line."""
    picked = []
    for line, row in rows:
        cells = tuple(row[column].strip() if column < len(row) else "" for column in columns)
        if not all(cells):
            raise ValueError(f"{kind} CSV line {line}: every column needs a value, got {','.join(row)!r}")
        picked.append(cells)
    return picked
