"""The simulated crowd: who each worker is, what they answer, and how long they take.

One model for every simulation of the project, so that they cannot drift apart: the crowd
simulation (``benchmarks/crowd_sim.py``) plays it straight against the domain calls, the demo
(``sandbox/demo.py``) plays it through the local Bot API server, as people would.

The kinds of worker:

- honest workers, each with an accuracy drawn uniformly from 0.6–0.95, the chance they answer any one
  question right. A wrong category is a sibling leaf of the right one 70 % of the time (the usual
  confusion), else any leaf; a wrong option is another option, except that nobody honest says the
  photo does not load when it does; a wrong typed brand is another brand. A right typed
  brand comes in varied case and spacing, which the core folds;
- random clickers: any leaf, any option (the photo-does-not-load button too), any brand;
- constant answerers: one leaf of their own, always the first option (Yes), one typed word of their own;
- too-fast bots: random answers, 0.3–1.5 s per question;
- copiers: a ring sharing a notebook. The first ring member to get a question of a product answers
  it as a random clicker would and writes it down; every later member copies it, so on a product
  two of them share, the ring outvotes an honest worker with the same wrong label;
- switchers (only when asked for): right through the quiz, random answers after it, as slow as
  honest workers, so only the hidden checks can catch them.

Seconds per question (``SECONDS``), by the question's kind:

    honest and switchers: category 8–40, button 3–12, typed 5–20;
    random clickers, constant answerers, copiers: category 6–20 (they still click through the tree,
    only without reading the product), button 2–6, typed 3–8;
    bots: category 0.5–1.5, button 0.3–1, typed 0.5–1.5.
"""

import random
from collections.abc import Mapping
from dataclasses import dataclass

from bot.tasks.base import Question, QuestionKind
from bot.tasks.image_quality import NO_IMAGE
from taxonomy import Tree

HONEST, RANDOM, CONSTANT, FAST, COPIER = "honest", "random clicker", "constant", "too-fast bot", "copier"
SPAMMERS = (RANDOM, CONSTANT, FAST, COPIER)
SWITCHER = "switcher"  # opt-in: right through the quiz, random answers after it
FIRST_WORKER = 1001  # the first simulated worker's user id; the others follow
SIBLING_MISTAKE = 0.7  # an honest mistake is a sibling leaf this often, else any leaf
HONEST_ACCURACY = (0.6, 0.95)  # drawn uniformly per honest worker
QUIZ_ANSWERS = 5  # a switcher answers right this many products (the product's default quiz), then at random
TREE, CHOICE, TEXT = QuestionKind.TREE, QuestionKind.CHOICE, QuestionKind.TEXT
CAREFUL = {TREE: (8.0, 40.0), CHOICE: (3.0, 12.0), TEXT: (5.0, 20.0)}
CARELESS = {TREE: (6.0, 20.0), CHOICE: (2.0, 6.0), TEXT: (3.0, 8.0)}  # answers without reading the product
SECONDS = {  # per question, by its kind
    HONEST: CAREFUL,
    RANDOM: CARELESS,
    CONSTANT: CARELESS,
    FAST: {TREE: (0.5, 1.5), CHOICE: (0.3, 1.0), TEXT: (0.5, 1.5)},
    COPIER: CARELESS,
    SWITCHER: CAREFUL,  # as slow as honest workers: the speed rule must not be what catches them
}

BRANDS = (
    "Acme",
    "Zwilling",
    "OXO",
    "Le Creuset",
    "Lodge",
    "Tefal",
    "Pyrex",
    "KitchenAid",
    "Joseph Joseph",
    "Brabantia",
    "WMF",
    "Fiskars",
)
CONSTANT_WORDS = ("ok", "n/a", "brand", "none", "x")  # a constant answerer types one of these, always the same


@dataclass(frozen=True)
class Leaves:
    """The categories a worker of the batch may give, and each category's sibling leaves."""

    all: tuple[str, ...]
    siblings: dict[str, tuple[str, ...]]

    def near(self, rng: random.Random, category: str) -> str:
        """Another leaf: a sibling SIBLING_MISTAKE of the time (when it has one), else any."""
        near = self.siblings.get(category, ())
        if near and rng.random() < SIBLING_MISTAKE:
            return rng.choice(near)
        return rng.choice([other for other in self.all if other != category])


