"""Turn several workers' answers per item into one label with a confidence.

Several workers answer each item because any one of them may be wrong; this module decides what
the crowd meant. Four ways, from the cheapest to the most expressive:

- majority vote: needs no estimation, so it is the right choice for a handful of items;
- one-coin: one accuracy per worker, errors spread evenly over the other labels. Two numbers
  per worker whatever the label space, so it works on a taxonomy with thousands of leaves.
  Given each label's family (in a taxonomy, its parent), it then decides each item knowing
  that a wrong answer mostly lands on a sibling of the right one;
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

import math
import operator
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.errors import ErrorCode, InvalidInput

METHODS = ("auto", "ds", "one-coin", "mv")
DEFAULT_ACCURACY = 0.7
"""Accuracy assumed for a worker nobody has measured yet: better than chance, far from perfect."""

AUTO_MIN_ITEMS = 20
AUTO_MIN_WORKER_ANSWERS = 5
AUTO_MIN_LEARNABLE_SHARE = 0.5
AUTO_MAX_DS_LABELS = 10

CONFUSION_SMOOTHING = 0.01
"""Pseudo-count added to every cell of a Dawid–Skene confusion matrix (see ``_ds_tables``)."""
CONFUSION_DIAGONAL = 0.3
"""Pseudo-count added to the diagonal besides: before any evidence, a worker answers a label right."""
PRIOR_SMOOTHING = 1.0
"""Pseudo-count added to every label when class priors are estimated, so no label gets prior 0."""
ACCURACY_PSEUDO_COUNTS = (1.0, 1.0)
"""One-coin: (right, wrong) pseudo-answers per worker, so one lucky answer is not accuracy 1."""
DS_MAX_CELLS = 2_000_000
"""Dawid–Skene keeps workers × labels² probabilities; beyond this it refuses and points to one-coin."""
ACCURACY_FLOOR = 1e-6
"""Accuracies are kept within [floor, 1 - floor]: at exactly 1 a single answer would be certain."""


class AggregationRefusal(ErrorCode):
    TOO_MANY_CELLS = "aggregation_too_many_cells"  # {cells, workers, labels}: Dawid–Skene's confusion matrices


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
    posterior moved by more than ``tolerance``. Costs workers × labels² memory, so it refuses
    beyond ``DS_MAX_CELLS`` (an InvalidInput): for a large label space use ``one_coin``.
    """
    _check_em_arguments(iterations, tolerance)
    crowd = _Crowd.build(answers, gold)
    if not crowd.items:
        return {}
    cells = len(crowd.workers) * len(crowd.labels) ** 2
    if cells > DS_MAX_CELLS:
        raise InvalidInput(
            AggregationRefusal.TOO_MANY_CELLS, cells=cells, workers=len(crowd.workers), labels=len(crowd.labels)
        )
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
    families: Mapping[str, str] | None = None,
) -> dict[str, Label]:
    """The one-coin model by EM: worker w is right with probability p_w, else picks any other label.

    Two numbers per worker (its accuracy) plus class priors, so it learns from few answers and
    scales to thousands of labels: posteriors are kept only for the labels someone voted for
    (or the gold answer); every other label of an item shares one number, its prior times a
    common factor. Same start, stop rule and gold clamping as ``dawid_skene``.

    ``families`` maps every label a worker could give to its family (in a taxonomy: the parent
    category). With it, each item's label is then chosen under the family model
    (``_family_choices``), which knows that a wrong answer usually lands next to the right one.
    """
    crowd = _Crowd.build(answers, gold)
    slots, state = _one_coin_fit(crowd, iterations, tolerance)
    choices = _coin_choices(crowd, slots, state)
    if families:
        choices = _family_choices(crowd, _coin_accuracies(slots, state), choices, families)
    return _labels(crowd, [(crowd.labels[label], probability) for label, probability in choices])


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
    return dict(zip(crowd.workers, _coin_accuracies(*_one_coin_fit(crowd, iterations, tolerance)), strict=True))


