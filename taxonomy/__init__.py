"""The category tree: parsing taxonomy files, navigating categories and searching them.

Pure Python with no I/O beyond reading files; the bundled default is the Google Product Taxonomy.
"""

from .parse import (
    Problem,
    RawNode,
    TaxonomyError,
    parse_bytes,
    parse_csv,
    parse_file,
    parse_google,
    parse_json,
    parse_text,
)
from .search import SearchIndex
from .tree import (
    DEFAULT_TAXONOMY_NAME,
    Node,
    Page,
    Tree,
    default_taxonomy_text,
    load_default,
)

__all__ = [
    "DEFAULT_TAXONOMY_NAME",
    "Node",
    "Page",
    "Problem",
    "RawNode",
    "SearchIndex",
    "TaxonomyError",
    "Tree",
    "default_taxonomy_text",
    "load_default",
    "parse_bytes",
    "parse_csv",
    "parse_file",
    "parse_google",
    "parse_json",
    "parse_text",
]
