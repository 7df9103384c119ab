"""Aggregation: majority vote, Dawid–Skene, one-coin, the auto rule, CSV in and out, the stop rule.

Every crowd here is made by hand or generated from a seed, so the tests need no data files.
"""

import csv
import io
import math
import random
from collections.abc import Callable

import pytest

from bot.aggregation.files import labels_csv, read_answers_csv, read_gold_csv
from bot.aggregation.methods import (
    CONFUSION_DIAGONAL,
    CONFUSION_SMOOTHING,
    PRIOR_SMOOTHING,
    Answer,
    Label,
    aggregate,
    choose_method,
    dawid_skene,
    leading_label,
    majority_vote,
    one_coin,
    one_coin_accuracy,
    should_stop,
    worker_accuracy,
)
from bot.errors import InvalidInput
from tests.words import refusal

Method = Callable[..., dict[str, Label]]
EM_METHODS: list[Method] = [dawid_skene, one_coin]
ALL_METHODS: list[Method] = [majority_vote, dawid_skene, one_coin]


def answers_of(rows: str) -> list[Answer]:
    """ "item worker label" per line, so a crowd reads like a table."""
    return [Answer(*line.split()) for line in rows.strip().splitlines()]


def accuracy(labels: dict[str, Label], truth: dict[str, str]) -> float:
    """Share of ``truth`` items whose label is right."""
    return sum(labels[item].label == label for item, label in truth.items()) / len(truth)


def synthetic_crowd(
    seed: int, items: int = 400, labels: int = 4, per_item: int = 5
) -> tuple[list[Answer], dict[str, str]]:
    """A crowd with known truth: 20 honest workers of accuracy 0.55 to 0.95, and 5 spammers.

    Two spammers always answer the first label, three answer at random. Honest workers err
    uniformly over the other labels. Each item gets ``per_item`` distinct workers.
    """
    rng = random.Random(seed)
    names = [f"c{index}" for index in range(labels)]
    skill: dict[str, float | None] = {f"w{n:02}": 0.55 + 0.4 * n / 19 for n in range(20)}
    skill.update({f"s{n}": None for n in range(5)})
    truth: dict[str, str] = {}
    answers: list[Answer] = []
    for index in range(items):
        item = f"i{index}"
        truth[item] = rng.choice(names)
        for worker in rng.sample(sorted(skill), per_item):
            answers.append(Answer(item, worker, synthetic_answer(rng, skill[worker], worker, truth[item], names)))
    return answers, truth


def synthetic_answer(rng: random.Random, skill: float | None, worker: str, truth: str, names: list[str]) -> str:
    """What one synthetic worker answers: a spammer ignores the truth, an honest worker errs uniformly."""
    if skill is None:
        return names[0] if worker in ("s0", "s1") else rng.choice(names)
    if rng.random() < skill:
        return truth
    return rng.choice([name for name in names if name != truth])


# --- majority vote ----------------------------------------------------------------------------


def test_majority_vote_tie_goes_to_the_smallest_label() -> None:
    """A tie is decided by string order, so the same votes always give the same label."""
    labels = majority_vote(answers_of("x w1 mug\nx w2 cup\ny w1 b\ny w2 c\ny w3 a\ny w4 c\ny w5 b"))
    assert labels["x"] == Label("x", "cup", 0.5, 2)
    assert labels["y"] == Label("y", "b", 0.4, 5)


def test_majority_vote_confidence_is_the_share_of_votes() -> None:
    """Majority vote's confidence is the plain (unsmoothed) share of votes for the winner."""
    labels = majority_vote(answers_of("x w1 mug\nx w2 mug\nx w3 cup\nz w1 cup"))
    assert labels["x"].label == "mug"
    assert labels["x"].confidence == pytest.approx(2 / 3)
    assert labels["z"] == Label("z", "cup", 1.0, 1)


# --- Dawid–Skene ------------------------------------------------------------------------------


