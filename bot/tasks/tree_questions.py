"""A question answered with a category of the batch's taxonomy, shared by the types that ask one
(categorize, and validate's correction): which categories are answers, reading a file's reference to
one, grading by tree distance, and the families aggregation groups siblings by."""

import functools
from collections.abc import Mapping

from bot.errors import Problem, ProblemCode
from bot.tasks.base import Grade, LabelSpace, TaskContext
from bot.tasks.reading import clip
from taxonomy import Tree

PATH_SEPARATOR = " › "


class CategoryProblem(ProblemCode):
    """A file's category that cannot be one: each {column, reference} (the id or path as written)."""

    UNKNOWN = "category_unknown"
    OUTSIDE_ROOT = "category_outside_root"
    NOT_A_LEAF = "category_not_a_leaf"


def answerable(context: TaskContext, node_id: int) -> bool:
    """Whether a worker may give this category: below the batch's root, and a leaf if leaf_only."""
    tree = context.tree
    if node_id not in tree or node_id == context.root_id or not tree.is_within(node_id, context.root_id):
        return False
    return tree.is_leaf(node_id) or not context.leaf_only


def accept(value: str, context: TaskContext) -> str | None:
    """A pressed category id as a label, when the batch takes it as an answer."""
    if not value.isdigit() or len(value) > 19:
        return None
    return value if answerable(context, int(value)) else None


def read_reference(column: str, reference: str, context: TaskContext, as_answer: bool) -> int | Problem:
    """A file's category (an id or a full path) as a node id, or the problem with it.

    `as_answer`: it must be a category a worker could give (a gold answer); a proposed category need
    only lie under the root."""
    tree = context.tree
    node = tree.find(reference)
    if node is None:
        problem = CategoryProblem.UNKNOWN
    elif not tree.is_within(node.id, context.root_id) or node.id == context.root_id:
        problem = CategoryProblem.OUTSIDE_ROOT
    elif as_answer and context.leaf_only and not tree.is_leaf(node.id):
        problem = CategoryProblem.NOT_A_LEAF
    else:
        return node.id
    return Problem.of(problem, column=column, reference=clip(reference))


def grade(label: str, gold: str, context: TaskContext) -> Grade:
    """Right when it is the gold category; the distance tells a near miss from a wild one."""
    tree = context.tree
    both = label.isdigit() and gold.isdigit() and int(label) in tree and int(gold) in tree
    return Grade(label == gold, tree.distance(int(label), int(gold)) if both else None)


def label_space(context: TaskContext) -> LabelSpace:
    families = _families(context.tree, context.root_id, context.leaf_only)
    return LabelSpace(len(families), families)


@functools.lru_cache(maxsize=64)
def _families(tree: Tree, root_id: int | None, leaf_only: bool) -> Mapping[str, str]:
    """Every category a worker could give, mapped to its parent: the families of `aggregation.one_coin`,
    since a worker who misses a category mostly picks one of its siblings. Cached: a batch asks often."""
    context = TaskContext({}, tree, root_id, leaf_only)
    return {str(node.id): str(node.parent_id) for node in tree if answerable(context, node.id)}


def path(label: str, context: TaskContext, below_root: bool = False) -> str:
    """ "A › B › C" for a category label; "?" for one the taxonomy does not have."""
    tree = context.tree
    if not label.isdigit() or int(label) not in tree:
        return "?"
    names = [node.name for node in tree.path(int(label))]
    if below_root and context.root_id is not None and context.root_id in tree:
        names = names[len(tree.path(context.root_id)) :]
    return PATH_SEPARATOR.join(names)
