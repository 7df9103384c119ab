"""The bundled Google Product Taxonomy."""

from __future__ import annotations

from taxonomy import DEFAULT_TAXONOMY_NAME, SearchIndex, default_taxonomy_text, load_default


def test_default_loads_every_category() -> None:
    text = default_taxonomy_text()
    assert text.startswith("# Google_Product_Taxonomy_Version: 2021-09-21\n")
    tree = load_default()
    category_lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(tree) == len(category_lines) == 5595
    assert len(tree.roots) == 21
    # max_depth counts levels, so a root alone is 1; the deepest paths have 7 names.
    assert tree.max_depth == 7
    assert max(node.depth for node in tree) == 6
    assert load_default() is tree
    assert DEFAULT_TAXONOMY_NAME == "google-product-taxonomy"


def test_default_navigation_and_search() -> None:
    tree = load_default()
    live_animals = tree.find("animals & pet supplies > live animals")
    assert live_animals is not None and live_animals.id == 3237
    assert tree.path_names(3237) == "Animals & Pet Supplies > Live Animals"
    results = SearchIndex(tree).search("cook skil")
    assert results and tree.path_names(results[0].id).endswith("Cookware > Skillets & Frying Pans")