def cups_and_mugs() -> tuple[list[Answer], dict[str, str]]:
    """Three good workers, and two who always call a cup a mug (right on mugs and plates).

    Calibration items are answered by all five, so the good ones outvote the bad ones there and
    the model can learn the bad ones' habit. Test items are answered by one good worker and the
    two bad ones: on the cups among them, majority vote says "mug".
    """
    answers: list[Answer] = []
    truth: dict[str, str] = {}
    for label in ("cup", "mug", "plate"):
        for index in range(10):
            for kind, workers in (("calibration", ("g1", "g2", "g3", "b1", "b2")), ("test", ("g1", "b1", "b2"))):
                item = f"{kind}-{label}-{index}"
                truth[item] = label
                for worker in workers:
                    said = "mug" if worker.startswith("b") and label == "cup" else label
                    answers.append(Answer(item, worker, said))
    return answers, truth


def test_dawid_skene_beats_majority_when_one_good_worker_faces_two_consistently_bad_ones() -> None:
    """Dawid–Skene learns the bad pair's habit on the calibration items and then overrules them."""
    answers, truth = cups_and_mugs()
    voted = majority_vote(answers)
    learned = dawid_skene(answers)
    test_cups = [item for item in truth if item.startswith("test-cup")]
    assert all(voted[item].label == "mug" for item in test_cups)
    assert all(learned[item].label == "cup" for item in test_cups)
    assert accuracy(learned, truth) == 1.0
    assert accuracy(voted, truth) < 0.9


def yes_no_and_a_rare_third(seed: int) -> tuple[list[Answer], dict[str, str]]:
    """A photo question: yes or no, and on one product in twenty "no_image" (the photo does not load).
    28 workers of accuracy 0.6 to 0.95, 3 per product; a wrong answer is yes or no, never no_image."""
    rng = random.Random(seed)
    skill = {f"w{n:02}": 0.6 + 0.35 * n / 27 for n in range(28)}
    truth: dict[str, str] = {}
    answers: list[Answer] = []
    for index in range(150):
        item = f"i{index}"
        truth[item] = "no_image" if rng.random() < 0.05 else rng.choice(("yes", "no"))
        for worker in rng.sample(sorted(skill), 3):
            wrong = [label for label in ("yes", "no") if label != truth[item]]
            answers.append(Answer(item, worker, truth[item] if rng.random() < skill[worker] else rng.choice(wrong)))
    return answers, truth


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_dawid_skene_does_not_give_a_rare_label_to_products_nobody_gave_it(seed: int) -> None:
    """A label few answers carry must not become where every disagreement goes: with a uniform row for
    it, Dawid–Skene gave a label none of its workers gave to 3 to 27 of these 150 products, mostly "no_image"."""
    answers, _ = yes_no_and_a_rare_third(seed)
    given: dict[str, set[str]] = {}
    for answer in answers:
        given.setdefault(answer.item, set()).add(answer.label)
    learned = dawid_skene(answers)
    assert sum(1 for item, label in learned.items() if label.label not in given[item]) <= 1


# --- gold -------------------------------------------------------------------------------------


def spammers_and_one_good_worker() -> tuple[list[Answer], dict[str, str]]:
    """Two spammers always answer "a"; one good worker is always right; half the items are "b"."""
    answers: list[Answer] = []
    truth = {f"i{index:02}": "ab"[index % 2] for index in range(40)}
    for item, label in truth.items():
        answers += [Answer(item, "good", label), Answer(item, "spam1", "a"), Answer(item, "spam2", "a")]
    return answers, truth


@pytest.mark.parametrize("method", [*EM_METHODS, majority_vote])
def test_gold_item_gets_its_gold_answer_with_confidence_one(method: Method) -> None:
    """Gold wins over any number of answers, in every method."""
    answers, _ = spammers_and_one_good_worker()
    gold = {"i01": "b", "i03": "b", "i05": "b", "i00": "a"}
    labels = method(answers, gold)
    assert labels["i01"] == Label("i01", "b", 1.0, 3)  # all three were outvoted by the gold answer
    assert labels["i00"] == Label("i00", "a", 1.0, 3)


