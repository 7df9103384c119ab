"""A requester's 📈 Chart through the bot: a PNG of the batch's answers over time, the confidence on its
finished products and each worker's accuracy on gold, for the batch's owner only."""

import io
import threading

import pytest
from PIL import Image

from bot import work
from handlers import chart
from tests.e2e.conftest import RunningBot, StartBot
from tests.e2e.test_requester import (
    ADMIN,
    OTHER_SHOP,
    SHOP,
    csv_file,
    fund,
    noting_thread,
    pans,
    tap,
    upload,
)
from tests.factories import SKILLETS, WOKS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
async def bot(start_bot: StartBot) -> RunningBot:
    return await start_bot(admin_ids=str(ADMIN), requester_ids=f"{SHOP},{OTHER_SHOP}")


async def batches(bot: RunningBot, requester: int = SHOP) -> None:
    await bot.user(requester).send("/batches")
    await bot.settle()


async def test_a_requester_gets_a_chart_of_their_batch(
    bot: RunningBot, checks_first: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: dict[str, set[str]] = {}
    monkeypatch.setattr(chart, "render_chart", noting_thread(threads, "render", chart.render_chart))
    shop = bot.user(SHOP, "Shop")
    await upload(bot, shop, csv_file(pans()), "pans.csv")
    await fund(bot, "1")
    await tap(bot, shop, "🚀 Launch")
    await batches(bot)
    assert await tap(bot, shop, "📈 Chart") == "Batch #1 has no answers yet.", "nothing to draw: a plain line"

    # Two workers: the gold Pan 1 first (a check), then the three regular pans.
    tree = (await bot.services.taxonomies.get(1)).tree
    for worker_id, gold_answer in ((101, SKILLETS), (102, WOKS)):
        await bot.user(worker_id, f"W{worker_id}").send("/work")
        await bot.settle()
        task = await work.next_task(bot.services, worker_id)
        for category in (gold_answer, SKILLETS, SKILLETS, WOKS):
            task = (
                await work.answer(bot.services, worker_id, task.assignment_id, 0, str(tree.find(category).id))
            ).next_task
    await batches(bot)
    await tap(bot, shop, "📈 Chart")

    sent = shop.last
    assert sent.document is not None and sent.document["file_name"] == "batch-1-chart.png"
    assert sent.body.startswith("📈 Batch #1: answers over time")
    png = sent.document_bytes
    assert png is not None and png.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(png)) as image:
        image.load()  # decodes every pixel: a truncated or broken file fails here
        assert (image.format, image.size) == ("PNG", (900, 1500)), "portrait, sized for a phone"
        assert len(image.getcolors(maxcolors=1 << 16) or ()) > 10, "something is drawn on it"
    assert threads.keys() == {"render"} and threading.main_thread().name not in threads["render"]


async def test_a_chart_is_for_the_batch_owner_only(bot: RunningBot) -> None:
    """A forged Chart press for someone else's batch, or one that does not exist, gets the refusal every batch
    button gives, and no file."""
    shop, other = bot.user(SHOP, "Shop"), bot.user(OTHER_SHOP, "Other")
    await upload(bot, shop, csv_file(pans()), "pans.csv")
    await fund(bot, "1")
    await tap(bot, shop, "🚀 Launch")
    await batches(bot, OTHER_SHOP)
    for forged in ("c:1:g", "c:99:g"):
        await other.press_data(forged, other.last.message_id)
        await bot.settle()
        assert "not yours" in other.last.body and other.last.document is None
    await other.press_data("c:1:r", other.last.message_id)
    await bot.settle()
    refusal = other.last.body
    await other.press_data("c:1:g", other.last.message_id)
    await bot.settle()
    assert other.last.body == refusal, "the same words as the results button's refusal"