def leaves_under(tree: Tree, root_id: int | None) -> Leaves:
    """The leaves below `root_id` (the whole tree when None), by id as text, with every node's sibling leaves."""
    nodes = [n.id for n in tree if root_id is None or (n.id != root_id and tree.is_within(n.id, root_id))]
    siblings = {str(node): _sibling_leaves(tree, node) for node in nodes}
    return Leaves(tuple(str(n) for n in nodes if tree.is_leaf(n)), siblings)


def _sibling_leaves(tree: Tree, node: int) -> tuple[str, ...]:
    parent = tree.node(node).parent_id
    if parent is None:
        return ()
    return tuple(str(s) for s in tree.node(parent).children if s != node and tree.is_leaf(s))


@dataclass(frozen=True)
class Worker:
    id: int
    kind: str
    accuracy: float = 0.0  # honest workers only
    leaf: str = ""  # constant answerers only: their one category
    word: str = ""  # constant answerers only: what they type

    @property
    def is_spammer(self) -> bool:
        return self.kind in SPAMMERS


def build_crowd(
    seed: int, workers: int, spam_share: float, leaves: Leaves, switcher_share: float = 0.0
) -> tuple[Worker, ...]:
    """A seeded crowd: `spam_share` of it spammers, the four kinds in turn, the rest honest."""
    rng = random.Random(f"{seed}:crowd")
    spammers = round(workers * spam_share)
    switchers = round(workers * switcher_share)
    kinds = [SPAMMERS[n % len(SPAMMERS)] for n in range(spammers)] + [SWITCHER] * switchers
    kinds += [HONEST] * (workers - spammers - switchers)
    rng.shuffle(kinds)
    crowd = []
    for offset, kind in enumerate(kinds):
        accuracy = rng.uniform(*HONEST_ACCURACY) if kind == HONEST else 0.0
        leaf = rng.choice(leaves.all) if kind == CONSTANT else ""
        word = CONSTANT_WORDS[offset % len(CONSTANT_WORDS)] if kind == CONSTANT else ""
        crowd.append(Worker(FIRST_WORKER + offset, kind, accuracy, leaf, word))
    return tuple(crowd)


class Behaviour:
    """What each simulated worker answers to each question, and how long it takes.

    `truth` is each product's right label per question, by the product's title (what a worker sees).
    """

    def __init__(
        self, truth: Mapping[str, Mapping[str, str]], leaves: Leaves, seed: int, stream: str = "answers"
    ) -> None:
        self._leaves = leaves
        self._rng = random.Random(f"{seed}:{stream}")
        self._truth = truth
        self._notebook: dict[tuple[str, str], str] = {}  # the copier ring's shared answers, by product and question
        self._seen: dict[int, set[str]] = {}  # products each worker met so far

    def pick(self, worker: Worker, title: str, question: Question) -> str:
        """The answer as the worker means it: a category id, an option's label, or the typed text."""
        rng = self._rng
        right = self._truth[title][question.key]
        seen = self._seen.setdefault(worker.id, set())
        seen.add(title)
        if worker.kind == SWITCHER:
            return right if len(seen) <= QUIZ_ANSWERS else self._any(question)
        if worker.kind == HONEST and rng.random() < worker.accuracy:
            return self._typed(right) if question.kind == TEXT else right
        if worker.kind == HONEST:
            return self._mistake(question, right)
        if worker.kind == CONSTANT:
            return (
                worker.leaf if question.kind == TREE else worker.word if question.kind == TEXT else question.options[0]
            )
        if worker.kind == COPIER:
            if (title, question.key) not in self._notebook:
                self._notebook[title, question.key] = self._any(question)
            return self._notebook[title, question.key]
        return self._any(question)  # random clickers and bots

    def seconds(self, worker: Worker, question: Question) -> float:
        low, high = SECONDS[worker.kind][question.kind]
        return self._rng.uniform(low, high)

    def _any(self, question: Question) -> str:
        if question.kind == TREE:
            return self._rng.choice(self._leaves.all)
        return self._rng.choice(BRANDS if question.kind == TEXT else question.options)

    def _mistake(self, question: Question, right: str) -> str:
        if question.kind == TREE:
            return self._leaves.near(self._rng, right)
        if question.kind == TEXT:
            return self._rng.choice([brand for brand in BRANDS if brand != right])
        # Nobody honest says a photo that loads does not (nor, when it does not, anything but yes or no).
        return self._rng.choice([option for option in question.options if option not in (right, NO_IMAGE)])

    def _typed(self, text: str) -> str:
        """A right answer as typed: in the case and spacing the worker happened to use."""
        return self._rng.choice((text, text.lower(), text.upper(), f" {text} ", text.replace(" ", "  ")))
