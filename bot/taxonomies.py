"""Taxonomies stored in the database, and an in-process cache of their trees for navigation."""

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import ErrorCode, InvalidInput
from storage.db import Database
from storage.models import Taxonomy, TaxonomyNode
from taxonomy import DEFAULT_TAXONOMY_NAME, RawNode, SearchIndex, Tree, default_taxonomy_text, parse_google


class TaxonomyRefusal(ErrorCode):
    NO_NAME = "taxonomy_no_name"
    NAME_TAKEN = "taxonomy_name_taken"  # {name}


@dataclass
class LoadedTaxonomy:
    tree: Tree
    _index: SearchIndex | None = field(default=None, repr=False)
    _sizes: dict[int | None, int] = field(default_factory=dict, repr=False)

    def size_under(self, root: int | None) -> int:
        """How many categories lie below `root` (all of them for None): the label space of a batch."""
        if root not in self._sizes:
            self._sizes[root] = sum(1 for node in self.tree if node.id != root and self.tree.is_within(node.id, root))
        return self._sizes[root]

    @property
    def index(self) -> SearchIndex:
        # Built on first search only: most processes never search most taxonomies.
        if self._index is None:
            self._index = SearchIndex(self.tree)
        return self._index


class TaxonomyCache:
    """Trees by taxonomy id. A stored taxonomy never changes, so entries never go stale."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._loaded: dict[int, LoadedTaxonomy] = {}

    async def get(self, taxonomy_id: int, session: AsyncSession | None = None) -> LoadedTaxonomy:
        """Inside a transaction pass its session: a second connection per update could exhaust the pool."""
        loaded = self._loaded.get(taxonomy_id)
        if loaded is None:
            if session is not None:
                tree = await read_tree(session, taxonomy_id)
            else:
                async with self._db.read() as own:
                    tree = await read_tree(own, taxonomy_id)
            loaded = self._loaded.setdefault(taxonomy_id, LoadedTaxonomy(tree))
        return loaded


async def read_tree(session: AsyncSession, taxonomy_id: int) -> Tree:
    rows = await session.execute(
        select(TaxonomyNode.id, TaxonomyNode.parent_id, TaxonomyNode.name, TaxonomyNode.position)
        .where(TaxonomyNode.taxonomy_id == taxonomy_id)
        .order_by(TaxonomyNode.position)
    )
    return Tree.build(RawNode(id=i, parent_id=p, name=n, line=pos) for i, p, n, pos in rows)


async def find_by_name(session: AsyncSession, name: str) -> int | None:
    return await session.scalar(select(Taxonomy.id).where(Taxonomy.name == name))


async def store(session: AsyncSession, name: str, nodes: Sequence[RawNode], source: str) -> int:
    """Save a validated taxonomy under a new name; returns its id."""
    name = name.strip()
    if not name:
        raise InvalidInput(TaxonomyRefusal.NO_NAME)
    if await find_by_name(session, name) is not None:
        raise InvalidInput(TaxonomyRefusal.NAME_TAKEN, name=name)
    Tree.build(nodes)  # refuses cycles, orphans and duplicate ids before anything is written
    taxonomy = Taxonomy(name=name, source=source[:512], node_count=len(nodes))
    session.add(taxonomy)
    await session.flush()
    await session.execute(
        TaxonomyNode.__table__.insert(),
        [
            {"taxonomy_id": taxonomy.id, "id": n.id, "parent_id": n.parent_id, "name": n.name, "position": position}
            for position, n in enumerate(nodes)
        ],
    )
    return taxonomy.id


async def ensure_default(db: Database) -> int:
    """Store the bundled Google Product Taxonomy on first start; returns its id.

    Several processes may start together on a new database: one stores it, the others take what it
    stored (on PostgreSQL their inserts meet its name, which they do not wait for before checking).
    """
    async with db.read() as session:
        existing = await find_by_name(session, DEFAULT_TAXONOMY_NAME)
    if existing is not None:
        return existing
    nodes = parse_google(default_taxonomy_text())  # parsed before the write: the write lock is not held for it
    try:
        async with db.write() as session:
            existing = await find_by_name(session, DEFAULT_TAXONOMY_NAME)
            if existing is not None:  # stored by another process while this one parsed
                return existing
            return await store(session, DEFAULT_TAXONOMY_NAME, nodes, "Google Product Taxonomy 2021-09-21")
    # The other process's row meets this one's insert, or (PostgreSQL reads each statement anew) `store`'s own check.
    except (IntegrityError, InvalidInput):
        async with db.read() as session:
            stored = await find_by_name(session, DEFAULT_TAXONOMY_NAME)
        if stored is None:
            raise
        return stored
