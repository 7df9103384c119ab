"""Batch files: reading CSV/JSON/JSON Lines, validating every row, and storing a funded batch all or nothing."""

import asyncio
import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from bot import taxonomies
from bot.batches import lifecycle as batches
from bot.batches.files import ItemDraft, Row, read_rows, validate_rows
from bot.batches.lifecycle import BatchRefusal, BatchSpec, Setup, check_spec, load_funded_batch
from bot.errors import DomainError, InvalidInput, Place, PlaceKind
from bot.money import ledger
from bot.tasks import categorize
from bot.tasks.base import TaskContext
from bot.wiring.services import Services
from storage import ledger as books
from storage.clock import utcnow
from storage.db import Database, connect
from storage.models import Account, Batch, Item, LedgerEntry, LedgerTransaction
from taxonomy import Tree, load_default
from tests import factories
from tests.factories import KITCHEN, REQUESTER, SKILLETS, WOKS
from tests.words import problem_lines, refusal

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "kitchen.csv"
COFFEE = "Home & Garden > Kitchen & Dining > Kitchen Appliances > Coffee Makers & Espresso Machines"
WOKS_ID = "664"
SPEC = BatchSpec(name="Kitchen", task_type="categorize", reward_micros=20_000, overlap=3, root=KITCHEN)


@pytest.fixture(scope="module")
def tree() -> Tree:
    return load_default()


def csv_bytes(rows: list[dict[str, str]], columns: list[str] | None = None) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns or list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def line(number: int) -> Place:
    return Place(PlaceKind.LINE, number)


def item(number: int) -> Place:
    return Place(PlaceKind.ITEM, number)


def row(n: int, **values: str) -> Row:
    return Row(line(n + 1), {"item_id": f"sku-{n}", "title": f"Product {n}", **values})


def validate(rows: list[Row], tree: Tree, spec: BatchSpec = SPEC) -> list[ItemDraft]:
    """The rows checked as a categorize batch of these settings."""
    setup = check_spec(spec, tree)
    return validate_rows(rows, categorize.TYPE, TaskContext(setup.task_config, tree, setup.root_id, spec.leaf_only))


def problems_of(rows: list[Row], tree: Tree, spec: BatchSpec = SPEC) -> list[str]:
    with pytest.raises(InvalidInput) as raised:
        validate(rows, tree, spec)
    assert "Nothing was stored" in refusal(raised.value)
    return problem_lines(raised.value)


def rejection(data: bytes, filename: str) -> str:
    with pytest.raises(InvalidInput) as raised:
        read_rows(data, filename)
    return refusal(raised.value)


# --- reading -------------------------------------------------------------------------------


def test_reads_csv() -> None:
    """A CSV with a header row gives one row per product, cells stripped, located by line."""
    data = b'item_id,title,brand,price\nsku-1, Skillet ,Lodge,19.90\r\nsku-2,"Wok, 14""",,\n'
    rows = read_rows(data, "products.csv")
    assert rows == [
        Row(line(2), {"item_id": "sku-1", "title": "Skillet", "brand": "Lodge", "price": "19.90"}),
        Row(line(3), {"item_id": "sku-2", "title": 'Wok, 14"', "brand": "", "price": ""}),
    ]


def test_reads_csv_with_bom_as_excel_saves_it() -> None:
    """The UTF-8 byte-order mark of “CSV UTF-8” exports does not end up in the first column's name."""
    rows = read_rows("\ufeffitem_id,title\nsku-1,Café crème\n".encode(), "export.CSV")
    assert rows == [Row(line(2), {"item_id": "sku-1", "title": "Café crème"})]


def test_reads_json_list() -> None:
    """A JSON list of objects gives one row per object; numbers and null become text."""
    data = json.dumps(
        [{"item_id": 1, "title": "Skillet", "price": 19.9, "brand": None}, {"item_id": "b", "title": "Wok"}]
    )
    rows = read_rows(data.encode(), "batch.json")
    assert rows == [
        Row(item(1), {"item_id": "1", "title": "Skillet", "price": "19.9", "brand": ""}),
        Row(item(2), {"item_id": "b", "title": "Wok"}),
    ]


