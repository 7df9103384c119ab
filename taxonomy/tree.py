"""The validated, immutable category tree and the bundled default taxonomy.

Every method that takes an id raises KeyError for an unknown id, except `get`, `find` and `in`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources

from .parse import Problem, RawNode, TaxonomyError, parse_google

__all__ = [
    "DEFAULT_TAXONOMY_NAME",
    "Node",
    "Page",
    "Tree",
    "default_taxonomy_text",
    "load_default",
]

DEFAULT_TAXONOMY_NAME = "google-product-taxonomy"
_DEFAULT_FILE = "google-product-taxonomy-2021-09-21.en-US.txt"


@dataclass(frozen=True)
class Node:
    """A category; `depth` is 0 for roots and `children` holds child ids in file order."""

    id: int
    name: str
    parent_id: int | None
    depth: int
    children: tuple[int, ...]


@dataclass(frozen=True)
class Page:
    """One page of a category's children; `page` is 0-based and `pages` is at least 1."""

    nodes: tuple[Node, ...]
    page: int
    pages: int


def _key(text: str) -> str:
    """Lookup key for names typed by people: case and spacing do not matter."""
    return " ".join(text.split()).casefold()


def _path_key(names: Iterable[str]) -> str:
    return " > ".join(_key(name) for name in names)