def test_gold_improves_the_estimate_of_a_spammer() -> None:
    """Without gold the spammers agree with each other and look reliable; gold shows they are not.

    One-coin, misled by the pair, keeps its wrong labels here but believes them less; Dawid–Skene
    was already right and becomes surer."""
    answers, truth = spammers_and_one_good_worker()
    gold = {"i01": "b", "i03": "b", "i05": "b", "i07": "b", "i00": "a"}
    true_spam = sum(label == "a" for label in truth.values()) / len(truth)
    alone, taught = one_coin_accuracy(answers), one_coin_accuracy(answers, gold)
    assert abs(taught["spam1"] - true_spam) < abs(alone["spam1"] - true_spam)
    assert taught["good"] > alone["good"]
    graded = {item: label for item, label in truth.items() if item not in gold}
    for method in EM_METHODS:
        before, after = method(answers), method(answers, gold)
        assert accuracy(after, graded) >= accuracy(before, graded)
        assert belief_in_truth(after, graded) > belief_in_truth(before, graded)


def belief_in_truth(labels: dict[str, Label], truth: dict[str, str]) -> float:
    """Mean posterior of the true label; with two labels it is 1 - confidence when the label is wrong."""
    return sum(
        labels[item].confidence if labels[item].label == label else 1 - labels[item].confidence
        for item, label in truth.items()
    ) / len(truth)


def test_gold_exposes_colluding_spammers() -> None:
    """Two spammers copy one random answer per item: they agree with each other, so they look
    excellent; gold on a fifth of the items drags their estimate towards their real 0.5."""
    rng = random.Random(0)
    truth = {f"i{index:02}": rng.choice("ab") for index in range(40)}
    answers = []
    for item, label in truth.items():
        copied = rng.choice("ab")
        answers += [Answer(item, "good", label), Answer(item, "spam1", copied), Answer(item, "spam2", copied)]
    true_spam = sum(a.label == truth[a.item] for a in answers if a.worker == "spam1") / len(truth)
    gold = dict(list(truth.items())[:8])
    alone, taught = one_coin_accuracy(answers), one_coin_accuracy(answers, gold)
    assert abs(taught["spam1"] - true_spam) < abs(alone["spam1"] - true_spam)
    assert alone["spam1"] > 0.9  # what no gold gets you


def test_gold_for_an_item_without_answers_is_ignored() -> None:
    """Gold for an unanswered item labels nothing, and its label does not join the label space."""
    labels = dawid_skene(answers_of("x w1 a\nx w2 a"), gold={"nobody-answered": "z"})
    assert labels == {"x": Label("x", "a", 1.0, 2)}


# --- one-coin ---------------------------------------------------------------------------------


def test_one_coin_on_a_many_label_set() -> None:
    """600 labels, 3 answers per item: two unreliable workers rarely agree on a wrong label, so
    one-coin follows the reliable worker where majority vote falls back on the smallest label."""
    rng = random.Random(11)
    names = [f"category-{index:03}" for index in range(600)]
    skill = {"ann": 0.95, "bob": 0.9, "cid": 0.3, "dan": 0.3, "eve": 0.35}
    answers, truth = [], {}
    for index in range(150):
        item = f"p{index}"
        truth[item] = rng.choice(names)
        for worker in rng.sample(sorted(skill), 3):
            said = truth[item] if rng.random() < skill[worker] else rng.choice(names)
            answers.append(Answer(item, worker, said))
    labels = one_coin(answers)
    assert accuracy(labels, truth) >= 0.8  # items answered by three unreliable workers are lost anyway
    assert accuracy(labels, truth) > accuracy(majority_vote(answers), truth) + 0.1
    assert all(0.0 <= label.confidence <= 1.0 for label in labels.values())
    learned = one_coin_accuracy(answers)
    assert learned["ann"] > 0.85 and learned["cid"] < 0.5


# --- the family model (one-coin with mistakes next to the right label) -------------------------