def test_reads_json_lines_skipping_blank_lines() -> None:
    """JSON Lines: one object per line, blank lines skipped, rows named by their line number."""
    data = b'{"item_id": "a", "title": "Skillet"}\n\n{"item_id": "b", "title": "Wok"}\n'
    for name in ("batch.jsonl", "batch.ndjson"):
        assert read_rows(data, name) == [
            Row(line(1), {"item_id": "a", "title": "Skillet"}),
            Row(line(3), {"item_id": "b", "title": "Wok"}),
        ]


@pytest.mark.parametrize(
    ("data", "first"),
    [
        (b'[{"item_id": "a", "title": "T"}]', item(1)),
        (b'  {"item_id": "a", "title": "T"}\n', line(1)),
        (b"item_id,title\na,T\n", line(2)),
    ],
)
def test_format_guessed_without_extension(data: bytes, first: Place) -> None:
    """A file without a known extension (e.g. sent as a document named “products”) is recognised by content."""
    assert read_rows(data, "products")[0].place == first


def test_csv_row_spanning_lines_is_named_by_its_first_line() -> None:
    """A row whose quoted description spans two lines is reported at the line where it starts."""
    rows = read_rows(b'item_id,title,description\nsku-1,,"first\nsecond"\nsku-2,B,x\n', "p.csv")
    assert [r.place for r in rows] == [line(2), line(4)]


@pytest.mark.parametrize(
    ("data", "filename", "words"),
    [
        (b"item_id,title\nsku-1,Caf\xe9\n", "latin1.csv", ["not UTF-8", "byte 23"]),
        (b"\xff\xfei\x00t\x00", "utf16.csv", ["not UTF-8"]),
        (b"", "empty.csv", ["empty"]),
        (b" \n\r\n\t", "blank.json", ["empty"]),
        (b"title,price\nSkillet,1\n", "no-id.csv", ["item_id"]),
        (b"item_id,price\n1,1\n", "no-title.csv", ["title"]),
        (b"item_id,title\nsku-1,Skillet,extra\n", "extra.csv", ["Line 2", "more cells"]),
        (b"item_id,title\n", "header-only.csv", ["no products"]),
        (b"[]", "empty-list.json", ["no products"]),
        (b'[{"item_id": "a", "title": "T"},\n {"item_id": "b" "title": "U"}]', "bad.json", ["line 2", "column"]),
        (b'{"item_id": "a", "title": "T"}', "object.json", ["must be a list"]),
        (b'"just text"', "string.json", ["must be a list"]),
        (b'[{"item_id": "a", "title": "T"}, ["b", "U"]]', "array-row.json", ["Item 2", "not an object"]),
        (b'[{"item_id": "a", "title": {"en": "T"}}]', "nested.json", ["Item 1", "title", "single value"]),
        (b'[{"item_id": "a", "title": "T", "brand": ["x"]}]', "nested-list.json", ["Item 1", "brand", "single value"]),
        (b'{"item_id": "a", "title": "T"}\n{"item_id": "b", "title": \n', "bad.jsonl", ["Line 2", "not valid JSON"]),
        (b'{"item_id": "a", "title": "T"}\n[1, 2]\n', "array.jsonl", ["Line 2", "not an object"]),
        (b'{"item_id": "a", "title": "T", "price": {"v": 1}}\n', "nested.jsonl", ["Line 1", "price", "single value"]),
    ],
)
def test_read_rejections(data: bytes, filename: str, words: list[str]) -> None:
    """Every unreadable file is refused with a message that says what and where."""
    message = rejection(data, filename)
    for word in words:
        assert word in message


def test_csv_missing_both_required_columns_named() -> None:
    """When the header lacks both required columns, both are named."""
    message = rejection(b"name,cost\nSkillet,1\n", "p.csv")
    assert "item_id, title" in message


