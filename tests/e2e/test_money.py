"""Money through the bot: payout methods, balances, scheduled payouts, admin decisions, admin commands."""

import csv
import io

import pytest
from sqlalchemy import select

from bot import work
from bot.money import ledger
from sandbox.telegram_server import FakeUser
from storage import ledger as books
from storage.models import AuditEntry, Payout, User
from tests.e2e.conftest import RunningBot, StartBot
from tests.factories import SKILLETS, load_batch, products

WORKER, ADMIN_A, ADMIN_B, OUTSIDER = 101, 900, 901, 555


@pytest.fixture
async def bot(start_bot: StartBot) -> RunningBot:
    return await start_bot(admin_ids=f"{ADMIN_A},{ADMIN_B}", payout_threshold="0.04", hold_hours=0)


async def say(bot: RunningBot, user: FakeUser, text: str) -> str:
    await user.send(text)
    await bot.settle()
    return user.last.body


async def tap(bot: RunningBot, user: FakeUser, label: str, message_id: int | None = None) -> str:
    await user.press(label, message_id=message_id)
    await bot.settle()
    return user.last.body


async def earn(bot: RunningBot, answers: int, batch_name: str = "Kitchen") -> None:
    """The worker answers `answers` products at $0.02 each (through the domain: the e2e path is tested elsewhere)."""
    await load_batch(bot.services, products(answers), overlap=1, name=batch_name)
    async with bot.services.db.write() as session:
        session.add(User(id=WORKER, first_name="Wendy", username="wendy"))
    leaf = (await bot.services.taxonomies.get(1)).tree.find(SKILLETS).id
    task = await work.next_task(bot.services, WORKER)
    while task is not None:
        task = (await work.answer(bot.services, WORKER, task.assignment_id, 0, str(leaf))).next_task


async def set_paypal(bot: RunningBot, worker: FakeUser, address: str = "wendy@example.com") -> None:
    await say(bot, worker, "/payout_method")
    await tap(bot, worker, "PayPal e-mail")
    await say(bot, worker, address)


async def test_payout_method_validated_and_change_confirmed(bot: RunningBot) -> None:
    wendy = bot.user(WORKER, "Wendy")
    assert "Choose a payout method" in await say(bot, wendy, "/payout_method")
    assert "PayPal" in await tap(bot, wendy, "PayPal e-mail")
    assert "not an e-mail address" in await say(bot, wendy, "wendy@")
    assert "saved: PayPal e-mail: wendy&co@example.com" in await say(bot, wendy, "wendy&co@example.com")
    assert "Your payout method: PayPal e-mail: wendy&co@example.com" in await say(bot, wendy, "/payout_method")
    await tap(bot, wendy, "Bank account (IBAN)")
    assert "check digits do not match" in await say(bot, wendy, "DE89 3704 0044 0532 0130 01")
    body = await say(bot, wendy, "de89370400440532013000")
    assert (
        "changed from PayPal e-mail: wendy&co@example.com to Bank account (IBAN): DE89 3704 0044 0532 0130 00" in body
    )
    # The question was answered: typing again searches instead of changing the method.
    assert "/work" in await say(bot, wendy, "hello")