def family_crowd(seed: int, near_share: float, items: int = 400) -> tuple[list[Answer], dict[str, str], dict[str, str]]:
    """12 families of 8 labels; 3 answers per item from workers of accuracy 0.6 to 0.95.

    A wrong answer is a sibling of the truth with probability ``near_share``, else any other label.
    Returns the answers, the truth and the families (label -> family).
    """
    rng = random.Random(seed)
    families = {f"f{family:02}-{member}": f"f{family:02}" for family in range(12) for member in range(8)}
    names = sorted(families)
    skill = {f"w{n:02}": 0.6 + 0.35 * n / 14 for n in range(15)}
    answers, truth = [], {}
    for index in range(items):
        item = f"i{index:03}"
        truth[item] = right = rng.choice(names)
        siblings = [name for name in names if families[name] == families[right] and name != right]
        for worker in rng.sample(sorted(skill), 3):
            if rng.random() < skill[worker]:
                said = right
            elif rng.random() < near_share:
                said = rng.choice(siblings)
            else:
                said = rng.choice([name for name in names if name != right])
            answers.append(Answer(item, worker, said))
    return answers, truth, families


def pooled(seeds: range, near_share: float) -> tuple[float, float, list[float]]:
    """Accuracy of one-coin without and with families, and the family model's confidences, over several crowds."""
    plain = family = 0.0
    confidences: list[float] = []
    for seed in seeds:
        answers, truth, families = family_crowd(seed, near_share)
        plain += accuracy(one_coin(answers), truth) / len(seeds)
        labels = one_coin(answers, families=families)
        family += accuracy(labels, truth) / len(seeds)
        confidences += [label.confidence for label in labels.values()]
    return plain, family, confidences


def test_family_model_beats_one_coin_when_mistakes_are_siblings() -> None:
    """Most mistakes land on a sibling: two answers from one family outweigh one far away.

    Over four crowds of 400 items the family model is right 1.1 points more often (0.930 to
    0.941); on a single crowd the gain is 0 to 2.5 points, so the test pools them.
    """
    plain, family, confidences = pooled(range(1, 5), near_share=0.7)
    assert family >= plain + 0.005
    assert all(0.0 < confidence <= 1.0 for confidence in confidences)
    # the posterior is calibrated: the mean confidence is close to the share right
    assert abs(sum(confidences) / len(confidences) - family) < 0.01


def test_family_model_is_harmless_when_mistakes_are_spread_evenly() -> None:
    """With mistakes anywhere, the learned share of sibling mistakes is about 7 / 95: nothing is gained or lost."""
    plain, family, _ = pooled(range(1, 5), near_share=0.0)
    assert abs(family - plain) <= 0.01


def test_family_model_turns_a_three_way_tie_towards_the_family() -> None:
    """Three equally trusted workers, three answers: one-coin takes the smallest label, the family model a sibling."""
    answers, _, families = family_crowd(5, near_share=0.7, items=200)
    # three workers who agree on everything else, so EM trusts them alike
    for index in range(30):
        answers += [Answer(f"agreed-{index}", worker, f"f{index % 12:02}-0") for worker in ("x", "y", "z")]
    answers += [Answer("split", "x", "f00-0"), Answer("split", "y", "f05-1"), Answer("split", "z", "f05-2")]
    assert one_coin(answers)["split"].label == "f00-0"
    split = one_coin(answers, families=families)["split"]
    assert split.label in ("f05-1", "f05-2")
    assert 0.45 < split.confidence < 0.55  # nearly all the mass on the two siblings, split between them


def test_family_model_with_no_siblings_is_one_coin_with_a_uniform_prior() -> None:
    """Every label a family of its own: the posterior is ``leading_label``'s, over the whole label space."""
    answers, _, families = family_crowd(6, near_share=0.7, items=150)
    alone = {label: label for label in families}
    labels = one_coin(answers, families=alone)
    learned = one_coin_accuracy(answers)
    for item in ("i000", "i001", "i017", "i100"):
        expected = leading_label([a for a in answers if a.item == item], learned, len(alone))
        assert (labels[item].label, labels[item].confidence) == (expected[0], pytest.approx(expected[1]))


def test_family_model_keeps_gold_and_is_used_by_aggregate() -> None:
    answers, truth, families = family_crowd(7, near_share=0.7)
    gold = {"i000": truth["i000"], "i001": truth["i001"]}
    labels = aggregate(answers, "one-coin", gold, families)
    assert labels == one_coin(answers, gold, families=families)
    assert (labels["i000"].label, labels["i000"].confidence) == (truth["i000"], 1.0)
    assert aggregate(answers, "ds", gold, families) == dawid_skene(answers, gold)  # DS learns confusions itself