# --- validating ----------------------------------------------------------------------------


def test_valid_rows_become_drafts_with_gold_resolved(tree: Tree) -> None:
    """Gold given as an id, a full path or a unique name resolves to the node id (as the category's
    label); other fields are kept."""
    rows = [
        row(1, gold_category=WOKS_ID),
        row(2, gold_category=SKILLETS),
        row(3, gold_category="home & garden > kitchen & dining > cookware & bakeware > cookware > woks"),
        row(4, description="d", brand="b", price="1", image_url="https://img.example.com/4.jpg"),
    ]
    drafts = validate(rows, tree)
    skillets = str(tree.find(SKILLETS).id)
    assert [d.gold for d in drafts] == [{"category": "664"}, {"category": skillets}, {"category": "664"}, None]
    assert drafts[3].image_url == "https://img.example.com/4.jpg" and drafts[3].brand == "b"
    assert [d.external_id for d in drafts] == ["sku-1", "sku-2", "sku-3", "sku-4"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"item_id": ""}, "item_id is empty"),
        ({"title": ""}, "title is empty"),
        ({"title": "x" * 1001}, "title is longer than 1000"),
        ({"item_id": "x" * 257}, "item_id is longer than 256"),
        ({"description": "x" * 5001}, "description is longer than 5000"),
        ({"brand": "x" * 257}, "brand is longer than 256"),
        ({"price": "1" * 65}, "price is longer than 64"),
        ({"image_url": "https://e.com/" + "x" * 2000}, "image_url is longer than 2000"),
        ({"title": '=HYPERLINK("http://evil")'}, "formula"),
        ({"brand": "@SUM(A1)"}, "formula"),
        ({"description": "=1+1"}, "formula"),
        ({"item_id": "=A1"}, "formula"),
        ({"title": "Pan\x00"}, "title contains a control character (U+0000)"),
        ({"description": "red\x1b[0m"}, "description contains a control character (U+001B)"),
        ({"item_id": "p\x7f"}, "item_id contains a control character (U+007F)"),
        ({"brand": "Acme \ud83c"}, "brand contains half of a character (U+D83C)"),
        ({"image_url": "ftp://img.example.com/1.jpg"}, "not an http(s) address"),
        ({"image_url": "javascript:alert(1)"}, "not an http(s) address"),
        ({"image_url": "https://"}, "not an http(s) address"),
        ({"image_url": "img.example.com/1.jpg"}, "not an http(s) address"),
        ({"image_url": "https://img.example.com/a b.jpg"}, "not an http(s) address"),
        ({"gold_category": "99999999"}, "is not a category of the taxonomy"),
        ({"gold_category": "Home & Garden > Kitchen & Dining > Flying Saucers"}, "is not a category of the taxonomy"),
        ({"gold_category": "1"}, "outside the batch's root"),  # Animals & Pet Supplies
        ({"gold_category": "Animals & Pet Supplies > Live Animals"}, "outside the batch's root"),
        ({"gold_category": KITCHEN}, "outside the batch's root"),  # the root itself is no answer
        ({"gold_category": COFFEE}, "accepts leaves only"),
    ],
)
def test_row_problems(tree: Tree, values: dict[str, str], expected: str) -> None:
    """Each kind of bad cell rejects the file, and the problem names the row and the reason."""
    found = problems_of([row(1), row(2, **values)], tree)
    assert len(found) == 1
    assert found[0].startswith("Line 3: ")
    assert expected in found[0]


def test_tabs_and_line_breaks_are_text(tree: Tree) -> None:
    """Only control characters with no place in text are refused: a tab or line break in a description is fine."""
    description = "Cast iron\n\tpre-seasoned\r\nready"
    drafts = validate([row(1, description=description)], tree)
    assert drafts[0].description == description


