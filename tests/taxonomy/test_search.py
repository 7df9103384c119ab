"""Search: case, accents, punctuation, word prefixes, ranking, `under` and `limit`."""

from __future__ import annotations

import pytest

from taxonomy import SearchIndex, Tree, parse_google

SHOP = """\
1 - Food
2 - Food > Café & Tea
3 - Food > Café & Tea > Cafe Machines
4 - Home
5 - Home > Kitchen
6 - Home > Kitchen > Cookware
7 - Home > Kitchen > Cookware > Skillets
8 - Home > Kitchen > Bakeware
9 - Home > Kitchen > Bakeware > Skillet Cakes
10 - Apparel
11 - Apparel > Men's Clothing
12 - Apparel > Men's Clothing > T-Shirts
13 - Apparel > Shirts
14 - Business > Food Service > Tilt Skillets
15 - Business
16 - Business > Food Service
17 - Business > Food Service > Skillets
"""


def index() -> tuple[Tree, SearchIndex]:
    tree = Tree.build(parse_google(SHOP))
    return tree, SearchIndex(tree)


def ids(results: list) -> list[int]:
    return [node.id for node in results]


def test_ignores_case_and_accents() -> None:
    _, search = index()
    assert ids(search.search("CAFÉ")) == ids(search.search("cafe")) == [2, 3]
    assert ids(search.search("café machines")) == [3]


def test_ignores_punctuation_and_apostrophes() -> None:
    _, search = index()
    assert ids(search.search("mens")) == [11]
    assert ids(search.search("men's")) == [11]
    assert ids(search.search("cafe & tea!")) == [2, 3]
    assert ids(search.search("t-shirt")) == [12]
    assert ids(search.search("tshirt")) == [12]


def test_word_prefixes_across_the_path() -> None:
    _, search = index()
    assert ids(search.search("skil")) == [17, 9, 7, 14]
    assert ids(search.search("cook skil")) == [7]
    assert ids(search.search("kitch skil")) == [9, 7]


def test_some_query_word_must_match_the_node_itself() -> None:
    _, search = index()
    # Everything under Kitchen has "kitchen" in its path, but only Kitchen is named so.
    assert ids(search.search("kitchen")) == [5]


def test_no_match_and_empty_queries() -> None:
    _, search = index()
    assert search.search("fridge") == []
    assert search.search("") == []
    assert search.search(" &! ") == []
    assert search.search("kill") == []  # inside a word is not a word prefix


def test_ranking_exact_then_prefix_then_shorter_then_alphabetical() -> None:
    _, search = index()
    # Exact names first, the shallower before the deeper; then the later-word match.
    assert ids(search.search("skillets")) == [17, 7, 14]
    # Names starting with the query come next; at equal depth the path decides
    # alphabetically (Bakeware before Cookware).
    assert ids(search.search("skillet")) == [17, 9, 7, 14]
    assert ids(search.search("shirts")) == [13, 12]


def test_under_restricts_to_a_subtree_including_its_root() -> None:
    tree, search = index()
    assert ids(search.search("skil", under=5)) == [9, 7]
    assert ids(search.search("kitchen", under=5)) == [5]
    assert ids(search.search("skil", under=1)) == []
    assert ids(search.search("s", under=4, limit=50)) == [9, 7]
    assert all(tree.is_within(n.id, 10) for n in search.search("s", under=10))
    with pytest.raises(KeyError):
        search.search("skil", under=404)


def test_limit() -> None:
    _, search = index()
    assert ids(search.search("skil", limit=2)) == [17, 9]
    assert search.search("skil", limit=0) == []
    lines = ["1 - Items"] + [f"{n} - Items > Item {n}" for n in range(2, 22)]
    many = SearchIndex(Tree.build(parse_google("\n".join(lines))))
    assert len(many.search("item")) == 8
    assert len(many.search("item", limit=50)) == 21


def test_results_are_deterministic() -> None:
    first = [ids(index()[1].search("s", limit=50)) for _ in range(3)]
    assert len(first[0]) == 7
    assert first[0] == first[1] == first[2]