# --- confidence is the posterior --------------------------------------------------------------


@pytest.mark.parametrize("method", ALL_METHODS)
def test_confidence_is_a_probability(method: Method) -> None:
    """Every confidence is in [0, 1], and the top of 4 labels is at least 1/4."""
    answers, _ = synthetic_crowd(seed=3, items=120)
    labels = method(answers)
    assert all(0.0 <= label.confidence <= 1.0 for label in labels.values())
    assert all(label.confidence >= 1 / 4 - 1e-12 for label in labels.values())  # the top of 4 labels


def small_crowd() -> tuple[list[Answer], dict[str, str]]:
    """A messy little crowd: five labels, unequal workers, a duplicated answer, gold on two items."""
    rng = random.Random(5)
    names = ["a", "b", "c", "d", "e"]
    answers = []
    for index in range(30):
        truth = rng.choice(names)
        for worker in rng.sample(["u", "v", "w", "x", "y"], 3):
            said = truth if rng.random() < 0.5 + 0.1 * "uvwxy".index(worker) else rng.choice(names)
            answers.append(Answer(f"i{index}", worker, said))
    answers.append(answers[0])
    return answers, {"i0": "e", "i1": answers[3].label}


Said = dict[str, list[tuple[str, int]]]  # item -> (worker, label index) per answer
Chances = dict[str, list[list[float]]]  # worker -> P(answers j | true label k) as [k][j]


def textbook_em(
    answers: list[Answer], gold: dict[str, str], rounds: int, one_coin_model: bool
) -> dict[str, tuple[list[str], list[float]]]:
    """Dawid–Skene or one-coin written the slow, obvious way, dense over all labels: the posterior oracle."""
    labels = sorted({answer.label for answer in answers} | set(gold.values()))
    size = len(labels)
    said: Said = {}
    for answer in answers:
        said.setdefault(answer.item, []).append((answer.worker, labels.index(answer.label)))
    post = {item: [sum(j == k for _, j in pairs) / len(pairs) for k in range(size)] for item, pairs in said.items()}
    post |= {item: [float(labels[k] == gold[item]) for k in range(size)] for item in gold}
    for _ in range(rounds):
        prior = [
            (sum(row[k] for row in post.values()) + PRIOR_SMOOTHING) / (len(post) + size * PRIOR_SMOOTHING)
            for k in range(size)
        ]
        chance = textbook_coins(said, post, size) if one_coin_model else textbook_confusions(said, post, size)
        for item, pairs in said.items():
            if item not in gold:
                joint = [prior[k] * math.prod(chance[w][k][j] for w, j in pairs) for k in range(size)]
                post[item] = [value / sum(joint) for value in joint]
    return {item: (labels, post[item]) for item in said}


def textbook_coins(said: Said, post: dict[str, list[float]], size: int) -> Chances:
    """One-coin M-step: p_w = (expected right answers + 1) / (answers + 2); errors spread evenly."""
    right: dict[str, float] = {}
    total: dict[str, int] = {}
    for item, pairs in said.items():
        for worker, j in pairs:
            right[worker] = right.get(worker, 0.0) + post[item][j]
            total[worker] = total.get(worker, 0) + 1
    chances = {}
    for worker in total:
        p = (right[worker] + 1) / (total[worker] + 2)
        chances[worker] = [[p if k == j else (1 - p) / (size - 1) for j in range(size)] for k in range(size)]
    return chances


def textbook_confusions(said: Said, post: dict[str, list[float]], size: int) -> Chances:
    """Dawid–Skene M-step: expected counts of (true k, answered j) plus the smoothing (more on the diagonal),
    rows normalised."""
    counts: Chances = {}
    for item, pairs in said.items():
        for worker, j in pairs:
            matrix = counts.setdefault(
                worker,
                [
                    [CONFUSION_SMOOTHING + (CONFUSION_DIAGONAL if k == j else 0.0) for j in range(size)]
                    for k in range(size)
                ],
            )
            for k in range(size):
                matrix[k][j] += post[item][k]
    return {worker: [[cell / sum(row) for cell in row] for row in matrix] for worker, matrix in counts.items()}