def test_gold_inner_node_accepted_when_not_leaf_only(tree: Tree) -> None:
    """A batch that accepts inner categories takes an inner gold category."""
    spec = BatchSpec(name="K", task_type="categorize", reward_micros=1, overlap=1, root=KITCHEN, leaf_only=False)
    drafts = validate([row(1, gold_category=COFFEE)], tree, spec)
    assert drafts[0].gold == {"category": str(tree.find(COFFEE).id)}


def test_whole_taxonomy_batch_accepts_any_gold(tree: Tree) -> None:
    """Without a root, a leaf anywhere in the taxonomy is a valid gold category."""
    spec = BatchSpec(name="All", task_type="categorize", reward_micros=1, overlap=1, root=None)
    live = tree.find("Animals & Pet Supplies > Live Animals")
    assert tree.is_leaf(live.id)
    drafts = validate([row(1, gold_category=str(live.id))], tree, spec)
    assert drafts[0].gold == {"category": str(live.id)}


def test_duplicate_item_id_names_first_occurrence(tree: Tree) -> None:
    """A repeated item_id is reported at each repeat, pointing at the row where it first appeared."""
    rows = [
        row(1),
        row(2),
        Row(line(4), {"item_id": "sku-1", "title": "Again"}),
        Row(line(5), {"item_id": "sku-1", "title": "Third"}),
    ]
    found = problems_of(rows, tree)
    assert found == ["Line 4: item_id 'sku-1' repeats line 2", "Line 5: item_id 'sku-1' repeats line 2"]


def test_several_problems_of_one_row_are_listed_together(tree: Tree) -> None:
    """All problems of a row are given in one entry, so the requester can fix the row in one go."""
    found = problems_of([row(1, title="", brand="@x", image_url="nope")], tree)
    assert len(found) == 1
    assert "title is empty" in found[0] and "brand starts with '@'" in found[0] and "image_url" in found[0]


def test_at_most_twenty_problems_shown(tree: Tree) -> None:
    """With 25 bad rows, the message lists the first 20 and says “… and 5 more”; all 25 are kept on the error."""
    rows = [row(n, title="") for n in range(1, 26)]
    with pytest.raises(InvalidInput) as raised:
        validate(rows, tree)
    error = raised.value
    assert len(error.problems) == 25
    lines = refusal(error).splitlines()
    assert "25 rows have problems" in lines[0]
    assert lines[1:21] == [f"Line {n + 1}: title is empty" for n in range(1, 21)]
    assert lines[21:] == ["… and 5 more"]


def test_exactly_twenty_problems_have_no_more_line(tree: Tree) -> None:
    """With exactly 20 bad rows nothing is hidden, so there is no “… and N more” line."""
    with pytest.raises(InvalidInput) as raised:
        validate([row(n, title="") for n in range(1, 21)], tree)
    assert "more" not in refusal(raised.value)
    assert len(refusal(raised.value).splitlines()) == 21


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"task_type": "transcribe"}, "not supported"),
        ({"reward_micros": 0}, "reward must be more than zero"),
        ({"reward_micros": -5}, "reward must be more than zero"),
        ({"overlap": 0}, "overlap must be between 1 and 100"),
        ({"overlap": 101}, "overlap must be between 1 and 100"),
        ({"name": "  "}, "needs a name"),
        ({"root": "Kitchen > Nowhere"}, "is not a category"),
        ({"root": WOKS}, "no subcategories"),
        ({"min_overlap": 4}, "min_overlap must be between 1 and overlap"),
    ],
)
def test_check_spec_rejections(tree: Tree, changes: dict[str, object], expected: str) -> None:
    """Each invalid batch setting is refused with its reason."""
    values = {"name": "K", "task_type": "categorize", "reward_micros": 20_000, "overlap": 3, "root": KITCHEN, **changes}
    with pytest.raises(InvalidInput) as raised:
        check_spec(BatchSpec(**values), tree)
    (problem,) = problem_lines(raised.value)
    assert expected in problem