async def test_balance_hold_release_and_payout_approved(bot: RunningBot) -> None:
    await earn(bot, 3)
    wendy, alice, bob = bot.user(WORKER, "Wendy"), bot.user(ADMIN_A, "Alice"), bot.user(ADMIN_B, "Bob")
    body = await say(bot, wendy, "/balance")
    assert (
        "Pending: $0.06" in body and "Available: $0.00" in body and "$0.04 more to the $0.04 payout threshold" in body
    )
    assert "$0.04 to go" in await say(bot, wendy, "/payout")

    await bot.run_job("release-holds")  # HOLD_HOURS=0: everything is due
    body = await say(bot, wendy, "/balance")
    assert "Pending: $0.00" in body and "Available: $0.06" in body and "▓▓▓▓▓▓▓▓▓▓" in body
    assert "/payout_method" in await say(bot, wendy, "/payout")
    await set_paypal(bot, wendy)
    assert "Payout of $0.06 to PayPal e-mail: wendy@example.com requested (#1)" in await say(bot, wendy, "/payout")

    for admin in (alice, bob):
        assert (
            "Payout #1" in admin.last.body
            and "Wendy (id 101)" in admin.last.body
            and "no gold answers yet · answers: 3" in admin.last.body
        )
        assert admin.last.buttons == [["✅ Approve", "❌ Reject"]]
    await tap(bot, alice, "✅ Approve")
    for admin in (alice, bob):
        notice = admin.message(admin.messages[0].message_id)
        assert "Approved by" in notice.body and notice.buttons == []
    assert "was approved" in wendy.last.body

    # Alice records the bank's transaction id by replying to her copy.
    notice_id = alice.messages[0].message_id
    await alice.send("TX-42", reply_to_message_id=notice_id)
    await bot.settle()
    assert "Transaction id saved" in alice.last.body
    async with bot.services.db.read() as session:
        payout = await session.get(Payout, 1)
        assert (payout.status, payout.reference, payout.decided_by) == ("approved", "TX-42", ADMIN_A)
        assert await ledger.worker_balance(session, WORKER) == ledger.WorkerBalance(0, 0, 0, 60_000)
        assert await books.inconsistencies(session) == []
    body = await say(bot, wendy, "/balance")
    assert "Paid: $0.06" in body and "In flight: $0.00" in body


async def test_a_worker_withdraws_part_of_the_available_balance(bot: RunningBot) -> None:
    await earn(bot, 4)
    await bot.run_job("release-holds")
    wendy = bot.user(WORKER, "Wendy")
    await set_paypal(bot, wendy)
    assert "Send /payout for your whole available balance" in await say(bot, wendy, "/payout lots")
    assert "Payouts move whole cents: ask for $0.05" in await say(bot, wendy, "/payout 0.055")
    assert "Your available balance is $0.08; that is less than $0.09" in await say(bot, wendy, "/payout 0.09")
    assert "Payouts start at $0.04: ask for at least that" in await say(bot, wendy, "/payout 0.03")
    assert "Payout of $0.05 to PayPal e-mail: wendy@example.com requested" in await say(bot, wendy, "/payout $0.05")
    async with bot.services.db.read() as session:
        assert await ledger.worker_balance(session, WORKER) == ledger.WorkerBalance(0, 30_000, 50_000, 0)
        assert await books.inconsistencies(session) == []
    assert "$0.01 to go" in await say(bot, wendy, "/payout")


async def test_payout_rejected_with_reason_returns_money(bot: RunningBot) -> None:
    await earn(bot, 2)
    await bot.run_job("release-holds")
    wendy, alice, bob = bot.user(WORKER, "Wendy"), bot.user(ADMIN_A, "Alice"), bot.user(ADMIN_B, "Bob")
    await set_paypal(bot, wendy)
    await say(bot, wendy, "/payout")
    assert "reason" in await tap(bot, bob, "❌ Reject")
    await say(bot, bob, "PayPal account <unverified> & closed")  # the admin's words, not markup
    assert "rejected: PayPal account <unverified> & closed" in wendy.last.body
    assert "back in your available balance" in wendy.last.body
    assert "Rejected by" in alice.messages[0].body and alice.messages[0].buttons == []
    # A late approve on the other copy changes nothing.
    await alice.press_data("a:1", alice.messages[0].message_id)
    await bot.settle()
    assert "already rejected" in alice.last.body
    async with bot.services.db.read() as session:
        assert await ledger.worker_balance(session, WORKER) == ledger.WorkerBalance(0, 40_000, 0, 0)
        assert await books.inconsistencies(session) == []