@pytest.mark.parametrize(("method", "one_coin_model"), [(dawid_skene, False), (one_coin, True)])
@pytest.mark.parametrize("rounds", [0, 1, 3, 20])
def test_confidence_equals_the_posterior_of_the_model(method: Method, one_coin_model: bool, rounds: int) -> None:
    """The fast code (grouped items, log space, sparse one-coin) agrees with the textbook EM."""
    answers, gold = small_crowd()
    expected = textbook_em(answers, gold, rounds, one_coin_model)
    labels = method(answers, gold, iterations=rounds, tolerance=0.0)
    for item, (names, posterior) in expected.items():
        assert labels[item].confidence == pytest.approx(max(posterior), abs=1e-9)
        assert posterior[names.index(labels[item].label)] == pytest.approx(max(posterior), abs=1e-9)


# --- auto -------------------------------------------------------------------------------------


def test_auto_picks_majority_vote_for_few_items() -> None:
    """With a handful of items there is nothing for EM to learn from."""
    answers = answers_of("x w1 a\nx w2 b\nx w3 b")
    assert choose_method(answers) == "mv"
    assert aggregate(answers) == majority_vote(answers)


def test_auto_picks_majority_vote_when_workers_answer_too_little() -> None:
    """Workers with three answers each cannot be told apart, so EM would only add noise."""
    answers = [Answer(f"i{index}", f"w{index}-{n}", "a") for index in range(40) for n in range(3)]
    assert choose_method(answers) == "mv"


def test_auto_picks_dawid_skene_for_few_labels_and_one_coin_for_many() -> None:
    """Full confusion matrices for few labels, one accuracy per worker for many."""
    few, _ = synthetic_crowd(seed=1, items=60)
    assert choose_method(few) == "ds"
    assert aggregate(few) == dawid_skene(few)
    many, _ = synthetic_crowd(seed=1, items=60, labels=12)
    assert choose_method(many) == "one-coin"
    assert aggregate(many) == one_coin(many)


def test_aggregate_runs_the_named_method_and_refuses_unknown_ones() -> None:
    """A typo in the method name is an error, not a silent fallback."""
    answers, _ = synthetic_crowd(seed=2, items=30)
    assert aggregate(answers, "mv") == majority_vote(answers)
    assert aggregate(answers, "ds") == dawid_skene(answers)
    assert aggregate(answers, "one-coin", gold={"i0": "c1"}) == one_coin(answers, gold={"i0": "c1"})
    with pytest.raises(ValueError, match="unknown aggregation method 'glad'"):
        aggregate(answers, "glad")


@pytest.mark.parametrize("method", [*ALL_METHODS, aggregate])
def test_no_answers_no_labels(method: Method) -> None:
    """An empty batch aggregates to nothing rather than failing."""
    assert method([]) == {}


def test_dawid_skene_refuses_a_label_space_too_large_for_confusion_matrices() -> None:
    """A taxonomy-sized label space would exhaust memory; DS says so and auto picks one-coin."""
    answers = [Answer(f"i{index}", f"w{index % 50}", f"leaf-{index}") for index in range(300)]
    with pytest.raises(InvalidInput) as raised:
        dawid_skene(answers)
    assert refusal(raised.value) == (
        "Dawid–Skene would need 4,500,000 confusion cells (50 workers, 300 labels); "
        "use one_coin for a label space this large"
    )
    assert choose_method(answers) == "one-coin"
    assert len(aggregate(answers)) == 300


def test_em_refuses_negative_settings() -> None:
    """Negative iterations or tolerance are mistakes, not settings."""
    with pytest.raises(ValueError, match="iterations"):
        dawid_skene(answers_of("x w a"), iterations=-1)
    with pytest.raises(ValueError, match="tolerance"):
        one_coin(answers_of("x w a"), tolerance=-0.1)


# --- CSV --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        'item,worker,answer\np1,w7,"Home > Mugs, cups"\n',
        'question,worker,answer\r\np1,w7,"Home > Mugs, cups"\r\n\r\n',
        '\ufeffworker, Answer ,QUESTION\n w7 ,"Home > Mugs, cups",p1\n',
    ],
)
def test_read_answers_csv_accepts_both_headers(text: str) -> None:
    """item or question, in any column order and case, with a BOM or CRLF; cells are stripped."""
    assert read_answers_csv(text) == [Answer("p1", "w7", "Home > Mugs, cups")]