def test_check_spec_lists_every_problem(tree: Tree) -> None:
    """Several bad settings are reported together."""
    with pytest.raises(InvalidInput) as raised:
        check_spec(BatchSpec(name="", task_type="x", reward_micros=0, overlap=0, root="nope"), tree)
    assert len(raised.value.problems) == 5


def test_check_spec_for_drafts_allows_unchosen_reward_and_overlap(tree: Tree) -> None:
    """A draft may leave reward and overlap at 0 (asked later with buttons), but never negative or over 100."""
    unchosen = BatchSpec(name="K", task_type="categorize", reward_micros=0, overlap=0, root=KITCHEN)
    assert check_spec(unchosen, tree, require_complete=False) == Setup(638, {})
    with pytest.raises(InvalidInput):
        check_spec(unchosen, tree)
    for bad in ({"reward_micros": -1}, {"overlap": 101}):
        values = {"name": "K", "task_type": "categorize", "reward_micros": 0, "overlap": 0, "root": KITCHEN, **bad}
        with pytest.raises(InvalidInput):
            check_spec(BatchSpec(**values), tree, require_complete=False)


def test_check_spec_returns_root(tree: Tree) -> None:
    """A valid spec gives its root node id (by path or id), or None for the whole taxonomy, and the
    task type's settings (categorize has none)."""
    assert check_spec(SPEC, tree) == Setup(tree.find(KITCHEN).id, {})
    by_id = BatchSpec(name="K", task_type="categorize", reward_micros=1, overlap=100, root="638")
    assert check_spec(by_id, tree) == Setup(638, {})
    whole = BatchSpec(name="K", task_type="categorize", reward_micros=1, overlap=1, root=None)
    assert check_spec(whole, tree) == Setup(None, {})


def test_example_file_gold_answers_match_products(tree: Tree) -> None:
    """The example batch's gold answers are right: the wok is a wok, the skillet set a skillet, the drip
    coffee maker a drip coffee maker."""
    rows = {r.values["item_id"]: r.values for r in read_rows(EXAMPLE.read_bytes(), EXAMPLE.name)}
    gold = {
        item: tree.find(values["gold_category"]).name for item, values in rows.items() if values.get("gold_category")
    }
    assert "Wok" in rows["sku-003"]["title"] and gold["sku-003"] == "Woks"
    assert gold["sku-008"] == "Skillets & Frying Pans"
    assert gold["sku-004"] == "Drip Coffee Makers"


# --- storing -------------------------------------------------------------------------------


async def table_counts(services: Services) -> dict[str, int]:
    async with services.db.read() as session:
        return {
            model.__tablename__: await session.scalar(select(func.count()).select_from(model))
            for model in (Batch, Item, LedgerTransaction, LedgerEntry, Account)
        }


async def load(services: Services, data: bytes, filename: str, spec: BatchSpec = SPEC) -> Batch:
    taxonomy_id = await taxonomies.ensure_default(services.db)
    tree = (await services.taxonomies.get(taxonomy_id)).tree
    rows = read_rows(data, filename)
    async with services.db.write() as session:
        return await load_funded_batch(
            session, REQUESTER, taxonomy_id, tree, spec, rows, services.settings.currency, services.clock.now()
        )


