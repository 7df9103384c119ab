"""Requesters through the bot: upload, settings by buttons, preview, launch, progress, results."""

import asyncio
import csv
import io
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot import work
from bot.aggregation import methods as aggregation
from bot.batches import files as batch_files
from bot.batches import lifecycle as batches
from bot.batches import results
from bot.money import ledger
from bot.wiring import cli
from sandbox.telegram_server import FakeUser
from storage import ledger as books
from storage.models import Assignment, Batch, Item
from tests.e2e.conftest import RunningBot, StartBot
from tests.factories import KITCHEN, SKILLETS, WOKS, load_batch, products

MUGS = "Tableware > Drinkware > Mugs"
SHOP, OTHER_SHOP, ADMIN, OUTSIDER = 42, 43, 900, 555
# No quiz: these tests are not about it. Gold still comes as hidden checks (at random unless a test
# takes `checks_first`), and pans() has one gold item (p1).
CAPTION = (
    f'reward=0.02 overlap=2 max_share=1 qualification=0 root="{KITCHEN}" name="Pans" '
    'instructions="Pick the most specific category"'
)


@pytest.fixture
async def bot(start_bot: StartBot) -> RunningBot:
    return await start_bot(admin_ids=str(ADMIN), requester_ids=f"{SHOP},{OTHER_SHOP}")