def choose_method(answers: Iterable[Answer], gold: Mapping[str, str] | None = None) -> str:
    """The method ``aggregate(method="auto")`` uses: "mv", "one-coin" or "ds".

    - "mv" with fewer than 20 items, or when less than half of the answers come from workers
      with at least 5 answers: EM learns a worker from that worker's own answers, and with
      too few of them it only adds noise to the vote;
    - "one-coin" with more than 10 distinct labels (answers and gold): a confusion matrix has
      labels² cells, far more than a worker gives answers (and always beyond ``DS_MAX_CELLS``);
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
    too_big = len(per_worker) * len(labels) ** 2 > DS_MAX_CELLS
    return "one-coin" if len(labels) > AUTO_MAX_DS_LABELS or too_big else "ds"


def aggregate(
    answers: Iterable[Answer],
    method: str = "auto",
    gold: Mapping[str, str] | None = None,
    families: Mapping[str, str] | None = None,
) -> dict[str, Label]:
    """One label per answered item by ``method``: "ds", "one-coin", "mv" or "auto" (``choose_method``).

    ``families`` (see ``one_coin``) is used by one-coin only: Dawid–Skene learns each worker's
    confusions itself, and the majority vote models none.
    """
    if method not in METHODS:
        raise ValueError(f"unknown aggregation method {method!r}; choose one of {', '.join(METHODS)}")
    answers = list(answers)
    if method == "auto":
        method = choose_method(answers, gold)
    if method == "mv":
        return majority_vote(answers, gold)
    if method == "one-coin":
        return one_coin(answers, gold, families=families)
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
    # log P(answers | label) up to a term common to all labels (see ``_coin_e_step``)
    scores = dict.fromkeys(voted, 0.0)
    for answer in item_answers:
        right, wrong = _coin_logs(worker_accuracy.get(answer.worker, default_accuracy), labels_count)
        scores[answer.label] += right - wrong
    unvoted = labels_count - len(voted)
    terms = [*scores.values(), math.log(unvoted)] if unvoted else list(scores.values())
    best = min(voted, key=lambda label: -scores[label])  # the first of equals in sorted order: the smallest
    return best, math.exp(scores[best] - _logsumexp(terms))


def should_stop(
    item_answers: Sequence[Answer],
    worker_accuracy: Mapping[str, float],
    labels_count: int,
    confidence: float,
    min_overlap: int,
    overlap: int,
    *,
    default_accuracy: float = DEFAULT_ACCURACY,
) -> bool:
    """Whether an item has enough answers (dynamic overlap).

    True once it has ``overlap`` answers, or once it has at least ``min_overlap`` (and at least
    one) and the posterior of its leading label (``leading_label``: one-coin model, uniform prior
    over ``labels_count`` labels, ``default_accuracy`` for workers not in ``worker_accuracy``)
    reaches ``confidence``. So easy items stop early and the answers saved go to the items where
    workers disagree.
    """
    if len({answer.item for answer in item_answers}) > 1:
        raise ValueError("should_stop takes the answers of one item")
    count = len(item_answers)
    if count >= overlap:
        return True
    if count < max(min_overlap, 1):
        return False
    return leading_label(item_answers, worker_accuracy, labels_count, default_accuracy)[1] >= confidence


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

    ``CONFUSION_DIAGONAL`` on the diagonal says the same for a label a worker has (almost) never met:
    without it, that label's row is uniform for everyone, so it explains any disagreement better than
    the labels the workers did give, and a rare label ("photo does not load") won items nobody gave
    it (the crowd simulation: a fifth of an image_quality question's products).
    """
    width = len(crowd.labels)
    weighted = [[size * probability for probability in row] for size, row in zip(crowd.sizes, posteriors, strict=True)]
    zero = [0.0] * width
    expected = [
        [sum(column) for column in zip(*map(weighted.__getitem__, groups), strict=True)] if groups else zero
        for groups in groups_of_key
    ]
    prior = [
        [CONFUSION_SMOOTHING + (CONFUSION_DIAGONAL if true == said else 0.0) for true in range(width)]
        for said in range(width)
    ]
    tables: list[tuple[float, ...]] = []
    for worker in range(len(crowd.workers)):
        rows = [
            [count + pseudo for count, pseudo in zip(row, pseudo_row, strict=True)]
            for row, pseudo_row in zip(expected[worker * width : (worker + 1) * width], prior, strict=True)
        ]
        log_totals = [math.log(sum(column)) for column in zip(*rows, strict=True)]
        for row in rows:
            tables.append(tuple(math.log(count) - log_total for count, log_total in zip(row, log_totals, strict=True)))
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
class _Slots:
    """Where the one-coin posteriors live: one flat list of slots, a few per group.

    A group stores a slot for each label voted for in it (and its gold answer), in label order;
    every other label k of the group has posterior ``prior[k] * rest[group]`` (see
    ``_CoinState``), so a taxonomy of thousands of labels costs nothing per item. The flat
    layout lets the M-steps add up with ``map`` over slot numbers instead of Python loops.
    """

    starts: tuple[int, ...]  # per group: its first slot
    labels: tuple[tuple[int, ...], ...]  # per group: the labels it stores
    answers: tuple[tuple[tuple[int, int], ...], ...]  # per group: (worker, slot within the group) per answer
    clamped: tuple[int, ...]  # per group: the slot within the group of its gold answer, or -1
    weights: tuple[int, ...]  # per slot: the size of its group
    worker_slots: tuple[tuple[int, ...], ...]  # per worker: the slot each of its answers points at
    worker_answers: tuple[int, ...]  # per worker: its answers, counting grouped items
    label_slots: tuple[tuple[int, ...], ...]  # per label: the slots that store it
    label_groups: tuple[tuple[int, ...], ...]  # per label: the groups that store it

    @staticmethod
    def build(crowd: _Crowd) -> "_Slots":
        """Lay out the slots of every group and index them by worker and by label."""
        starts: list[int] = []
        labels: list[tuple[int, ...]] = []
        answers: list[tuple[tuple[int, int], ...]] = []
        clamped: list[int] = []
        weights: list[int] = []
        worker_slots: list[list[int]] = [[] for _ in crowd.workers]
        worker_answers = [0] * len(crowd.workers)
        label_slots: list[list[int]] = [[] for _ in crowd.labels]
        label_groups: list[list[int]] = [[] for _ in crowd.labels]
        for group, (signature, gold, size) in enumerate(zip(crowd.signatures, crowd.gold, crowd.sizes, strict=True)):
            stored = sorted({label for _, label in signature} | ({gold} if gold >= 0 else set()))
            local = {label: slot for slot, label in enumerate(stored)}
            start = len(weights)
            starts.append(start)
            labels.append(tuple(stored))
            answers.append(tuple((worker, local[label]) for worker, label in signature))
            clamped.append(local[gold] if gold >= 0 else -1)
            weights.extend([size] * len(stored))
            for worker, label in signature:
                worker_slots[worker].append(start + local[label])
                worker_answers[worker] += size
            for slot, label in enumerate(stored):
                label_slots[label].append(start + slot)
                label_groups[label].append(group)
        return _Slots(
            starts=tuple(starts),
            labels=tuple(labels),
            answers=tuple(answers),
            clamped=tuple(clamped),
            weights=tuple(weights),
            worker_slots=tuple(map(tuple, worker_slots)),
            worker_answers=tuple(worker_answers),
            label_slots=tuple(map(tuple, label_slots)),
            label_groups=tuple(map(tuple, label_groups)),
        )