async def test_load_funded_batch_stores_items_and_reserves_cost(services: Services) -> None:
    """A valid file becomes an active batch whose items carry resolved gold ids, and the requester's
    reserve holds the work (reward × overlap × products) plus the gold budget, books in balance."""
    rows = [
        {"item_id": "sku-1", "title": "Wok", "gold_category": WOKS_ID},
        {"item_id": "sku-2", "title": "Pan", "gold_category": SKILLETS},
        {"item_id": "sku-3", "title": "Toaster", "gold_category": ""},
        {"item_id": "sku-4", "title": "Kettle", "gold_category": ""},
    ]
    batch = await load(services, csv_bytes(rows), "batch.csv")
    async with services.db.read() as session:
        stored = await session.get(Batch, batch.id)
        items = (await session.execute(select(Item.external_id, Item.gold, Item.is_gold).order_by(Item.id))).all()
        reserved = await books.balances(session, REQUESTER, ["requester_reserved", "requester_available"])
        assert await books.inconsistencies(session) == []
    assert stored.status == "active" and stored.item_count == 4 and stored.root_node_id == 638
    assert [tuple(i) for i in items] == [
        ("sku-1", {"category": "664"}, True),
        ("sku-2", {"category": "662"}, True),
        ("sku-3", None, False),
        ("sku-4", None, False),
    ]
    # 2 products × 3 answers; no per-worker cap, so quizzes for the smallest crowd, 10 workers, each
    # with a 2-question quiz (the file's 2 gold items); checks: 6 × 0.1 / 0.9 → 1, plus 1 each.
    assert (stored.qualification, stored.quiz_slots, stored.gold_slots) == (2, 10 * 2, 1 + 10)
    assert reserved == {"requester_reserved": 20_000 * (2 * 3 + 10 * 2 + 1 + 10), "requester_available": 0}


async def test_loaded_before_finds_the_same_content_of_the_same_requester(services: Services) -> None:
    """A batch remembers its file's content hash: the requester's latest batch of it is found, a draft
    included (the chat stores drafts); another requester's batch or another file is not."""
    taxonomy_id = await taxonomies.ensure_default(services.db)
    tree = (await services.taxonomies.get(taxonomy_id)).tree
    data = csv_bytes([{"item_id": "sku-1", "title": "Wok", "gold_category": ""}])
    same = batches.content_hash(data)
    async with services.db.write() as session:
        first = await load_funded_batch(
            session, REQUESTER, taxonomy_id, tree, SPEC, read_rows(data, "a.csv"), "USD", services.clock.now()
        )
        assert first.source_hash == "" and await batches.loaded_before(session, REQUESTER, same) is None
        for requester in (REQUESTER, REQUESTER + 1):
            await batches.create_draft(session, requester, taxonomy_id, tree, SPEC, read_rows(data, "b.csv"), "b", same)
        assert await batches.loaded_before(session, REQUESTER, same) == first.id + 1
        assert await batches.loaded_before(session, REQUESTER + 2, same) is None
        assert await batches.loaded_before(session, REQUESTER, batches.content_hash(data + b"\n")) is None


async def test_load_funded_batch_larger_than_one_insert_chunk(services: Services) -> None:
    """A file with more rows than one bulk insert holds stores every row."""
    count = batches.INSERT_CHUNK + 3
    data = csv_bytes([{"item_id": f"sku-{n}", "title": f"P{n}"} for n in range(count)])
    spec = BatchSpec(name="Big", task_type="categorize", reward_micros=1_000, overlap=1, root=KITCHEN)
    batch = await load(services, data, "big.csv", spec)
    async with services.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Item).where(Item.batch_id == batch.id)) == count
        assert (await books.balances(session, REQUESTER, ["requester_reserved"]))["requester_reserved"] == 1_000 * count


REJECTED: list[tuple[str, dict[str, str], BatchSpec]] = [
    ("empty title", {"item_id": "sku-2", "title": ""}, SPEC),
    ("duplicate", {"item_id": "sku-1", "title": "duplicate"}, SPEC),
    ("formula", {"item_id": "sku-2", "title": "=cmd"}, SPEC),
    (
        "gold outside root",
        {"item_id": "sku-2", "title": "Leash", "gold_category": "Animals & Pet Supplies > Pet Supplies"},
        SPEC,
    ),
    (
        "bad settings",
        {"item_id": "sku-2", "title": "fine"},
        BatchSpec(name="K", task_type="categorize", reward_micros=0, overlap=3, root=KITCHEN),
    ),
]