class Tree:
    """A category forest; build it with `Tree.build` and never change it afterwards."""

    __slots__ = ("_by_name", "_by_path", "_max_depth", "_nodes", "_roots")

    def __init__(self, nodes: dict[int, Node], roots: tuple[int, ...]) -> None:
        self._nodes = nodes
        self._roots = roots
        self._max_depth = max((n.depth + 1 for n in nodes.values()), default=0)
        # Lookup tables for `find`; lists longer than one mean the key is ambiguous.
        self._by_path: dict[str, list[int]] = {}
        self._by_name: dict[str, list[int]] = {}
        path_keys: dict[int, str] = {}
        # Shallow nodes first, so a parent's key is always ready before its children need it.
        for node in sorted(nodes.values(), key=lambda n: n.depth):
            own = _key(node.name)
            parent = None if node.parent_id is None else path_keys[node.parent_id]
            path_keys[node.id] = own if parent is None else f"{parent} > {own}"
            self._by_path.setdefault(path_keys[node.id], []).append(node.id)
            self._by_name.setdefault(own, []).append(node.id)

    @classmethod
    def build(cls, raw: Iterable[RawNode]) -> Tree:
        """Check the raw nodes and link them; raises TaxonomyError listing every problem."""
        problems: list[Problem] = []
        raw_nodes = _unique_ids(list(raw), problems)
        problems += _orphans(raw_nodes)
        problems += _cycles(raw_nodes)
        problems += _duplicate_siblings(raw_nodes)
        if problems:
            raise TaxonomyError(problems)
        return cls(*_link(raw_nodes))

    # --- lookup -----------------------------------------------------------------------------

    def node(self, node_id: int) -> Node:
        return self._nodes[node_id]

    def get(self, node_id: int) -> Node | None:
        return self._nodes.get(node_id)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[Node]:
        """All nodes in file order."""
        return iter(self._nodes.values())

    @property
    def roots(self) -> tuple[int, ...]:
        return self._roots

    @property
    def max_depth(self) -> int:
        """Number of levels: 1 when there are only roots, 0 for an empty tree."""
        return self._max_depth

    def find(self, ref: str) -> Node | None:
        """Resolve what a person typed: an id, a full path `A > B`, or a unique name.

        Case and spacing are ignored. A full path wins over a name, so a root's name
        always finds the root. Returns None when nothing or more than one node matches.
        """
        ref = ref.strip()
        if ref.isascii() and ref.isdigit() and int(ref) in self._nodes:
            return self._nodes[int(ref)]
        for table, key in ((self._by_path, _path_key(ref.split(">"))), (self._by_name, _key(ref))):
            ids = table.get(key, [])
            if len(ids) == 1:
                return self._nodes[ids[0]]
        return None

    def _parent(self, node: Node) -> Node:
        assert node.parent_id is not None, "only called below the root level"
        return self._nodes[node.parent_id]

    # --- navigation -------------------------------------------------------------------------

    def children(self, node_id: int | None) -> tuple[Node, ...]:
        """Children in file order; None gives the roots."""
        ids = self._roots if node_id is None else self._nodes[node_id].children
        return tuple(self._nodes[i] for i in ids)

    def is_leaf(self, node_id: int) -> bool:
        return not self._nodes[node_id].children

    def path(self, node_id: int) -> tuple[Node, ...]:
        """From the root down to and including the node itself."""
        node: Node | None = self._nodes[node_id]
        nodes: list[Node] = []
        while node is not None:
            nodes.append(node)
            node = None if node.parent_id is None else self._nodes[node.parent_id]
        return tuple(reversed(nodes))

    def path_names(self, node_id: int, sep: str = " > ") -> str:
        return sep.join(node.name for node in self.path(node_id))

    def is_within(self, node_id: int, ancestor_id: int | None) -> bool:
        """True if the node is `ancestor_id` or below it; every node is within None."""
        node = self._nodes[node_id]
        if ancestor_id is None:
            return True
        ancestor = self._nodes[ancestor_id]
        while node.depth > ancestor.depth:
            node = self._parent(node)
        return node.id == ancestor.id

    def distance(self, a: int, b: int) -> int:
        """Edges between two nodes; separate roots are joined through an imaginary super-root."""
        left, right = self._nodes[a], self._nodes[b]
        steps = 0
        while left.depth > right.depth:
            left, steps = self._parent(left), steps + 1
        while right.depth > left.depth:
            right, steps = self._parent(right), steps + 1
        # Now level with each other: climb in step until the paths meet.
        while left.id != right.id:
            if left.parent_id is None:  # two different roots, one edge each to the super-root
                return steps + 2
            left, right, steps = self._parent(left), self._parent(right), steps + 2
        return steps

    def page(self, node_id: int | None, page: int, per_page: int = 8) -> Page:
        """One page of children (None = roots); out-of-range pages are clamped to the nearest."""
        if per_page < 1:
            raise ValueError("per_page must be at least 1")
        ids = self._roots if node_id is None else self._nodes[node_id].children
        pages = max(1, -(-len(ids) // per_page))
        page = min(max(page, 0), pages - 1)
        start = page * per_page
        return Page(tuple(self._nodes[i] for i in ids[start : start + per_page]), page, pages)


# --- building -----------------------------------------------------------------------------


def _unique_ids(raw: list[RawNode], problems: list[Problem]) -> dict[int, RawNode]:
    """Keep the first node for each id and report the rest."""
    by_id: dict[int, RawNode] = {}
    for node in raw:
        first = by_id.setdefault(node.id, node)
        if first is not node:
            problems.append(Problem(node.line, f"duplicate id {node.id} (first defined on line {first.line})"))
    return by_id


def _describe(node: RawNode) -> str:
    return f"category {node.id} '{node.name}'"


def _orphans(nodes: dict[int, RawNode]) -> list[Problem]:
    return [
        Problem(n.line, f"{_describe(n)} has parent id {n.parent_id}, which does not exist")
        for n in nodes.values()
        if n.parent_id is not None and n.parent_id not in nodes
    ]


def _cycles(nodes: dict[int, RawNode]) -> list[Problem]:
    """One problem per node that sits on a loop of parent links."""
    problems: list[Problem] = []
    finished: set[int] = set()
    for start in nodes:
        walk: list[int] = []
        on_walk: set[int] = set()
        current: int | None = start
        while current in nodes and current not in finished and current not in on_walk:
            walk.append(current)
            on_walk.add(current)
            current = nodes[current].parent_id
        if current in on_walk:
            loop = walk[walk.index(current) :]
            shown = " > ".join(str(i) for i in [*loop, loop[0]])
            problems += [Problem(nodes[i].line, f"{_describe(nodes[i])} is in a parent loop: {shown}") for i in loop]
        finished.update(walk)
    return problems


def _duplicate_siblings(nodes: dict[int, RawNode]) -> list[Problem]:
    """Two children of one parent with the same name could not be told apart by a worker."""
    problems: list[Problem] = []
    seen: dict[tuple[int | None, str], RawNode] = {}
    for node in nodes.values():
        first = seen.setdefault((node.parent_id, node.name), node)
        if first is not node:
            problems.append(
                Problem(
                    node.line,
                    f"duplicate name '{node.name}' under the same parent (first defined on line {first.line})",
                )
            )
    return problems


def _link(raw: dict[int, RawNode]) -> tuple[dict[int, Node], tuple[int, ...]]:
    """Turn checked raw nodes into linked Nodes, keeping file order."""
    children: dict[int, list[int]] = {node_id: [] for node_id in raw}
    roots: list[int] = []
    for node in raw.values():
        (roots if node.parent_id is None else children[node.parent_id]).append(node.id)
    depths = _depths(raw)
    nodes = {n.id: Node(n.id, n.name, n.parent_id, depths[n.id], tuple(children[n.id])) for n in raw.values()}
    return nodes, tuple(roots)


def _depths(raw: dict[int, RawNode]) -> dict[int, int]:
    """Depth of every node, without recursion and in linear time (the tree has no loops)."""
    depths: dict[int, int] = {}
    for node_id in raw:
        # Climb until a node of known depth (or past a root), then number the way back down.
        chain: list[int] = []
        current: int | None = node_id
        while current is not None and current not in depths:
            chain.append(current)
            current = raw[current].parent_id
        depth = -1 if current is None else depths[current]
        for step in reversed(chain):
            depth += 1
            depths[step] = depth
    return depths


# --- bundled default ----------------------------------------------------------------------


def default_taxonomy_text() -> str:
    """The bundled Google Product Taxonomy file, as text."""
    data = resources.files(__package__) / "data" / _DEFAULT_FILE
    return data.read_text(encoding="utf-8")


@functools.cache
def load_default() -> Tree:
    """The bundled Google Product Taxonomy, parsed once per process."""
    return Tree.build(parse_google(default_taxonomy_text()))