async def test_scheduled_sweep_requests_payouts_and_reminds_once(bot: RunningBot) -> None:
    await earn(bot, 2)
    await bot.run_job("release-holds")
    wendy, alice = bot.user(WORKER, "Wendy"), bot.user(ADMIN_A, "Alice")
    await bot.run_job("payout-sweep")
    await bot.settle()
    assert "don't know where to send the money" in wendy.last.body
    reminders = len(wendy.messages)
    await bot.run_job("payout-sweep")
    await bot.settle()
    assert len(wendy.messages) == reminders, "the reminder is sent once"
    await set_paypal(bot, wendy)
    await bot.run_job("payout-sweep")
    await bot.settle()
    assert "requested (#1)" in wendy.last.body
    assert "Payout #1" in alice.last.body


async def test_earnings_and_statement(bot: RunningBot) -> None:
    await earn(bot, 3)
    wendy = bot.user(WORKER, "Wendy")
    body = await say(bot, wendy, "/earnings")
    assert "Today: $0.06" in body and "Lifetime: $0.06" in body
    year = wendy.last.buttons[0][0].split()[1]
    await tap(bot, wendy, f"📄 {year} statement")
    statement = wendy.last
    assert statement.document["file_name"] == f"crowdshelf-statement-{year}.csv"
    lines = statement.document_bytes.decode().splitlines()
    assert lines[0] == "date,kind,batch,tasks,amount,currency,method,status"
    assert lines[1].endswith(",earnings,Kitchen,3,0.06,USD,,")


async def test_statement_keeps_a_formula_like_batch_name_as_text(bot: RunningBot) -> None:
    """The batch name is the requester's choice: in the worker's statement it must not run as a formula."""
    await earn(bot, 1, batch_name="=HYPERLINK(http://evil,x)")
    wendy = bot.user(WORKER, "Wendy")
    await say(bot, wendy, "/earnings")
    await tap(bot, wendy, wendy.last.buttons[0][0])
    rows = list(csv.reader(io.StringIO(wendy.last.document_bytes.decode())))
    assert rows[1][1:4] == ["earnings", "'=HYPERLINK(http://evil,x)", "1"]


async def test_admin_commands_and_audit(bot: RunningBot) -> None:
    alice, shop, outsider = bot.user(ADMIN_A, "Alice"), bot.user(42, "Shop"), bot.user(OUTSIDER, "Mallory")
    await say(bot, shop, "/start")
    assert "not a requester" in await say(bot, alice, "/fund 42 100")
    assert "is now a requester" in await say(bot, alice, "/grant 42 requester")
    assert "Credited $100.00" in await say(bot, alice, "/fund 42 $100")
    assert "Usage: /fund" in await say(bot, alice, "/fund 42")
    assert "not a non-negative amount" in await say(bot, alice, "/fund 42 -5")
    assert "only admins" in await say(bot, outsider, "/fund 555 1000000")
    assert "Your stats" in await say(bot, outsider, "/stats") and "Last 24 hours" not in outsider.texts[-2]

    await earn(bot, 1)
    wendy = bot.user(WORKER, "Wendy")
    # The reason is the admin's own words: markup in it is shown as typed, not taken as formatting.
    assert "suspended" in await say(bot, alice, "/suspend @wendy copying <b>answers</b> & more")
    assert "suspended: copying <b>answers</b> & more" in wendy.last.body
    assert "suspended" in await say(bot, wendy, "/work")
    await say(bot, alice, f"/unsuspend {WORKER}")
    assert "active again" in wendy.last.body

    await say(bot, alice, "/stats")
    stats = alice.texts[-2]
    assert "1 active worker, 1 answer" in stats and "requester_available: $100.00" in stats
    audit = await say(bot, alice, "/audit")
    for action in ("grant", "fund", "suspend", "unsuspend", "denied"):
        assert f" {action} " in audit
    assert "revoked" not in audit and "is no longer a requester" in await say(bot, alice, "/revoke 42 requester")
    async with bot.services.db.read() as session:
        denied = list(await session.scalars(select(AuditEntry).where(AuditEntry.action == "denied")))
        assert {entry.actor_id for entry in denied} == {OUTSIDER}
        assert (await ledger.worker_balance(session, OUTSIDER)).available == 0