@dataclass(frozen=True)
class _CoinState:
    """One-coin posteriors: ``stored`` per slot, and for any other label k of group g,
    ``prior[k] * rest[g]``, where ``prior`` is the class prior the E-step used."""

    stored: tuple[float, ...]
    rest: tuple[float, ...]
    prior: tuple[float, ...]

    @staticmethod
    def initial(crowd: _Crowd, slots: _Slots) -> "_CoinState":
        """The soft majority vote (gold one-hot), which puts nothing on unvoted labels: rest 0."""
        stored = [0.0] * len(slots.weights)
        for start, answers, clamped in zip(slots.starts, slots.answers, slots.clamped, strict=True):
            if clamped >= 0:
                stored[start + clamped] = 1.0
                continue
            for _, slot in answers:
                stored[start + slot] += 1.0 / len(answers)
        width = len(crowd.labels)
        return _CoinState(tuple(stored), (0.0,) * len(slots.starts), tuple(1.0 / width for _ in range(width)))


def _one_coin_fit(crowd: _Crowd, iterations: int, tolerance: float) -> tuple[_Slots, _CoinState]:
    """EM for the one-coin model from the soft majority vote; with one label there is nothing to learn."""
    _check_em_arguments(iterations, tolerance)
    slots = _Slots.build(crowd)
    state = _CoinState.initial(crowd, slots)
    if len(crowd.labels) < 2:
        return slots, state
    for _ in range(iterations):
        prior = _coin_priors(crowd, slots, state)
        accuracy = _coin_accuracies(slots, state)
        updated = _coin_e_step(slots, prior, accuracy)
        moved = _largest_coin_change(state, updated)
        state = updated
        if moved <= tolerance:
            break
    return slots, state