async def test_rejected_file_stores_nothing(services: Services) -> None:
    """One bad row (or bad settings) among good ones rejects the file and leaves no batch, item or ledger row."""
    await taxonomies.ensure_default(services.db)
    for case, bad, spec in REJECTED:
        rows = [{"item_id": "sku-1", "title": "Wok", "gold_category": ""}, {"gold_category": "", **bad}]
        rows += [{"item_id": f"ok-{n}", "title": "Fine", "gold_category": ""} for n in range(3)]
        with pytest.raises(InvalidInput):
            await load(services, csv_bytes(rows, ["item_id", "title", "gold_category"]), "batch.csv", spec)
        counts = await table_counts(services)
        assert counts == {name: 0 for name in counts}, case


async def add_quizzes(services: Services, count: int, request: str, requester: int = REQUESTER) -> int:
    async with services.db.write() as session:
        return await batches.add_quizzes(session, 1, requester, count, request, "USD")


async def test_more_quizzes_are_reserved_once_per_request(services: Services) -> None:
    await factories.load_batch(services, factories.products(4, gold={1: SKILLETS, 2: WOKS}), qualification=2)
    async with services.db.write() as session:
        await ledger.fund_requester(session, "more", REQUESTER, 1_000_000)
        before = await session.get(Batch, 1)
        reserved, slots = before.reserved_micros, before.quiz_slots
    assert await add_quizzes(services, 5, "chat:1") == 5 * 2 * 20_000
    assert await add_quizzes(services, 5, "chat:1") == 0, "a repeated request reserves nothing"
    async with services.db.read() as session:
        after = await session.get(Batch, 1)
        assert (after.reserved_micros, after.quiz_slots) == (reserved + 200_000, slots + 10)
        assert await ledger.requester_funds(session, REQUESTER) == ledger.RequesterFunds(800_000, reserved + 200_000)
        assert await books.inconsistencies(session) == []


@pytest.mark.parametrize(
    ("qualification", "count", "requester", "code"),
    [
        (0, 5, REQUESTER, BatchRefusal.NO_QUIZ),
        (2, 0, REQUESTER, BatchRefusal.QUIZ_TOP_UP_RANGE),
        (2, 1001, REQUESTER, BatchRefusal.QUIZ_TOP_UP_RANGE),
        (2, 5, REQUESTER + 1, BatchRefusal.NOT_YOURS),
        (2, 10**6, REQUESTER, BatchRefusal.QUIZ_TOP_UP_RANGE),
    ],
)
async def test_more_quizzes_refused(
    services: Services, qualification: int, count: int, requester: int, code: BatchRefusal
) -> None:
    await factories.load_batch(
        services, factories.products(4, gold={1: SKILLETS, 2: WOKS}), qualification=qualification
    )
    with pytest.raises(DomainError) as raised:
        await add_quizzes(services, count, "chat:1", requester)
    assert raised.value.code == code
    if code == BatchRefusal.QUIZ_TOP_UP_RANGE:
        assert refusal(raised.value) == "Add between 1 and 1000 quizzes at a time."


async def test_more_quizzes_only_for_a_running_batch(services: Services) -> None:
    await factories.load_batch(services, factories.products(4, gold={1: SKILLETS, 2: WOKS}), qualification=2)
    async with services.db.write() as session:
        await batches.cancel(session, 1, REQUESTER, services.clock.now())
    with pytest.raises(DomainError) as raised:
        await add_quizzes(services, 1, "chat:2")
    assert (raised.value.code, raised.value.params) == (BatchRefusal.QUIZZES_NOT_UNDER_WAY, {"status": "cancelled"})
    assert "cancelled: only a running or paused batch" in refusal(raised.value)


