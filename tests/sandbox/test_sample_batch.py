"""The bundled sample batch: accepted whole by the same checks a requester's upload goes through, and
labelled with categories of the bundled taxonomy."""

import csv
import io
from importlib import resources

import pytest

from bot.batches import files as batch_files
from bot.batches import lifecycle as batches
from bot.batches.files import ItemDraft
from bot.batches.lifecycle import BatchSpec
from taxonomy import Tree, load_default

SAMPLE = resources.files("sandbox") / "data" / "sample_batch.csv"
# The whole taxonomy, leaves only: the strictest setting a categorize batch of these products can have.
SPEC = BatchSpec(name="Sample shop", task_type="categorize", reward_micros=20_000, overlap=3)


@pytest.fixture(scope="module")
def tree() -> Tree:
    return load_default()


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(SAMPLE.read_text(encoding="utf-8"))))


@pytest.fixture(scope="module")
def drafts(tree: Tree) -> list[ItemDraft]:
    """The file as an upload reads and checks it (batches.prepare refuses the whole file over one bad row)."""
    _, drafts = batches.prepare(SPEC, tree, batch_files.read_rows(SAMPLE.read_bytes(), SAMPLE.name))
    return drafts


def test_every_row_is_accepted(rows: list[dict[str, str]], drafts: list[ItemDraft]) -> None:
    assert 180 <= len(drafts) <= 220
    assert [draft.external_id for draft in drafts] == [row["item_id"] for row in rows]
    assert len({draft.external_id for draft in drafts}) == len(drafts)


def test_every_true_category_is_an_exact_leaf_path(tree: Tree, rows: list[dict[str, str]]) -> None:
    for row in rows:
        node = tree.find(row["true_category"])
        assert node is not None, row
        assert tree.path_names(node.id) == row["true_category"]  # as written, not only matched loosely
        assert tree.is_leaf(node.id), row


def test_gold_rows_are_a_tenth_or_so_and_agree_with_the_truth(
    tree: Tree, rows: list[dict[str, str]], drafts: list[ItemDraft]
) -> None:
    gold = [draft for draft in drafts if draft.gold]
    assert 0.05 <= len(gold) / len(drafts) <= 0.20
    truth = {row["item_id"]: row["true_category"] for row in rows}
    for draft in gold:
        assert draft.gold is not None
        assert tree.path_names(int(draft.gold["category"])) == truth[draft.external_id]
