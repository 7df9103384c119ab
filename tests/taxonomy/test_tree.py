"""Tree: validation on build, navigation, paging, distance and find."""

from __future__ import annotations

import pytest

from taxonomy import Node, Page, RawNode, TaxonomyError, Tree, parse_google

SMALL = """\
1 - Home
2 - Home > Kitchen
3 - Home > Kitchen > Cookware
4 - Home > Kitchen > Cookware > Skillets
5 - Home > Kitchen > Cookware > Pots
6 - Home > Garden
7 - Home > Garden > Tools
8 - Animals
9 - Animals > Pets
10 - Animals > Pets > Tools
"""


def small() -> Tree:
    return Tree.build(parse_google(SMALL))


def build_problems(raw: list[RawNode]) -> list[str]:
    with pytest.raises(TaxonomyError) as caught:
        Tree.build(raw)
    return [str(p) for p in caught.value.problems]


# --- building and validation ----------------------------------------------------------------


def test_build_links_nodes() -> None:
    tree = small()
    assert len(tree) == 10
    assert tree.roots == (1, 8)
    assert tree.node(1) == Node(1, "Home", None, 0, (2, 6))
    assert tree.node(4) == Node(4, "Skillets", 3, 3, ())
    assert tree.max_depth == 4  # levels: Home > Kitchen > Cookware > Skillets


def test_build_accepts_children_listed_before_parents_and_keeps_file_order() -> None:
    raw = [RawNode(5, 2, "C", 1), RawNode(3, 2, "B", 2), RawNode(2, None, "A", 3)]
    tree = Tree.build(raw)
    assert tree.node(2).children == (5, 3)
    assert tree.node(5).depth == 1
    assert [n.id for n in tree] == [5, 3, 2]


def test_empty_tree() -> None:
    tree = Tree.build([])
    assert len(tree) == 0
    assert tree.max_depth == 0
    assert tree.page(None, 0) == Page((), 0, 1)


def test_build_duplicate_ids() -> None:
    raw = [RawNode(1, None, "A", 1), RawNode(2, 1, "B", 2), RawNode(2, 1, "C", 3)]
    assert build_problems(raw) == ["line 3: duplicate id 2 (first defined on line 2)"]


def test_build_orphans() -> None:
    raw = [RawNode(1, None, "A", 1), RawNode(2, 99, "B", 2)]
    assert build_problems(raw) == ["line 2: category 2 'B' has parent id 99, which does not exist"]


def test_build_cycles_report_each_member_once() -> None:
    raw = [
        RawNode(1, None, "Root", 1),
        RawNode(2, 3, "A", 2),
        RawNode(3, 4, "B", 3),
        RawNode(4, 2, "C", 4),
        RawNode(5, 2, "Below the loop", 5),  # not on the loop itself, so not reported
        RawNode(6, 6, "Self", 6),
    ]
    assert build_problems(raw) == [
        "line 2: category 2 'A' is in a parent loop: 2 > 3 > 4 > 2",
        "line 3: category 3 'B' is in a parent loop: 2 > 3 > 4 > 2",
        "line 4: category 4 'C' is in a parent loop: 2 > 3 > 4 > 2",
        "line 6: category 6 'Self' is in a parent loop: 6 > 6",
    ]


def test_build_duplicate_sibling_names() -> None:
    raw = [
        RawNode(1, None, "A", 1),
        RawNode(2, 1, "B", 2),
        RawNode(3, 1, "B", 3),
        RawNode(4, None, "B", 4),  # same name, different parent: fine
    ]
    assert build_problems(raw) == ["line 3: duplicate name 'B' under the same parent (first defined on line 2)"]


def test_build_collects_every_problem_at_once() -> None:
    raw = [
        RawNode(1, None, "A", 1),
        RawNode(1, None, "A again", 2),
        RawNode(2, 42, "Orphan", 3),
        RawNode(3, 3, "Loop", 4),
    ]
    assert len(build_problems(raw)) == 3


# --- lookup and navigation ------------------------------------------------------------------


def test_lookup() -> None:
    tree = small()
    assert tree.get(3) == tree.node(3)
    assert tree.get(404) is None
    assert 3 in tree and 404 not in tree
    with pytest.raises(KeyError):
        tree.node(404)