def _coin_priors(crowd: _Crowd, slots: _Slots, state: _CoinState) -> list[float]:
    """M-step for the class priors, exact although unvoted labels are not stored.

    Label k's expected count is its stored posteriors, plus prior[k] * rest[g] over the groups
    that do not store it: prior[k] * (all weighted rests - the weighted rests of groups storing k).
    """
    weighted = list(map(operator.mul, state.stored, slots.weights))
    weighted_rest = list(map(operator.mul, state.rest, crowd.sizes))
    all_rest = sum(weighted_rest)
    denominator = len(crowd.items) + len(crowd.labels) * PRIOR_SMOOTHING
    priors = []
    for prior, label_slots, label_groups in zip(state.prior, slots.label_slots, slots.label_groups, strict=True):
        expected = sum(map(weighted.__getitem__, label_slots))
        if all_rest:
            expected += prior * (all_rest - sum(map(weighted_rest.__getitem__, label_groups)))
        priors.append((expected + PRIOR_SMOOTHING) / denominator)
    return priors


def _coin_accuracies(slots: _Slots, state: _CoinState) -> list[float]:
    """M-step for the accuracies: each worker's expected share of right answers, smoothed."""
    right_prior, wrong_prior = ACCURACY_PSEUDO_COUNTS
    weighted = list(map(operator.mul, state.stored, slots.weights))
    return [
        (right_prior + sum(map(weighted.__getitem__, worker_slots))) / (right_prior + wrong_prior + answers)
        for worker_slots, answers in zip(slots.worker_slots, slots.worker_answers, strict=True)
    ]


