"""Accuracy from few gold answers (Wilson bounds), and the levels built on it. Pure: no database."""

import math
from dataclasses import dataclass

# A level is a code, as the caption's min_level names it; the text layer words it.
NEWCOMER, QUALIFIED, EXPERT = "newcomer", "qualified", "expert"
# Ranks stored on users and required by batches (min_level).
LEVEL_RANKS = {NEWCOMER: 0, QUALIFIED: 1, EXPERT: 2}
# (name, gold answers needed, Wilson lower bound needed), highest first.
LEVELS = ((EXPERT, 200, 0.92), (QUALIFIED, 50, 0.85))


@dataclass(frozen=True)
class Level:
    name: str  # a code: newcomer, qualified or expert
    next_name: str | None
    gold_needed: int  # more gold answers needed for the next level (0: enough already)
    bound_needed: float | None  # the accuracy bound the next level needs, if not reached yet


def wilson_lower_bound(correct: int, total: int, z: float = 1.96) -> float:
    """The accuracy we are 95 % sure a worker beats: 9/10 right is not yet proof of 0.9."""
    return _wilson(correct, total, z, -1.0) if total > 0 else 0.0


def wilson_upper_bound(correct: int, total: int, z: float = 1.96) -> float:
    """The accuracy we are 95 % sure a worker does not beat: 0/5 right proves less than 0.44."""
    return _wilson(correct, total, z, 1.0) if total > 0 else 1.0


def _wilson(correct: int, total: int, z: float, side: float) -> float:
    share = correct / total
    centre = share + z * z / (2 * total)
    margin = z * math.sqrt(share * (1 - share) / total + z * z / (4 * total * total))
    return (centre + side * margin) / (1 + z * z / total)


def rank_of(gold_total: int, gold_correct: int) -> int:
    """The level as stored on users and required by batches."""
    return LEVEL_RANKS[level_of(gold_total, gold_correct).name]


def level_of(gold_total: int, gold_correct: int) -> Level:
    bound = wilson_lower_bound(gold_correct, gold_total)
    reached = next((name for name, count, need in LEVELS if gold_total >= count and bound >= need), NEWCOMER)
    names = [NEWCOMER] + [name for name, _, _ in reversed(LEVELS)]
    following = names[names.index(reached) + 1] if reached != names[-1] else None
    if following is None:
        return Level(reached, None, 0, None)
    _, count, need = next(level for level in LEVELS if level[0] == following)
    return Level(reached, following, max(count - gold_total, 0), need if bound < need else None)