def test_children_and_leaves() -> None:
    tree = small()
    assert [n.name for n in tree.children(None)] == ["Home", "Animals"]
    assert [n.name for n in tree.children(3)] == ["Skillets", "Pots"]
    assert tree.children(4) == ()
    assert tree.is_leaf(4) and not tree.is_leaf(3)
    with pytest.raises(KeyError):
        tree.children(404)


def test_path_and_path_names() -> None:
    tree = small()
    assert [n.id for n in tree.path(4)] == [1, 2, 3, 4]
    assert [n.id for n in tree.path(1)] == [1]
    assert tree.path_names(4) == "Home > Kitchen > Cookware > Skillets"
    assert tree.path_names(7, sep=" / ") == "Home / Garden / Tools"


def test_is_within() -> None:
    tree = small()
    assert tree.is_within(4, None)
    assert tree.is_within(4, 4)
    assert tree.is_within(4, 2)
    assert tree.is_within(4, 1)
    assert not tree.is_within(4, 6)
    assert not tree.is_within(2, 4)  # a parent is not within its child
    assert not tree.is_within(10, 1)
    with pytest.raises(KeyError):
        tree.is_within(4, 404)


@pytest.mark.parametrize(
    ("a", "b", "edges"),
    [
        (4, 4, 0),  # same node
        (3, 4, 1),  # parent and child
        (4, 5, 2),  # siblings
        (1, 4, 3),  # root to grandchild's child
        (4, 7, 5),  # Skillets > Cookware > Kitchen > Home < Garden < Tools
        (1, 8, 2),  # two roots meet at the imaginary super-root
        (4, 10, 7),  # 4 levels up to the super-root and 3 down
    ],
)
def test_distance(a: int, b: int, edges: int) -> None:
    tree = small()
    assert tree.distance(a, b) == edges
    assert tree.distance(b, a) == edges


# --- find -----------------------------------------------------------------------------------


def test_find_by_id() -> None:
    tree = small()
    assert tree.find("4") == tree.node(4)
    assert tree.find(" 10 ") == tree.node(10)
    assert tree.find("404") is None


def test_find_by_full_path_ignores_case_and_spacing() -> None:
    tree = small()
    assert tree.find("Home > Kitchen > Cookware") == tree.node(3)
    assert tree.find("  home>kitchen >   COOKWARE ") == tree.node(3)
    assert tree.find("Animals > Pets > Tools") == tree.node(10)
    assert tree.find("Home > Cookware") is None  # not a full path


def test_find_by_unique_name() -> None:
    tree = small()
    assert tree.find("skillets") == tree.node(4)
    assert tree.find("Garden") == tree.node(6)


def test_find_ambiguous_or_missing_name() -> None:
    tree = small()
    assert tree.find("Tools") is None  # Home > Garden > Tools and Animals > Pets > Tools
    assert tree.find("Fridges") is None
    assert tree.find("") is None


def test_find_prefers_a_root_path_over_an_ambiguous_name() -> None:
    tree = Tree.build(parse_google("1 - Tools\n2 - Garden\n3 - Garden > Tools\n"))
    assert tree.find("tools") == tree.node(1)


# --- paging ---------------------------------------------------------------------------------


def wide() -> Tree:
    lines = ["1 - Big"] + [f"{n} - Big > Child {n:02d}" for n in range(100, 120)]
    return Tree.build(parse_google("\n".join(lines)))


def test_page_through_many_children() -> None:
    tree = wide()
    first = tree.page(1, 0)
    assert (first.page, first.pages) == (0, 3)
    assert [n.id for n in first.nodes] == list(range(100, 108))
    assert [n.id for n in tree.page(1, 1).nodes] == list(range(108, 116))
    assert [n.id for n in tree.page(1, 2).nodes] == list(range(116, 120))


def test_page_is_clamped_into_range() -> None:
    tree = wide()
    assert tree.page(1, -5) == tree.page(1, 0)
    last = tree.page(1, 99)
    assert (last.page, last.pages, len(last.nodes)) == (2, 3, 4)


def test_page_custom_size_roots_and_leaves() -> None:
    tree = wide()
    assert tree.page(1, 0, per_page=20).pages == 1
    assert tree.page(1, 0, per_page=7).pages == 3
    assert tree.page(None, 3) == Page((tree.node(1),), 0, 1)
    assert tree.page(100, 1) == Page((), 0, 1)
    with pytest.raises(ValueError):
        tree.page(1, 0, per_page=0)
    with pytest.raises(KeyError):
        tree.page(404, 0)