def test_read_answers_csv_rejects_a_missing_column_clearly() -> None:
    """The error names the missing column and the header expected."""
    with pytest.raises(InvalidInput) as raised:
        read_answers_csv("item,worker,label\np1,w1,mug\n")
    assert raised.value.params == {
        "file": "answers",
        "missing": [["answer", "answer_id"]],
        "expected": "item,worker,answer",
    }
    assert refusal(raised.value) == (
        "answers CSV is missing column answer or answer_id; expected a header like item,worker,answer"
    )
    with pytest.raises(InvalidInput) as raised:
        read_answers_csv("answer\nmug\n")
    assert "missing column item or item_id or question, worker" in refusal(raised.value)


def test_read_answers_csv_names_the_line_of_an_empty_cell() -> None:
    """A bad row is reported by its line, so a requester can fix the file."""
    with pytest.raises(InvalidInput) as raised:
        read_answers_csv("item,worker,answer\np1,w1,mug\np2,,cup\n")
    assert refusal(raised.value) == "answers CSV line 3: every column needs a value, got 'p2,,cup'"


def test_read_gold_csv_accepts_both_headers_and_refuses_two_answers() -> None:
    """item,answer or question,truth; one item with two different answers is refused."""
    assert read_gold_csv("item,answer\np1,mug\np2,cup\n") == {"p1": "mug", "p2": "cup"}
    assert read_gold_csv("question,truth\n1,0\n") == {"1": "0"}
    with pytest.raises(InvalidInput) as raised:
        read_gold_csv("item,label\np1,mug\n")
    assert "missing column answer or truth" in refusal(raised.value)
    with pytest.raises(InvalidInput) as raised:
        read_gold_csv("item,answer\np1,mug\np1,cup\n")
    assert refusal(raised.value) == "gold CSV line 3: item 'p1' has two answers, 'mug' and 'cup'"


def test_labels_csv_format() -> None:
    """Header, six-decimal confidence, and a label with a comma quoted so the file reads back."""
    labels = {
        "p1": Label("p1", "Mugs", 0.9876543, 3),
        "p2": Label("p2", "Cups, Saucers", 1.0, 5),
    }
    text = labels_csv(labels)
    assert text == 'item,label,confidence,answers\np1,Mugs,0.987654,3\np2,"Cups, Saucers",1.000000,5\n'
    assert list(csv.DictReader(io.StringIO(text)))[1]["label"] == "Cups, Saucers"


def test_csv_round_trip_through_aggregation() -> None:
    """Answers in, labels out, with the alternative header."""
    answers = read_answers_csv("question,worker,answer\np1,w1,mug\np1,w2,mug\np1,w3,cup\n")
    assert labels_csv(majority_vote(answers)) == "item,label,confidence,answers\np1,mug,0.666667,3\n"


# --- the stop rule ----------------------------------------------------------------------------


def test_leading_label_is_the_one_coin_posterior() -> None:
    """Two workers agree on "a" among 3 labels: P = .9·.8 / (.9·.8 + 2 · (.1/2)·(.2/2))."""
    answers = answers_of("x w1 a\nx w2 a")
    label, posterior = leading_label(answers, {"w1": 0.9, "w2": 0.8}, labels_count=3)
    assert label == "a"
    assert posterior == pytest.approx(0.72 / (0.72 + 2 * 0.05 * 0.1))


def test_leading_label_counts_labels_nobody_chose_and_uses_the_default_accuracy() -> None:
    """w1 (0.9) says a, a stranger (0.7 by default) says b, 4 labels in all."""
    answers = answers_of("x w1 a\nx stranger b")
    label, posterior = leading_label(answers, {"w1": 0.9}, labels_count=4)
    a, b, other = 0.9 * 0.3 / 3, 0.1 / 3 * 0.7, 0.1 / 3 * 0.3 / 3
    assert label == "a"
    assert posterior == pytest.approx(a / (a + b + 2 * other))


