"""Word-prefix search over category paths, forgiving about case, accents and punctuation."""

from __future__ import annotations

import bisect
import re
import unicodedata

from .tree import Node, Tree

__all__ = ["SearchIndex"]

# A word, or several joined by hyphens ("T-Shirts"), which we also index glued together.
_COMPOUND = re.compile(r"[^\W_]+(?:-[^\W_]+)*")


def _plain(text: str) -> str:
    """Lower-case text without accents or apostrophes ("Men’s Café" -> "mens cafe")."""
    text = text.casefold()
    if not text.isascii():  # decomposing is slow, and most names are plain ASCII
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in decomposed if not unicodedata.combining(c))
    # Apostrophes are dropped rather than split on, so "mens" finds "Men's".
    return text.replace("'", "").replace("\u2019", "")


def _words(text: str) -> list[str]:
    return [part for compound in _COMPOUND.findall(_plain(text)) for part in compound.split("-")]


def _indexed_words(text: str) -> set[str]:
    """Words plus glued hyphenated compounds, so both "t shirt" and "tshirt" find "T-Shirts"."""
    compounds = _COMPOUND.findall(_plain(text))
    return set(_words(text)) | {c.replace("-", "") for c in compounds if "-" in c}


class SearchIndex:
    """Built once from a Tree; answers `search` without touching the tree's text again."""

    def __init__(self, tree: Tree) -> None:
        self._tree = tree
        # word -> ids of nodes whose own name contains that word
        self._named: dict[str, set[int]] = {}
        self._name_text: dict[int, str] = {}
        self._lineage: dict[int, tuple[int, ...]] = {}
        self._path_text: dict[int, str] = {}
        for node in tree:
            for word in _indexed_words(node.name):
                self._named.setdefault(word, set()).add(node.id)
            self._name_text[node.id] = " ".join(_words(node.name))
        for node in tree:
            path = tree.path(node.id)
            self._lineage[node.id] = tuple(n.id for n in path)
            self._path_text[node.id] = " > ".join(self._name_text[n.id] for n in path)
        # Sorted so all words starting with a prefix form one contiguous run.
        self._vocabulary = sorted(self._named)

    def search(self, query: str, under: int | None = None, limit: int = 8) -> list[Node]:
        """Nodes whose path has a word starting with each query word, best first.

        At least one query word must match the node's own name, so "kitchen" lists
        Kitchen-named categories rather than everything below Kitchen. `under`
        keeps only that node and its descendants.
        """
        if under is not None:
            self._tree.node(under)  # an unknown id is a caller bug: raise KeyError
        words = _words(query)
        if not words or limit < 1:
            return []
        hits = [self._named_with_prefix(word) for word in words]
        candidates = set().union(*hits)
        matches = [
            node_id
            for node_id in candidates
            if all(any(i in hit for i in self._lineage[node_id]) for hit in hits)
            and (under is None or under in self._lineage[node_id])
        ]
        phrase = " ".join(words)
        matches.sort(key=lambda node_id: self._rank(node_id, phrase))
        return [self._tree.node(node_id) for node_id in matches[:limit]]

    def _named_with_prefix(self, prefix: str) -> set[int]:
        found: set[int] = set()
        start = bisect.bisect_left(self._vocabulary, prefix)
        for word in self._vocabulary[start:]:
            if not word.startswith(prefix):
                break
            found |= self._named[word]
        return found

    def _rank(self, node_id: int, phrase: str) -> tuple[int, int, str, int]:
        name = self._name_text[node_id]
        closeness = 0 if name == phrase else 1 if name.startswith(phrase) else 2
        # The id breaks ties between identical paths, keeping results deterministic.
        return (closeness, len(self._lineage[node_id]), self._path_text[node_id], node_id)