async def test_a_gold_answer_in_a_categorize_file_refuses_the_row(services: Services) -> None:
    """`gold_answer` is for other task types: in a categorize file it would silently not be gold, so its
    row is refused, naming the column, and nothing is stored. An empty `gold_answer` cell is no answer:
    that file loads, its row is ordinary work, and the quiz is sized by the real gold."""
    rows = factories.products(4, gold={1: SKILLETS, 2: WOKS})
    rows[2]["gold_answer"] = "yes"
    with pytest.raises(InvalidInput) as raised:
        await factories.load_batch(services, rows, overlap=1, qualification=5)
    assert problem_lines(raised.value) == [
        "Line 3: gold_answer is not read by type categorize; its columns: gold_category"
    ]
    counts = await table_counts(services)
    assert counts == {name: 0 for name in counts}
    rows[2]["gold_answer"] = ""
    batch = await factories.load_batch(services, rows, overlap=1, qualification=5)
    async with services.db.read() as session:
        stored = await session.get(Batch, batch.id)
        cost = await batches.cost_of(session, stored)
        opened = await session.scalars(select(Item.external_id).where(Item.is_open == True))  # noqa: E712
        assert (stored.qualification, cost.regular_items, cost.gold_items) == (2, 2, 2)
        assert sorted(opened) == ["sku-0003", "sku-0004"]


async def test_spent_quiz_budgets_are_told_once_per_running_batch_with_work_left(services: Services) -> None:
    """Of four batches with a quiz: one still funded, one spent with work left, one spent and done,
    one spent but paused; only the second is reported, and only once until more quizzes are funded,
    however soon those are spent too."""
    gold = {1: SKILLETS, 2: WOKS}
    for name in ("funded", "spent", "done", "paused"):
        await factories.load_batch(services, factories.products(4, gold=gold), qualification=2, name=name)
    async with services.db.write() as session:
        for batch_id in (2, 3, 4):
            (await session.get(Batch, batch_id)).quiz_slots = 1
        (await session.get(Batch, 4)).status = "paused"
        await session.execute(update(Item).where(Item.batch_id == 3).values(is_open=False))

    async def spent() -> list[batches.SpentQuizBudget]:
        async with services.db.write() as session:
            return await batches.newly_spent_quiz_budgets(session, utcnow())

    assert await spent() == [batches.SpentQuizBudget(2, "spent", REQUESTER, 2)]
    assert await spent() == [], "told once"
    async with services.db.write() as session:
        (await session.get(Batch, 2)).quiz_slots = 0
    assert await spent() == [], "still the same spent budget"
    async with services.db.write() as session:
        await ledger.fund_requester(session, "more", REQUESTER, 1_000_000)
        await batches.add_quizzes(session, 2, REQUESTER, 1, "chat:1", "USD")
        (await session.get(Batch, 2)).quiz_slots = 0  # taken before the job looked again
    assert await spent() == [batches.SpentQuizBudget(2, "spent", REQUESTER, 2)], "spent again"


async def test_two_processes_tell_a_spent_quiz_budget_once(services: Services, database_url: str) -> None:
    await factories.load_batch(services, factories.products(4, gold={1: SKILLETS, 2: WOKS}), qualification=2)
    async with services.db.write() as session:
        (await session.get(Batch, 1)).quiz_slots = 0
    other = connect(database_url)

    async def spent(database: Database) -> list[batches.SpentQuizBudget]:
        async with database.write() as session:
            return await batches.newly_spent_quiz_budgets(session, utcnow())

    try:
        told = await asyncio.gather(*(spent(database) for database in (services.db, other) * 4))
    finally:
        await other.dispose()
    assert sum(map(len, told)) == 1


@pytest.mark.parametrize("setting", ["reward=1e30", "reward=99999999999999", "bonus_expert=1e30"])
def test_caption_amounts_over_the_cap_are_refused(setting: str) -> None:
    """An amount a database column cannot hold is a plain problem naming the setting, not an overflow later."""
    with pytest.raises(InvalidInput) as raised:
        batches.parse_settings(f"type=categorize {setting}", "K")
    (problem,) = problem_lines(raised.value)
    assert problem.startswith(setting.split("=")[0] + " ") and "largest amount accepted" in problem


def test_caption_reward_may_carry_the_currency_symbol() -> None:
    assert batches.parse_settings("reward=$0.02", "K").reward_micros == 20_000