def csv_file(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def pans(count: int = 4) -> list[dict[str, str]]:
    return [
        {"item_id": f"p{n}", "title": f"Pan {n}", "brand": "Acme", "gold_category": SKILLETS if n == 1 else ""}
        for n in range(1, count + 1)
    ]


async def upload(bot: RunningBot, user: FakeUser, content: bytes, name: str, caption: str | None = CAPTION) -> str:
    await user.send_document(content, name, caption=caption)
    await bot.settle()
    return "\n".join(user.texts[-3:])


async def tap(bot: RunningBot, user: FakeUser, label: str) -> str:
    await user.press(label)
    await bot.settle()
    return user.last.body


async def fund(bot: RunningBot, amount: str, requester: int = SHOP) -> None:
    await bot.user(ADMIN, "Ada").send(f"/fund {requester} {amount}")
    await bot.settle()


def noting_thread(threads: dict[str, set[str]], name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function``, noting in ``threads[name]`` the name of each thread that calls it."""

    def run(*args: Any, **kwargs: Any) -> Any:
        threads.setdefault(name, set()).add(threading.current_thread().name)
        return function(*args, **kwargs)

    return run


async def batch_count(bot: RunningBot) -> int:
    async with bot.services.db.read() as session:
        return await session.scalar(select(func.count(Batch.id)))


async def test_upload_preview_launch_work_and_results(bot: RunningBot, checks_first: None, tmp_path: Path) -> None:
    shop = bot.user(SHOP, "Shop")
    said = await upload(bot, shop, csv_file(pans()), "pans.csv")
    assert "Preview" in said and "Pan 1" in said, "the first product exactly as workers see it"
    # 3 regular products × overlap 2 = 6 answers; gold slots (no quiz, gold_rate 0.1, crowd of 10):
    # ceil(6 × 0.1 / 0.9) = 1 check + 10 extra = 11; (6 + 11) × $0.02 = $0.34.
    assert (
        "3 products × 2 answers × $0.02\n"
        "+ up to 11 checks on your 1 gold item × $0.02\n"
        "= $0.34 at most" in shop.last.body
    )
    # The gold count is now told in the cost lines above ("on your 1 gold items").
    assert "Pick the most specific category" in shop.last.body
    assert "Not enough funds" in await tap(bot, shop, "🚀 Launch") and "$0.34 more" in shop.last.body
    await fund(bot, "1")
    assert "is live: $0.34 reserved" in await tap(bot, shop, "🚀 Launch")

    # Two workers label everything (with checks_first, gold Pan 1 comes first as a check, then the
    # three regular products); the rules come first, and behind ℹ Rules on every task.
    tree = (await bot.services.taxonomies.get(1)).tree
    for worker_id, first_answer in ((101, SKILLETS), (102, WOKS)):
        worker = bot.user(worker_id, f"W{worker_id}")
        await worker.send("/work")
        await bot.settle()
        assert "Rules of “Pans”" in worker.texts[-2] and "Pan 1" in worker.last.body
        assert "Pick the most specific" in await tap(bot, worker, "ℹ Rules")
        task = await work.next_task(bot.services, worker_id)
        for category in (first_answer, SKILLETS, SKILLETS, WOKS):
            task = (
                await work.answer(bot.services, worker_id, task.assignment_id, 0, str(tree.find(category).id))
            ).next_task
    await bot.run_job("complete-batches")
    await bot.settle()
    assert "is complete" in shop.texts[-3]
    labels_file, answers_file = shop.messages[-2], shop.messages[-1]
    assert labels_file.document["file_name"] == "batch-1-results.csv"
    rows = list(csv.DictReader(io.StringIO(labels_file.document_bytes.decode())))
    assert list(rows[0]) == ["item_id", "title", "label_id", "label_path", "confidence", "answers", "agreement"]

    async with bot.services.db.read() as session:
        crowd = [
            aggregation.Answer(item, str(worker), answer["category"])
            for item, worker, answer in (
                await session.execute(
                    select(Item.external_id, Assignment.worker_id, Assignment.answer).join(
                        Assignment, Assignment.item_id == Item.id
                    )
                )
            ).all()
        ]
        assert (await ledger.requester_funds(session, SHOP)).reserved == 0
        assert await books.inconsistencies(session) == []
    expected = aggregation.aggregate(crowd, gold={"p1": str(tree.find(SKILLETS).id)})
    for row in rows:
        label = expected[row["item_id"]]
        assert (row["label_id"], row["confidence"], int(row["answers"])) == (label.label, f"{label.confidence:.4f}", 2)
        assert row["label_path"] == tree.path_names(int(label.label))
    raw = list(csv.DictReader(io.StringIO(answers_file.document_bytes.decode())))
    assert len(raw) == 8 and {r["worker"] for r in raw} == {"worker 1", "worker 2"}
    assert sorted(r["gold"] for r in raw if r["item_id"] == "p1") == ["correct", "incorrect"]

    # `crowdshelf aggregate` reads the raw answers file as the bot sent it.
    sent = tmp_path / answers_file.document["file_name"]
    sent.write_bytes(answers_file.document_bytes)
    out = tmp_path / "labels.csv"
    assert await asyncio.to_thread(cli.main, ["aggregate", str(sent), "--method", "mv", "--out", str(out)]) == 0
    relabelled = {row["item"]: row["answers"] for row in csv.DictReader(io.StringIO(out.read_text()))}
    assert relabelled == {row["item_id"]: "2" for row in rows}


async def test_results_settle_a_three_way_split_within_the_family(
    bot: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three workers agree on 24 products and split three ways on the last: Skillets, its sibling Woks,
    and Mugs, far away. The labels file says one of the siblings, since mistakes mostly land next to the
    right category; one-coin alone sees a three-way tie and takes the smallest id, Mugs.

    The aggregation and the files are made in worker threads, off the event loop that serves everyone."""
    threads: dict[str, set[str]] = {}
    monkeypatch.setattr(aggregation, "aggregate", noting_thread(threads, "aggregate", aggregation.aggregate))
    monkeypatch.setattr(results, "to_csv", noting_thread(threads, "to_csv", results.to_csv))
    shop = bot.user(SHOP, "Shop")
    rows = [{"item_id": f"p{n:02}", "title": f"Thing {n}", "brand": "Acme"} for n in range(1, 26)]
    await upload(bot, shop, csv_file(rows), "things.csv", caption=CAPTION.replace("overlap=2", "overlap=3"))
    await fund(bot, "5")
    assert "is live" in await tap(bot, shop, "🚀 Launch")

    tree = (await bot.services.taxonomies.get(1)).tree
    cookware = tree.children(tree.find(SKILLETS).parent_id)[:12]
    split = {101: tree.find(SKILLETS).id, 102: tree.find(WOKS).id, 103: tree.find(f"{KITCHEN} > {MUGS}").id}
    for worker_id in split:
        await bot.user(worker_id, f"W{worker_id}").send("/work")
        await bot.settle()
        task = await work.next_task(bot.services, worker_id)  # the task /work showed
        while task is not None:
            number = int(task.card.title.split()[1])
            node = split[worker_id] if number == 25 else cookware[number % 12].id
            task = (await work.answer(bot.services, worker_id, task.assignment_id, 0, str(node))).next_task
    await bot.run_job("complete-batches")
    await bot.settle()
    labels = {row["item_id"]: row for row in csv.DictReader(io.StringIO(shop.messages[-2].document_bytes.decode()))}
    assert len(labels) == 25 and labels["p03"]["label_id"] == str(cookware[3].id)
    assert labels["p25"]["label_id"] in (str(split[101]), str(split[102]))
    assert 0.45 < float(labels["p25"]["confidence"]) < 0.55  # the two siblings share nearly all of it
    assert threads.keys() == {"aggregate", "to_csv"} and threading.main_thread().name not in set.union(
        *threads.values()
    )
    monkeypatch.undo()
    async with bot.services.db.read() as session:
        crowd = [
            aggregation.Answer(item, str(worker), answer["category"])
            for item, worker, answer in await session.execute(
                select(Item.external_id, Assignment.worker_id, Assignment.answer).join(Item)
            )
        ]
    assert aggregation.aggregate(crowd)["p25"].label == str(split[103])  # what one-coin alone would say


async def test_an_upload_is_read_and_checked_off_the_event_loop(
    bot: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file of 100,000 rows takes seconds to read and check: a worker thread does it, not the loop everyone shares."""
    threads: dict[str, set[str]] = {}
    monkeypatch.setattr(batch_files, "read_rows", noting_thread(threads, "read", batch_files.read_rows))
    monkeypatch.setattr(batches, "prepare", noting_thread(threads, "check", batches.prepare))
    shop = bot.user(SHOP, "Shop")
    assert "Preview" in await upload(bot, shop, csv_file(pans()), "pans.csv")
    assert threads.keys() == {"read", "check"} and threading.main_thread().name not in set.union(*threads.values())


async def test_a_launch_leaves_postgresql_knowing_the_open_items(bot: RunningBot) -> None:
    """After 🚀 Launch and ▶ Resume the planner has statistics of the batch's open items: without them each
    claim sorts every open item of a new batch (storage.db.Database.analyze)."""
    if bot.services.db.engine.dialect.name != "postgresql":
        pytest.skip("statistics are PostgreSQL's")
    shop = bot.user(SHOP, "Shop")
    await upload(bot, shop, csv_file(pans()), "pans.csv")
    await fund(bot, "1")
    await forget_item_statistics(bot)  # whatever autovacuum gathered meanwhile
    assert "is live" in await tap(bot, shop, "🚀 Launch")
    assert await open_items_known(bot) == [True]
    await shop.send("/batches")
    await bot.settle()
    assert "paused" in await tap(bot, shop, "⏸ Pause")
    await forget_item_statistics(bot)
    await shop.send("/batches")
    await bot.settle()
    assert "resumed" in await tap(bot, shop, "▶ Resume")
    assert await open_items_known(bot) == [True]


async def forget_item_statistics(bot: RunningBot) -> None:
    async with bot.services.db.write() as session:
        await session.execute(text("DELETE FROM pg_statistic WHERE starelid = 'items'::regclass"))
        assert await open_items_known_in(session) == []


async def open_items_known(bot: RunningBot) -> list[bool]:
    """What PostgreSQL's statistics say the values of items.is_open are (empty: it has none)."""
    async with bot.services.db.read() as session:
        return await open_items_known_in(session)


async def open_items_known_in(session: AsyncSession) -> list[bool]:
    found = await session.execute(
        text("SELECT most_common_vals::text FROM pg_stats WHERE tablename = 'items' AND attname = 'is_open'")
    )
    return [values == "{t}" for (values,) in found]


async def test_a_batch_name_is_shown_as_written(bot: RunningBot, checks_first: None) -> None:
    """Names are the requester's text, not markup: the preview and the completion notice (which
    carries the results files) reach them whatever characters the name has."""
    shop = bot.user(SHOP, "Shop")
    name = "Pots & <Pans>"
    caption = CAPTION.replace('name="Pans"', f'name="{name}"').replace("overlap=2", "overlap=1")
    assert f"Preview of batch #1 “{name}”" in await upload(bot, shop, csv_file(pans(2)), "pans.csv", caption)
    await fund(bot, "1")
    await tap(bot, shop, "🚀 Launch")
    await bot.user(101, "Wendy").send("/work")
    await bot.settle()
    tree = (await bot.services.taxonomies.get(1)).tree
    task = await work.next_task(bot.services, 101)
    while task is not None:
        task = (await work.answer(bot.services, 101, task.assignment_id, 0, str(tree.find(SKILLETS).id))).next_task
    await bot.run_job("complete-batches")
    await bot.settle()
    assert shop.texts[-3].startswith(f"✅ Batch #1 “{name}” is complete.")
    assert shop.messages[-2].document["file_name"] == "batch-1-results.csv"


async def test_the_preview_says_when_the_per_worker_cap_makes_quizzes_dearer_than_the_work(bot: RunningBot) -> None:
    shop = bot.user(SHOP, "Shop")
    rows = [{**row, "gold_category": SKILLETS if n <= 3 else ""} for n, row in enumerate(pans(12), 1)]
    small = f'reward=0.02 overlap=3 qualification=2 max_share=0.1 root="{KITCHEN}" name="Small"'
    # 9 regular products × 3 = 27 answers; max_share 0.1 lets a worker give 1, so 27 workers at least,
    # and quizzes for three times as many: 81 × 2 = 162 quiz answers.
    said = await upload(bot, shop, csv_file(rows), "pans.csv", small)
    assert "+ up to 162 quiz answers" in said
    assert "💡 Each worker may give only 1 answer here (max_share)" in said and "leave max_share out" in said
    said = await upload(bot, shop, csv_file(rows), "pans.csv", small.replace(" max_share=0.1", ""))
    assert "Cost" in said and "Each worker may give only" not in said


@pytest.mark.parametrize(
    ("settings", "tip"),
    [
        ("overlap=3", "💡 With overlap=5 min_overlap=3 confidence=0.9 in the caption, a product gets more than 3"),
        ("overlap=2", "💡 With overlap=4 min_overlap=2 confidence=0.9 in the caption"),
        ("overlap=5 min_overlap=3 confidence=0.9", None),
        ("overlap=1", None),
    ],
)
async def test_the_preview_suggests_dynamic_overlap_where_it_is_off(
    bot: RunningBot, settings: str, tip: str | None
) -> None:
    shop = bot.user(SHOP, "Shop")
    said = await upload(bot, shop, csv_file(pans(4)), "pans.csv", f'reward=0.02 {settings} root="{KITCHEN}"')
    assert "Cost" in said
    if tip is None:
        assert "min_overlap=" not in said
    else:
        assert tip in said and "what is not used comes back" in said


async def test_missing_settings_are_asked_with_buttons(bot: RunningBot) -> None:
    shop = bot.user(SHOP, "Shop")
    await upload(bot, shop, csv_file(pans(2)), "pans.csv", caption=f'root="{KITCHEN}" qualification=0')
    assert "How much should one answer pay?" in shop.last.body
    assert "How many workers" in await tap(bot, shop, "$0.05")
    await tap(bot, shop, "3")
    # 1 regular product (p1 is gold) × 3 = 3 answers; gold slots: ceil(3 × 0.1 / 0.9) = 1 check
    # + 10 extra for the crowd of 10 = 11; (3 + 11) × $0.05 = $0.70.
    assert (
        "1 product × 3 answers × $0.05\n"
        "+ up to 11 checks on your 1 gold item × $0.05\n"
        "= $0.70 at most" in shop.last.body
    )
    async with bot.services.db.read() as session:
        batch = await session.get(Batch, 1)
        assert (batch.name, batch.reward_micros, batch.overlap, batch.status) == ("pans", 50_000, 3, "draft")
    assert "discarded" in await tap(bot, shop, "✖ Cancel")
    assert await batch_count(bot) == 0


@pytest.mark.parametrize("kind", ["json", "jsonl"])
async def test_json_and_json_lines_uploads(bot: RunningBot, kind: str) -> None:
    shop = bot.user(SHOP, "Shop")
    rows = pans(3)
    content = json.dumps(rows) if kind == "json" else "\n".join(json.dumps(row) for row in rows)
    said = await upload(bot, shop, content.encode(), f"pans.{kind}")
    assert "Preview" in said and "2 products × 2 answers" in shop.last.body, "3 products, one of them gold"


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [
        ("item_id,title\np1,Poêle\n".encode("latin-1"), "bad.csv", "not UTF-8"),
        (b"item_id,name\np1,Pan\n", "bad.csv", "lacks the required column title"),
        (b"item_id,title\np1,Pan\np1,Pot\n", "bad.csv", "Line 3: item_id 'p1' repeats line 2"),
        (
            b"item_id,title,gold_category\np1,Pan,Nowhere > Land\n",
            "bad.csv",
            "Line 2: gold_category 'Nowhere > Land' is not a category",
        ),
        (b"", "empty.csv", "The file is empty"),
        (b"item_id,title,image_url\np1,Pan,ftp://x/y.jpg\n", "bad.csv", "is not an http(s) address"),
        (b'item_id,title\np1,"=HYPERLINK(""http://evil"")"\n', "bad.csv", "which spreadsheets run as a formula"),
        (b'[{"item_id": "p1", "title": "Pan"},', "bad.json", "The JSON is not valid"),
        (b"a picture", "photo.png", "Send the products as a .csv, .json or .jsonl file"),
    ],
)
async def test_invalid_files_are_rejected_whole(bot: RunningBot, content: bytes, name: str, expected: str) -> None:
    shop = bot.user(SHOP, "Shop")
    await upload(bot, shop, content, name)
    assert expected in shop.last.body
    assert await batch_count(bot) == 0


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [
        (
            b"item_id,title\np1,Pan\np2,Pot\np3,Wok\x00\n",
            "nul.csv",
            "Line 4: title contains a control character (U+0000)",
        ),
        (
            b'[{"item_id": "p1", "title": "Pan"}, {"item_id": "p2", "title": "Pot\\u0000"}]',
            "nul.json",
            "Item 2: title contains a control character (U+0000)",
        ),
        (
            b'{"item_id": "p1", "title": "Pan \\ud83c"}\n',
            "half.jsonl",
            "Line 1: title contains half of a character (U+D83C)",
        ),
    ],
)
async def test_text_a_database_cannot_store_rejects_the_file(
    bot: RunningBot, content: bytes, name: str, expected: str
) -> None:
    """A NUL is stored by SQLite and refused by PostgreSQL: on both, the file is rejected naming the row."""
    shop = bot.user(SHOP, "Shop")
    await upload(bot, shop, content, name)
    assert "The file was rejected: 1 row has problems. Nothing was stored." in shop.last.body
    assert expected in shop.last.body
    assert await batch_count(bot) == 0


async def test_many_bad_rows_are_listed_up_to_twenty(bot: RunningBot) -> None:
    shop = bot.user(SHOP, "Shop")
    rows = "".join(f"p{n},\n" for n in range(30))
    await upload(bot, shop, f"item_id,title\n{rows}".encode(), "bad.csv")
    body = shop.last.body
    assert "30 rows have problems" in body and body.count("title is empty") == 20 and "… and 10 more" in body


async def test_a_very_long_list_of_bad_rows_still_reaches_the_requester(bot: RunningBot) -> None:
    """Twenty rows with every cell wrong make more than Telegram's 4,096 units: the list is cut, not lost."""
    bad = {column: "=" + "x" * 300 for column in ("item_id", "title", "description", "brand", "price")}
    rows = [{**bad, "item_id": f"=p{n}" + "x" * 300, "image_url": "ftp://x/" + "🖼" * 100} for n in range(30)]
    await upload(bot, bot.user(SHOP, "Shop"), csv_file(rows), "bad.csv")
    body = bot.user(SHOP).last.body
    assert body.startswith("The file was rejected: 30 rows have problems") and body.endswith(" more problems")
    assert "Sorry" not in body and await batch_count(bot) == 0


async def test_too_big_file_is_refused_before_download(bot: RunningBot) -> None:
    shop = bot.user(SHOP, "Shop")
    await upload(bot, shop, b"x" * (20 * 1024 * 1024 + 1), "huge.csv")
    assert "at most 20 MB" in shop.last.body
    assert not bot.telegram.calls("getFile")


async def test_only_requesters_load_batches(bot: RunningBot) -> None:
    outsider = bot.user(OUTSIDER, "Mallory")
    await upload(bot, outsider, csv_file(pans()), "pans.csv")
    assert "Only requesters" in outsider.last.body and await batch_count(bot) == 0


async def test_pause_resume_cancel_refund_and_ownership(bot: RunningBot, checks_first: None) -> None:
    shop, other = bot.user(SHOP, "Shop"), bot.user(OTHER_SHOP, "Other")
    await upload(bot, shop, csv_file(pans()), "pans.csv")
    await fund(bot, "1")
    await tap(bot, shop, "🚀 Launch")
    worker = bot.user(101, "Wendy")
    await worker.send("/work")
    await bot.settle()
    tree = (await bot.services.taxonomies.get(1)).tree
    # checks_first: the gold Pan 1 comes first (answered right), then the regular Pan 2.
    task = await work.next_task(bot.services, 101)
    assert task.card.title == "Pan 1"
    task = (await work.answer(bot.services, 101, task.assignment_id, 0, str(tree.find(SKILLETS).id))).next_task
    await work.answer(bot.services, 101, task.assignment_id, 0, str(tree.find(SKILLETS).id))

    # Progress counts regular answers only: 1 of 3 regular products × overlap 2 = 6. Reserved:
    # (6 + 11 gold slots) × $0.02 = $0.34; spent: 2 answers (gold and regular) × $0.02 = $0.04.
    await shop.send("/batches")
    await bot.settle()
    assert "#1 Pans" in shop.last.body and "1/6 answers" in shop.last.body and "Spent $0.04 of $0.34" in shop.last.body
    assert "100% on 1 gold" in shop.last.body
    assert "paused" in await tap(bot, shop, "⏸ Pause")
    await worker.send("/work")
    await bot.settle()
    assert "Pan 3" in worker.last.body, "a task already held is kept while paused"
    newcomer = bot.user(102, "Nina")
    await newcomer.send("/work")
    await bot.settle()
    assert "No tasks right now" in newcomer.last.body, "but nobody gets a new one"

    # Another requester cannot touch it, even with forged buttons.
    await other.press_data("c:1:c", await _any_message(bot, other))
    await bot.settle()
    assert "not yours" in other.last.body

    await shop.send("/batches")
    await bot.settle()
    assert "resumed" in await tap(bot, shop, "▶ Resume")
    await shop.send("/batches")
    await bot.settle()
    assert "$0.30 refunded" in await tap(bot, shop, "⏹ Cancel")  # $0.34 reserved − $0.04 spent
    await worker.press("Cookware & Bakeware")
    await bot.settle()
    assert "no longer available" in worker.last.body
    async with bot.services.db.read() as session:
        funds = await ledger.requester_funds(session, SHOP)
        assert (funds.available, funds.reserved) == (1_000_000 - 2 * 20_000, 0)
        assert await books.inconsistencies(session) == []


async def _any_message(bot: RunningBot, user: FakeUser) -> int:
    await user.send("/help")
    await bot.settle()
    return user.last.message_id


async def test_results_command_for_own_batches_only(bot: RunningBot) -> None:
    shop, other = bot.user(SHOP, "Shop"), bot.user(OTHER_SHOP, "Other")
    await upload(bot, shop, csv_file(pans(2)), "pans.csv")
    await fund(bot, "1")
    await tap(bot, shop, "🚀 Launch")
    await other.send("/results 1")
    await bot.settle()
    assert "not yours" in other.last.body
    await shop.send("/results 1")
    await bot.settle()
    assert shop.last.document["file_name"] == "batch-1-answers.csv"
    await shop.send("/batches")
    await bot.settle()
    await tap(bot, shop, "📥 JSONL")
    assert shop.messages[-2].document["file_name"] == "batch-1-results.jsonl"
    assert json.loads(shop.messages[-2].document_bytes.decode().splitlines()[0])["item_id"] == "p1"
    assert "no answers yet" in shop.last.body


async def test_daily_digest_reports_running_batches(bot: RunningBot) -> None:
    shop = bot.user(SHOP, "Shop")
    await upload(bot, shop, csv_file(pans(2)), "pans.csv")
    await fund(bot, "1")
    await tap(bot, shop, "🚀 Launch")
    await bot.run_job("daily-digest")
    await bot.settle()
    # pans(2): one regular product (p1 is gold) × overlap 2.
    assert "Daily digest" in shop.last.body and "#1 Pans" in shop.last.body and "0/2 answers" in shop.last.body


async def test_rules_only_to_those_who_may_see_the_batch(bot: RunningBot) -> None:
    """ℹ Rules (i:N) shows a batch's name and instructions to its requester, the admins and the workers
    it was shown to; a forged button from anyone else learns nothing, not even whether the batch exists."""
    secret = "Secret client: pick the house brand"
    await load_batch(bot.services, products(2), overlap=1, requester=SHOP, name="Acme launch", instructions=secret)
    shown = bot.user(101, "Wendy")
    await shown.send("/work")
    await bot.settle()
    assert secret in await tap(bot, shown, "ℹ Rules")
    for user_id in (SHOP, ADMIN):
        user = bot.user(user_id)
        await user.press_data("i:1", await _any_message(bot, user))
        await bot.settle()
        assert secret in user.last.body and "Acme launch" in user.last.body
    for user_id, batch in ((OUTSIDER, "1"), (OTHER_SHOP, "1"), (102, "1"), (OUTSIDER, "99")):
        user = bot.user(user_id)
        await user.press_data(f"i:{batch}", await _any_message(bot, user))
        await bot.settle()
        assert user.last.body == "This task is no longer available."
        assert not any("Acme" in text or "Secret" in text for text in user.texts)
