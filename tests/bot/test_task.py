"""A batch's kind of job: grading a whole answer against gold, describing labels, and a stored batch's task."""

from typing import Any

import pytest

from bot.batches.task import BatchTask, task_of
from bot.tasks import categorize, image_quality
from bot.tasks.base import ItemGrade, TaskContext, TaskType
from bot.taxonomies import LoadedTaxonomy
from bot.wiring.services import Services
from taxonomy import Tree, load_default
from tests.bot import two_questions
from tests.factories import KITCHEN, SKILLETS, WOKS, load_batch, products


@pytest.fixture(scope="module")
def tree() -> Tree:
    return load_default()


def batch_task(tree: Tree, task_type: TaskType = two_questions.TYPE, config: dict[str, Any] | None = None) -> BatchTask:
    return BatchTask(task_type, TaskContext(config or {}, tree, tree.find(KITCHEN).id, True), LoadedTaxonomy(tree))


def ids(tree: Tree) -> tuple[str, str]:
    return str(tree.find(SKILLETS).id), str(tree.find(WOKS).id)


def test_each_question_with_gold_is_one_gold_answer(tree: Tree) -> None:
    """Both questions right: 2 of 2. One wrong: 1 of 2, naming it, whichever it is; both wrong: 0 of 2."""
    skillets, woks = ids(tree)
    task = batch_task(tree)
    gold = {"color": "red", "category": skillets}
    assert task.grade({"color": "red", "category": skillets}, gold) == ItemGrade(2, 2, 0)
    assert task.grade({"color": "red", "category": woks}, gold) == ItemGrade(2, 1, 2, ("category",))
    assert task.grade({"color": "blue", "category": skillets}, gold) == ItemGrade(2, 1, 0, ("color",))
    assert task.grade({"color": "blue", "category": woks}, gold) == ItemGrade(2, 0, 2, ("color", "category"))
    assert task.grade({"color": "red", "category": skillets}, gold).correct
    assert not task.grade({"color": "blue", "category": skillets}, gold).correct


def test_grade_distance_comes_from_the_tree_question(tree: Tree) -> None:
    """A choice has no distance: the grade's distance is the tree question's, and None without one."""
    skillets, woks = ids(tree)
    task = batch_task(tree)
    assert task.grade({"color": "red", "category": woks}, {"color": "red"}) == ItemGrade(1, 1, None)
    assert task.grade({"color": "red", "category": woks}, {"category": skillets}) == ItemGrade(1, 0, 2, ("category",))
    assert task.grade({"color": "red", "category": woks}, {"category": woks}) == ItemGrade(1, 1, 0)


def test_grade_reads_only_questions_both_answered_and_gold(tree: Tree) -> None:
    """Gold for a question the answer never reached (validate's category after a Yes), or that the type does
    not ask, grades nothing: the mistake that ended the card counts once. With no question left the answer
    is not graded at all."""
    skillets, _woks = ids(tree)
    task = batch_task(tree)
    assert task.grade({"color": "red"}, {"category": skillets}) is None
    assert task.grade({"color": "red", "category": skillets}, {"size": "large"}) is None
    assert task.grade({"color": "red"}, {"color": "blue", "category": skillets}) == ItemGrade(1, 0, None, ("color",))
    assert task.grade({"color": "red"}, {}) is None


def test_categorize_grades_by_its_one_question(tree: Tree) -> None:
    """The classic grade: one gold answer, right on the gold category, else wrong with how far off."""
    skillets, woks = ids(tree)
    task = batch_task(tree, categorize.TYPE)
    assert task.grade({"category": skillets}, {"category": skillets}) == ItemGrade(1, 1, 0)
    assert task.grade({"category": woks}, {"category": skillets}) == ItemGrade(1, 0, 2, ("category",))


def test_describe_follows_the_questions_order_and_the_requesters_words(tree: Tree) -> None:
    """Labels come out in the type's order of questions whatever the order given, each named by the
    requester's own question when there is one, else by its key; a label for no question is left out."""
    skillets, _woks = ids(tree)
    task = batch_task(tree)
    path = SKILLETS.replace(" > ", " › ")
    assert task.describe({"category": skillets, "size": "large", "color": "red"}) == (
        ("color", "red"),
        ("category", path),
    )
    assert task.describe({}) == ()
    config = image_quality.TYPE.configure({"questions": "blurry,logo:Is there a logo?"}, tree)
    photos = batch_task(tree, image_quality.TYPE, config)
    assert photos.describe({"logo": "no", "blurry": "yes"}) == (("blurry", "yes"), ("Is there a logo?", "no"))


def test_question_by_key(tree: Tree) -> None:
    task = batch_task(tree)
    assert task.questions == (two_questions.COLOR, two_questions.CATEGORY)
    assert task.question("category") == two_questions.CATEGORY
    assert task.question("size") is None


async def test_task_of_a_stored_batch(services: Services) -> None:
    """A stored batch's task: its type from the registry, with the batch's settings, root and taxonomy."""
    await load_batch(services, products(1), leaf_only=False)
    task = await task_of(await services.batches.get(1), services.taxonomies)
    loaded = await services.taxonomies.get(1)
    assert task.type is categorize.TYPE and task.taxonomy is loaded
    assert task.context == TaskContext({}, loaded.tree, loaded.tree.find(KITCHEN).id, False)