def test_should_stop_waits_for_min_overlap_even_when_confident() -> None:
    """One excellent worker is still one answer when min_overlap asks for two."""
    accuracies = {"w1": 0.99, "w2": 0.99}
    one = answers_of("x w1 a")
    assert not should_stop(one, accuracies, 2, confidence=0.95, min_overlap=2, overlap=5)
    assert should_stop(one, accuracies, 2, confidence=0.95, min_overlap=1, overlap=5)
    assert should_stop(answers_of("x w1 a\nx w2 a"), accuracies, 2, confidence=0.95, min_overlap=2, overlap=5)


def test_should_stop_at_overlap_even_when_unsure() -> None:
    """A split item stops at overlap: the batch's budget is the ceiling."""
    split = answers_of("x w1 a\nx w2 b\nx w3 a\nx w4 b")
    assert not should_stop(split[:3], {}, 2, confidence=0.95, min_overlap=2, overlap=4)
    assert should_stop(split, {}, 2, confidence=0.95, min_overlap=2, overlap=4)


def test_should_stop_needs_enough_confidence() -> None:
    """Two agreeing strangers (0.7 each) on 2 labels: posterior .49 / (.49 + .09) = 0.845."""
    pair = answers_of("x s1 a\nx s2 a")
    assert not should_stop(pair, {}, 2, confidence=0.85, min_overlap=2, overlap=3)
    assert should_stop(pair, {}, 2, confidence=0.84, min_overlap=2, overlap=3)


def test_should_stop_refuses_answers_of_several_items_and_too_few_labels() -> None:
    """Mixed items or a label space smaller than the labels seen are caller bugs."""
    with pytest.raises(ValueError, match="one item"):
        should_stop(answers_of("x w1 a\ny w1 a"), {}, 2, 0.9, 1, 3)
    with pytest.raises(ValueError, match="labels_count"):
        should_stop(answers_of("x w1 a\nx w2 b\nx w3 c"), {}, 2, 0.9, 1, 5)


def test_worker_accuracy_is_smoothed_towards_the_default() -> None:
    """(right + 0.7 · 2) / (answers + 2); workers without reference answers are left out."""
    answers = answers_of("x w1 a\ny w1 a\nz w1 b\nx w2 b\nq w3 a")
    accuracies = worker_accuracy(answers, {"x": "a", "y": "a", "z": "a"})
    assert accuracies == {"w1": pytest.approx((2 + 1.4) / 5), "w2": pytest.approx(1.4 / 3)}


# --- determinism and the synthetic crowd ------------------------------------------------------


@pytest.mark.parametrize("method", [*ALL_METHODS, aggregate])
def test_same_input_same_output(method: Method) -> None:
    """Same answers, same labels, same confidences, same order."""
    answers, _ = synthetic_crowd(seed=4, items=100)
    first = method(answers)
    again = method([Answer(a.item, a.worker, a.label) for a in answers])
    assert first == again
    assert list(first) == list(again)


@pytest.mark.parametrize("method", EM_METHODS)
def test_answer_order_does_not_change_the_labels(method: Method) -> None:
    """Shuffled answers give the same labels; confidences agree up to float rounding."""
    answers, _ = synthetic_crowd(seed=4, items=100)
    shuffled = answers[:]
    random.Random(1).shuffle(shuffled)
    first, second = method(answers), method(shuffled)
    assert {item: label.label for item, label in first.items()} == {item: label.label for item, label in second.items()}
    assert all(first[item].confidence == pytest.approx(second[item].confidence) for item in first)


@pytest.mark.parametrize("seed", [2026, 7])
def test_em_beats_majority_vote_on_a_synthetic_crowd(seed: int) -> None:
    """Honest workers of accuracy 0.55–0.95 and five spammers, 4 labels, 5 answers per item."""
    answers, truth = synthetic_crowd(seed)
    voted = accuracy(majority_vote(answers), truth)
    for method in EM_METHODS:
        learned = accuracy(method(answers), truth)
        assert learned >= voted
        assert learned >= 0.88
    gold = dict(list(truth.items())[:20])
    graded = {item: label for item, label in truth.items() if item not in gold}
    assert accuracy(one_coin(answers, gold), graded) >= accuracy(majority_vote(answers, gold), graded)
