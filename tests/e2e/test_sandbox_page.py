"""The sandbox's web page in a real browser: a person runs a batch through it, from upload to results.

Headless Chromium from the system's packages (`apt-get install chromium chromium-driver`), driven by
Playwright; the page, the local Bot API server and the real bot all run on the test's event loop.
"""

import asyncio
import csv
import io
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, Locator, Page, async_playwright, expect

from handlers import notify
from sandbox.cast import CAST, Person, Role
from sandbox.live import TOKEN, Sandbox
from storage.db import Database
from tests.conftest import make_settings
from tests.e2e.loopback import free_port
from tests.e2e.processes import spawn
from tests.e2e.test_requester import csv_file

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
COOKWARE = "Home & Garden > Kitchen & Dining > Cookware & Bakeware > Cookware"
# No quiz and no checks: the product the worker labels is one of the results.
CAPTION = f'reward=0.05 overlap=1 qualification=0 gold_rate=0 root="{COOKWARE}" name="Pots"'
REQUESTER, WORKER, ADMIN = (
    next(p for p in CAST if p.role == role) for role in (Role.REQUESTER, Role.WORKER, Role.ADMIN)
)
PRODUCTS = [
    {"item_id": "pot-1", "title": "Enamelled Cast Iron Pot 5 qt", "brand": "Acme"},
    {"item_id": "pot-2", "title": "Cast Iron Casserole 3 qt", "brand": "Acme"},
    {"item_id": "pot-3", "title": "Dutch Oven 7 qt", "brand": "Acme"},
]


@pytest.fixture
async def sandbox(database_url: str, db: Database) -> AsyncIterator[Sandbox]:
    # A payout arises from the first answer: the threshold is one reward, and nothing is held.
    running = await Sandbox.start(make_settings(database_url, payout_threshold="0.05", hold_hours=0))
    # The test runs the scheduled jobs it needs itself; owed messages still go out on the tick.
    for job in running.application.job_queue.jobs():
        job.enabled = job.name == notify.DELIVERY_JOB
    yield running
    await running.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if CHROMIUM is None:
        pytest.skip("no Chromium found (install the Debian packages chromium and chromium-driver)")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        await chromium.close()


@pytest.fixture
async def page(browser: Browser, sandbox: Sandbox) -> Page:
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await page.goto(sandbox.url)
    return page


async def act(page: Page, control: Locator) -> None:
    """Click a control that posts a form, and wait for the chat the server shows once the bot answered."""
    async with page.expect_event("load"):
        await control.click()


async def be(page: Page, person: Person) -> None:
    await act(page, page.locator("nav.people a", has_text=person.name))
    await expect(page.locator(".chat-title")).to_contain_text(f"you are {person.name}")


async def say(page: Page, text: str) -> None:
    await page.get_by_label("Message").fill(text)
    await act(page, page.get_by_role("button", name="Send", exact=True))


async def press(page: Page, label: str) -> None:
    """Press an inline button of the newest message that has it."""
    await act(page, page.locator("#log").get_by_role("button", name=label, exact=True).last)


def newest(page: Page) -> Locator:
    return page.locator("#log .row.bot").last


async def test_a_batch_from_upload_to_payout_and_results(page: Page, sandbox: Sandbox, tmp_path: Path) -> None:
    # The admin funds the requester.
    await be(page, ADMIN)
    await say(page, f"/fund {REQUESTER.user_id} 5")
    await expect(newest(page)).to_contain_text("$5.00")

    # The requester uploads the file through the page, sees the preview and launches.
    await be(page, REQUESTER)
    batch = tmp_path / "pots.csv"
    batch.write_bytes(csv_file(PRODUCTS))
    await page.get_by_label("Product file").set_input_files(batch)
    await page.get_by_label("Caption").fill(CAPTION)
    await act(page, page.get_by_role("button", name="Send file"))
    await expect(page.locator("#log .row.mine").last).to_contain_text("pots.csv")
    await expect(page.locator("#log")).to_contain_text("Preview")
    await expect(page.locator("#log")).to_contain_text("Enamelled Cast Iron Pot 5 qt")
    await press(page, "🚀 Launch")
    await expect(newest(page)).to_contain_text("is live")

    # A worker labels a product with the category buttons and gets the next one.
    await be(page, WORKER)
    await say(page, "/work")
    card = newest(page)
    await expect(card.get_by_role("button", name="Dutch Ovens")).to_be_visible()
    first = await card.inner_text()
    await press(page, "Dutch Ovens")
    await expect(newest(page).get_by_role("button", name="Dutch Ovens")).to_be_visible()
    assert await newest(page).inner_text() != first, "the next product replaced the answered one"
    await expect(page.locator("#log")).to_contain_text("+$0.05")

    # The credit is released; the worker asks for it; the admin approves.
    (release,) = sandbox.application.job_queue.get_jobs_by_name("release-holds")
    await release.run(sandbox.application)
    await say(page, "/payout_method")
    await press(page, "PayPal e-mail")
    await say(page, "wendy@example.com")
    await expect(newest(page)).to_contain_text("wendy@example.com")
    await say(page, "/payout")
    await expect(newest(page)).to_contain_text("requested")
    await be(page, ADMIN)
    await expect(newest(page)).to_contain_text("Payout #1")
    await press(page, "✅ Approve")
    await expect(page.locator("#log")).to_contain_text("Approved by")
    await be(page, WORKER)
    await expect(page.locator("#log")).to_contain_text("was approved")

    # The requester downloads the labels.
    await be(page, REQUESTER)
    await say(page, "/results 1")
    link = page.locator("#log a.document", has_text="batch-1-results.csv")
    async with page.expect_download() as started:
        await link.click()
    download = await started.value
    rows = list(csv.DictReader(io.StringIO(Path(await download.path()).read_text(encoding="utf-8"))))
    assert download.suggested_filename == "batch-1-results.csv"
    assert list(rows[0])[:4] == ["item_id", "title", "label_id", "label_path"]
    assert any(row["label_path"] == f"{COOKWARE} > Dutch Ovens" for row in rows), rows


async def test_the_command_serves_the_page_and_the_bot_api_and_logs_each_call(tmp_path: Path) -> None:
    port = free_port()
    process = await spawn(
        "sandbox",
        "--port",
        str(port),
        env={**os.environ, "LOG_LEVEL": "INFO"},
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        banner = ""
        while "Ctrl-C stops the sandbox" not in banner:
            line = await asyncio.wait_for(process.stdout.readline(), 120)
            assert line, f"the sandbox ended before it started:\n{banner}"
            banner += line.decode()
        api = f"http://127.0.0.1:{port}/bot{TOKEN}/"
        assert f"web page:          http://127.0.0.1:{port}/" in banner and api in banner, banner
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{api}getMe") as answer:  # any Bot API client, not only the bot
                assert (await answer.json())["result"]["username"] == "crowdshelf_sandbox_bot"
            async with session.get(f"http://127.0.0.1:{port}/?as=1") as answer:
                assert answer.status == 200 and "you are Ada, admin" in await answer.text()
    finally:
        process.terminate()
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    log = stderr.decode()
    assert process.returncode == 0, log[-3000:]
    assert "sandbox.live: getMe -> ok" in log and "sendMessage (chat 1) -> ok" in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