def _coin_e_step(slots: _Slots, prior: list[float], accuracy: list[float]) -> _CoinState:
    """E-step: each group's posterior over its stored labels, and its ``rest`` factor for the others.

    In log space, label k scores log prior[k] plus, per answer, log p_w if the answer is k and
    log((1 - p_w) / (labels - 1)) if not. That is the second term summed over all answers, the
    same for every label so it cancels, plus for each answer of k the bonus
    log p_w - log((1 - p_w) / (labels - 1)). So a stored label scores its log prior plus its
    bonuses, and all unvoted labels together score the log of their prior mass.
    """
    width = len(prior)
    bonus = [right - wrong for right, wrong in (_coin_logs(p, width) for p in accuracy)]
    log_prior = [math.log(p) for p in prior]
    least_prior = min(prior)
    stored: list[float] = []
    rests: list[float] = []
    for labels, answers, clamped in zip(slots.labels, slots.answers, slots.clamped, strict=True):
        if clamped >= 0:
            stored.extend(float(slot == clamped) for slot in range(len(labels)))
            rests.append(0.0)
            continue
        scores = list(map(log_prior.__getitem__, labels))
        for worker, slot in answers:
            scores[slot] += bonus[worker]
        # with unvoted labels their mass is at least the smallest prior: this guards the subtraction's rounding
        unvoted = math.log(max(1.0 - sum(map(prior.__getitem__, labels)), least_prior)) if len(labels) < width else None
        probabilities, rest = _coin_posterior(scores, unvoted)
        stored.extend(probabilities)
        rests.append(rest)
    return _CoinState(tuple(stored), tuple(rests), tuple(prior))


def _coin_posterior(scores: list[float], unvoted: float | None) -> tuple[list[float], float]:
    """Normalise the stored labels' log scores together with the unvoted labels' (if any).

    Returns the stored posteriors and the ``rest`` factor: 1 / (sum of exp(scores) + unvoted mass),
    computed after subtracting the largest score so nothing overflows.
    """
    peak = max(scores) if unvoted is None else max(*scores, unvoted)
    weights = [math.exp(score - peak) for score in scores]
    total = sum(weights) + (0.0 if unvoted is None else math.exp(unvoted - peak))
    rest = 0.0 if unvoted is None else math.exp(-peak) / total
    return [weight / total for weight in weights], rest


def _largest_coin_change(before: _CoinState, after: _CoinState) -> float:
    """How far the stored posteriors (and the rest factors) moved in one round."""
    return max(
        max(map(abs, map(operator.sub, before.stored, after.stored)), default=0.0),
        max(map(abs, map(operator.sub, before.rest, after.rest)), default=0.0),
    )


def _coin_choices(crowd: _Crowd, slots: _Slots, state: _CoinState) -> list[tuple[int, float]]:
    """Per group, the most probable label and its posterior; an unvoted label wins only if it truly is."""
    by_prior = sorted(range(len(crowd.labels)), key=lambda label: (-state.prior[label], label))
    chosen = []
    for start, labels, rest in zip(slots.starts, slots.labels, state.rest, strict=True):
        slot = max(range(len(labels)), key=lambda index: (state.stored[start + index], -labels[index]))
        best, probability = labels[slot], state.stored[start + slot]
        if rest > 0.0:
            unvoted = next(label for label in by_prior if label not in labels)
            if (state.prior[unvoted] * rest, -unvoted) > (probability, -best):
                best, probability = unvoted, state.prior[unvoted] * rest
        chosen.append((best, probability))
    return chosen


def _coin_logs(accuracy: float, labels_count: int) -> tuple[float, float]:
    """log P(answer is right) and log P(answer is one given wrong label), for one worker."""
    accuracy = min(max(accuracy, ACCURACY_FLOOR), 1.0 - ACCURACY_FLOOR)
    return math.log(accuracy), math.log((1.0 - accuracy) / (labels_count - 1))


# --------------------------------------------------------------------------------------------
# The family model: one-coin, with mistakes that land next to the right label
# --------------------------------------------------------------------------------------------