async def test_a_refusal_is_said_as_typed_and_cut_to_fit_one_message(bot: RunningBot) -> None:
    """A refusal quotes what was typed as it was typed, and a long one is cut to Telegram's 4,096
    characters rather than refused by Telegram and replaced by an apology."""
    alice = bot.user(ADMIN_A, "Alice")
    assert await say(bot, alice, "/fund 42 <b>5</b>&") == "'<b>5</b>&' is not an amount of money"
    said = await say(bot, alice, "/fund 42 " + "x" * 4080)  # quoted, the refusal is 4,108 characters
    assert said.startswith("'xxx") and said.endswith("…") and len(said) == 4096


@pytest.mark.parametrize("amount", ["1e30", "99999999999999", "1000000000.01"])
async def test_huge_amounts_are_refused_not_overflowed(bot: RunningBot, amount: str) -> None:
    """More than the database can add up (a billion units is the cap) is refused in plain words, and nothing is stored."""
    alice, shop, wendy = bot.user(ADMIN_A, "Alice"), bot.user(42, "Shop"), bot.user(WORKER, "Wendy")
    await say(bot, shop, "/start")
    await say(bot, alice, "/grant 42 requester")
    said = await say(bot, alice, f"/fund 42 {amount}")
    assert said == f"'{amount}' is more than 1,000,000,000, the largest amount accepted"
    assert "Usage: /target" in await say(bot, wendy, f"/target {amount}")
    assert "/payout 15" in await say(bot, wendy, f"/payout {amount}")
    async with bot.services.db.read() as session:
        assert (await ledger.requester_funds(session, 42)).available == 0
        assert (await session.get(User, WORKER)).daily_target_micros is None
        assert await session.scalar(select(Payout.id)) is None
    assert "Credited $1,000,000,000.00" in await say(bot, alice, "/fund 42 1000000000"), "the cap itself is allowed"


async def test_fund_replayed_update_credits_once(bot: RunningBot) -> None:
    alice = bot.user(ADMIN_A, "Alice")
    await say(bot, bot.user(42, "Shop"), "/start")
    await say(bot, alice, "/grant 42 requester")
    message = await alice.send("/fund 42 25")
    await alice.resend(message)
    await bot.settle()
    async with bot.services.db.read() as session:
        totals = await books.totals_by_kind(session)
    assert totals[ledger.REQUESTER_AVAILABLE] == 25_000_000


async def test_paypal_mass_payout_csv(bot: RunningBot) -> None:
    await earn(bot, 2)
    await bot.run_job("release-holds")
    wendy, alice = bot.user(WORKER, "Wendy"), bot.user(ADMIN_A, "Alice")
    await set_paypal(bot, wendy)
    await say(bot, wendy, "/payout")
    queue = await say(bot, alice, "/payouts")
    assert "Payout #1" in queue
    await tap(bot, alice, "✅ Approve")
    await say(bot, alice, "/payouts_csv")
    assert alice.last.document_bytes.decode() == "wendy@example.com,0.04,USD,crowdshelf-1,crowdshelf earnings\n"


async def test_paypal_file_keeps_a_formula_like_address_as_text(bot: RunningBot) -> None:
    """An e-mail address may start with "=": in the admins' PayPal file it stays text."""
    await earn(bot, 2)
    await bot.run_job("release-holds")
    wendy, alice = bot.user(WORKER, "Wendy"), bot.user(ADMIN_A, "Alice")
    await set_paypal(bot, wendy, "=1+1@example.com")
    await say(bot, wendy, "/payout")
    await say(bot, alice, "/payouts")
    await tap(bot, alice, "✅ Approve")
    await say(bot, alice, "/payouts_csv")
    assert alice.last.document_bytes.decode() == "'=1+1@example.com,0.04,USD,crowdshelf-1,crowdshelf earnings\n"
