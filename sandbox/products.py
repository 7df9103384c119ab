"""Products of each task type for the simulations: their file columns and their truth.

The crowd simulation (``benchmarks/crowd_sim.py``) and the demo (``sandbox/demo.py``) draw their
batches here, so both label the same kind of product:

- ``categorize``: a leaf of the batch root's subtree;
- ``validate`` with ``correct=true``: is the proposed category right (half of them are; a wrong one
  is a sibling leaf 60 % of the time), and after a No the right category;
- ``attributes`` with ``color`` (4 values), ``material`` (4 values) and a typed ``brand`` (one of 12);
- ``image_match``: does the photo show the product (yes 55 %, no 40 %, the photo does not load 5 %);
- ``image_quality`` with its default questions ``blurry`` (yes 25 %), ``person`` (15 %) and
  ``white_background`` (50 %); on 5 % of the products the photo does not load.
"""

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.tasks import registry
from bot.tasks.base import TaskContext, TaskType
from bot.tasks.image_quality import NO_IMAGE
from bot.tasks.reading import NO, YES
from sandbox.crowd import BRANDS, Leaves

COLORS = ("black", "white", "silver", "red")
MATERIALS = ("steel", "wood", "plastic", "glass")
PROPOSED_RIGHT = 0.5  # validate: share of products whose proposed category is right
PROPOSED_SIBLING = 0.6  # … and of the wrong ones, share that are a sibling leaf of the right one
MATCH_SHARES: dict[str, float] = {YES: 0.55, NO: 0.40, NO_IMAGE: 0.05}
NO_PHOTO_SHARE = 0.05  # image_quality: products whose photo does not load
QUALITY_YES = {"blurry": 0.25, "person": 0.15, "white_background": 0.5}


# A product of a type: its own file columns (besides item_id, title, description, price) and its
# true label per question; and the gold columns that give that truth.
Product = tuple[dict[str, str], dict[str, str]]


def _categorize(rng: random.Random, leaves: Leaves) -> Product:
    return {}, {"category": rng.choice(leaves.all)}


def _validate(rng: random.Random, leaves: Leaves) -> Product:
    right = rng.choice(leaves.all)
    if rng.random() < PROPOSED_RIGHT:
        proposed = right
    elif leaves.siblings[right] and rng.random() < PROPOSED_SIBLING:
        proposed = rng.choice(leaves.siblings[right])
    else:
        proposed = rng.choice([leaf for leaf in leaves.all if leaf != right])
    return {"proposed_category": proposed}, {"verdict": YES if proposed == right else NO, "category": right}


def _attributes(rng: random.Random, leaves: Leaves) -> Product:
    # The brand is asked, so the card does not show it.
    return {}, {"color": rng.choice(COLORS), "material": rng.choice(MATERIALS), "brand": rng.choice(BRANDS)}


def _image_match(rng: random.Random, leaves: Leaves) -> Product:
    return {}, {"match": rng.choices(tuple(MATCH_SHARES), tuple(MATCH_SHARES.values()))[0]}


def _image_quality(rng: random.Random, leaves: Leaves) -> Product:
    if rng.random() < NO_PHOTO_SHARE:
        return {}, dict.fromkeys(QUALITY_YES, NO_IMAGE)
    return {}, {key: YES if rng.random() < share else NO for key, share in QUALITY_YES.items()}


def _gold_category(truth: Mapping[str, str]) -> dict[str, str]:
    return {"gold_category": truth["category"]}


def _gold_per_question(truth: Mapping[str, str]) -> dict[str, str]:
    return {f"gold_{key}": label for key, label in truth.items()}


@dataclass(frozen=True)
class Scenario:
    """One task type's batch: its caption settings, how a product is drawn, and its gold columns."""

    name: str
    settings: tuple[tuple[str, str], ...]
    product: Callable[[random.Random, Leaves], Product]
    gold_columns: Callable[[Mapping[str, str]], dict[str, str]]
    photo: bool = False  # rows carry an image_url
    summary: str = ""


SCENARIOS = {
    scenario.name: scenario
    for scenario in (
        Scenario("categorize", (), _categorize, _gold_category, summary="a leaf of the root's subtree"),
        Scenario(
            "validate",
            (("correct", "true"),),
            _validate,
            _gold_category,
            summary=f"proposed category right {PROPOSED_RIGHT:.0%}; a wrong one a sibling {PROPOSED_SIBLING:.0%}",
        ),
        Scenario(
            "attributes",
            (("attributes", f"color:{'|'.join(COLORS)}; material:{'|'.join(MATERIALS)}; brand:text"),),
            _attributes,
            _gold_per_question,
            summary=f"color of {len(COLORS)}, material of {len(MATERIALS)}, brand typed (one of {len(BRANDS)})",
        ),
        Scenario(
            "image_match",
            (),
            _image_match,
            lambda truth: {"gold_answer": truth["match"]},
            photo=True,
            summary=", ".join(f"{label} {share:.0%}" for label, share in MATCH_SHARES.items()),
        ),
        Scenario(
            "image_quality",
            (),
            _image_quality,
            _gold_per_question,
            photo=True,
            summary=f"photo does not load {NO_PHOTO_SHARE:.0%}; yes "
            + ", ".join(f"{key} {share:.0%}" for key, share in QUALITY_YES.items()),
        ),
    )
}
assert tuple(SCENARIOS) == tuple(registry.TYPES), "a task type without a scenario (or the other way round)"


# A drawn product: its file row (every column the type reads, gold columns on gold products) and its
# true label per question.
Drawn = tuple[dict[str, str], dict[str, str]]


def draw_rows(type_name: str, seed: int, items: int, gold_share: float, leaves: Leaves) -> list[Drawn]:
    """`items` seeded products of the type, `gold_share` of them gold, titled "Product N"."""
    scenario = SCENARIOS[type_name]
    rng = random.Random(f"{seed}:items")
    gold_numbers = set(rng.sample(range(1, items + 1), round(items * gold_share)))
    drawn = []
    for n in range(1, items + 1):
        columns, truth = scenario.product(rng, leaves)
        row = {
            "item_id": f"sku-{n:05d}",
            "title": f"Product {n}",
            "description": f"Simulated product {n}",
            "price": "9.99",
            **({"image_url": f"https://images.example.com/{n}.jpg"} if scenario.photo else {"brand": "Acme"}),
            **columns,
        }
        if n in gold_numbers:
            row.update(scenario.gold_columns(truth))
        drawn.append((row, truth))
    return drawn


def asked(
    task_type: TaskType, context: TaskContext, payload: Mapping[str, Any], truth: Mapping[str, str]
) -> tuple[str, ...]:
    """The questions the type asks a worker who answers every one truthfully: where a label is scored."""
    answers: dict[str, str] = {}
    while (question := task_type.next_question(payload, answers, context)) is not None:
        answers[question.key] = truth[question.key]
    return tuple(answers)