def _family_choices(
    crowd: _Crowd,
    accuracy: Sequence[float],
    fitted: list[tuple[int, float]],
    families: Mapping[str, str],
) -> list[tuple[int, float]]:
    """Per group, the label chosen under the family model, and its posterior.

    Worker w is right with probability p_w (one-coin's estimate); a wrong answer is one of the
    right label's n siblings (same family) with probability ``share``, else any label outside
    the family. In a taxonomy most mistakes are siblings (Saucepans for Stockpots), so when all
    three answers differ, two from one family and one far away point into that family, where
    one-coin sees a three-way tie. ``share`` is learned from the one-coin labels (``fitted``): when
    mistakes are spread evenly it comes out near n / (labels - 1) and the model is one-coin again.

    The prior over labels is uniform. One-coin's learned class priors count wrong answers too,
    and with a few items per label (600 products over 348 leaves) they are mostly noise that
    favours the labels the crowd over-picks: in the crowd simulation they cost 0.3 points of
    accuracy in this step, and made the posteriors overconfident.

    The chosen label is always one a worker gave (or the gold answer). Its posterior is
    normalised over the whole label space: the answered labels one by one, the unanswered
    members of each answered family together, and every other label as one block, scored with
    the mean number of siblings.
    """
    sizes = Counter(families.values())
    family_of = [families.get(label, f"\0{label}") for label in crowd.labels]  # unmapped: a family alone
    for label, family in zip(crowd.labels, family_of, strict=True):
        sizes[family] += label not in families
    width = sum(sizes.values())
    model = _FamilyModel(family_of, _family_share(crowd, fitted, family_of, sizes), width)
    mean_siblings = sum(size * (size - 1) for size in sizes.values()) / width
    chosen = []
    for signature, clamped, fit in zip(crowd.signatures, crowd.gold, fitted, strict=True):
        if clamped >= 0:
            chosen.append(fit)
            continue
        votes = [(accuracy[worker], label) for worker, label in signature]
        voted = sorted({label for _, label in votes})
        scores = [model.score(votes, label, family_of[label], sizes[family_of[label]] - 1) for label in voted]
        best = max(range(len(voted)), key=lambda index: (scores[index], -voted[index]))
        unvoted = width - len(voted)
        terms = list(scores)
        for family, answered in Counter(family_of[label] for label in voted).items():
            if sizes[family] > answered:  # its members nobody gave, all scored alike
                unvoted -= sizes[family] - answered
                score = model.score(votes, None, family, sizes[family] - 1)
                terms.append(score + math.log(sizes[family] - answered))
        if unvoted:
            terms.append(model.score(votes, None, None, mean_siblings) + math.log(unvoted))
        chosen.append((voted[best], math.exp(scores[best] - _logsumexp(terms))))
    return chosen


@dataclass(frozen=True)
class _FamilyModel:
    family_of: list[str]  # per label index
    share: float  # of wrong answers, the share that are siblings of the right label
    width: int  # labels in the whole label space

    def score(self, votes: list[tuple[float, int]], truth: int | None, family: str | None, siblings: float) -> float:
        """log P(votes | the right label is ``truth``, of ``family`` with ``siblings``); None: one not voted."""
        near = self.share / siblings if siblings else 0.0
        outside = self.width - 1 - siblings
        far = (1.0 - self.share if siblings else 1.0) / outside if outside > 0 else 0.0
        total = 0.0
        for accuracy, label in votes:
            accuracy = min(max(accuracy, ACCURACY_FLOOR), 1.0 - ACCURACY_FLOOR)
            if label == truth:
                total += math.log(accuracy)
            else:
                total += math.log((1.0 - accuracy) * (near if self.family_of[label] == family else far))
        return total


def _family_share(crowd: _Crowd, fitted: list[tuple[int, float]], family_of: list[str], sizes: Counter[str]) -> float:
    """How often a wrong answer is a sibling of the fitted label, smoothed by one answer each way."""
    near = wrong = 0
    for signature, size, (truth, _) in zip(crowd.signatures, crowd.sizes, fitted, strict=True):
        if sizes[family_of[truth]] < 2:
            continue  # a label without siblings: its mistakes cannot land near it
        for _, label in signature:
            if label != truth:
                wrong += size
                near += size * (family_of[label] == family_of[truth])
    return (near + 1) / (wrong + 2)


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
