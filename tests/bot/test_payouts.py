"""Payouts, credits and the money movements around them, on every configured database.

Covers concurrent requests and decisions (also from two bot processes sharing one database),
atomicity of every money operation under an injected failure, the payout rules, payout method
validation, the review hold on credits and the scheduled payout sweep.
"""

import asyncio
import csv
import hashlib
import inspect
import io
import itertools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import jobs, work
from bot.batches import lifecycle as batches
from bot.errors import DomainError, InvalidInput, NotAllowed
from bot.money import books as invariants
from bot.money import credits, ledger, payouts
from bot.money.amounts import MICROS
from bot.money.ledger import NotEnoughFunds, WorkerBalance
from bot.money.payout_methods import AddressRefusal, Method, normalise
from bot.money.payouts import AlreadyDecided, PayoutView
from bot.reasons import Reason, dumps
from bot.wiring.services import Services, build_services
from storage import ledger as books
from storage.clock import utcnow
from storage.db import Database, connect
from storage.models import Assignment, Base, Batch, Item, LedgerTransaction, Payout, PayoutMethod, User
from storage.states import CreditState, PayoutStatus
from tests import words
from tests.conftest import make_settings
from tests.factories import REQUESTER, SKILLETS, load_batch, products

CENT = MICROS // 100
ADMIN = 4242
OTHER_ADMIN = 4343
WORKER = 7
_keys = itertools.count(1)


# -- helpers ------------------------------------------------------------------------------------


async def add_worker(
    session: AsyncSession,
    worker_id: int,
    method: tuple[str, str] | None = ("paypal", "worker@example.com"),
    **fields: Any,
) -> None:
    session.add(User(id=worker_id, first_name=f"Worker {worker_id}", **fields))
    await session.flush()
    if method is not None:
        await payouts.set_method(session, worker_id, *method, utcnow())
        await session.flush()


async def make_available(session: AsyncSession, worker_id: int, amount: int) -> None:
    """Give a worker `amount` available, the way real money gets there: fund, reserve, credit, release."""
    n = 1_000_000 + next(_keys)
    await ledger.fund_requester(session, f"test-fund:{n}", REQUESTER, amount)
    await ledger.reserve_for_batch(session, n, REQUESTER, amount, "USD")
    await ledger.credit_answer(session, n, REQUESTER, worker_id, amount)
    await ledger.release_credit(session, n, worker_id, amount)


async def balance_of(db: Database, worker_id: int) -> WorkerBalance:
    async with db.read() as session:
        return await ledger.worker_balance(session, worker_id)


async def problems(db: Database) -> list[str]:
    async with db.read() as session:
        return await books.inconsistencies(session)


async def everything(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the (large, read-only) taxonomy nodes."""
    async with db.read() as session:
        return {
            table.name: sorted((tuple(row) for row in await session.execute(select(table))), key=repr)
            for table in Base.metadata.sorted_tables
            if table.name != "taxonomy_nodes"
        }


async def keys_like(db: Database, pattern: str) -> list[str]:
    async with db.read() as session:
        return sorted(await session.scalars(select(LedgerTransaction.key).where(LedgerTransaction.key.like(pattern))))


class Injected(RuntimeError):
    """The failure a test injects in the middle of a money operation."""


def fail_after(monkeypatch: pytest.MonkeyPatch, owner: object, name: str, call: int) -> None:
    """Let the `call`-th call of owner.name (a coroutine function or a plain one) do its work, then raise,
    as a crash right after it would."""
    original: Callable[..., Any] = getattr(owner, name)
    calls = 0

    def after(result: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == call:
            raise Injected(f"{name} call {call}")
        return result

    async def failing_coroutine(*args: Any, **kwargs: Any) -> Any:
        return after(await original(*args, **kwargs))

    def failing(*args: Any, **kwargs: Any) -> Any:
        return after(original(*args, **kwargs))

    monkeypatch.setattr(owner, name, failing_coroutine if inspect.iscoroutinefunction(original) else failing)


def plain(message: str) -> bool:
    """A refusal a worker can read: one line, no database or Python internals."""
    lowered = message.lower()
    return "\n" not in message and not any(
        word in lowered for word in ("select", "sqlalchemy", "traceback", "overdraft")
    )


# -- concurrency -------------------------------------------------------------------------------


@pytest.mark.parametrize("processes", [1, 2])
async def test_concurrent_requests_never_spend_twice(services: Services, database_url: str, processes: int) -> None:
    """50 simultaneous $10 requests against $100: exactly 10 succeed, 40 get a plain refusal, nothing overdraws."""
    async with services.db.write() as session:
        await add_worker(session, WORKER)
        await make_available(session, WORKER, 100 * MICROS)
    extra = [connect(database_url) for _ in range(processes - 1)]
    databases = [services.db, *extra]

    async def one(n: int) -> PayoutView:
        async with databases[n % len(databases)].write() as session:
            return await payouts.request(session, WORKER, 10 * MICROS, "USD", 10 * MICROS)

    try:
        results = await asyncio.gather(*(one(n) for n in range(50)), return_exceptions=True)
    finally:
        for database in extra:
            await database.dispose()
    granted = [result for result in results if isinstance(result, PayoutView)]
    refused = [result for result in results if not isinstance(result, PayoutView)]
    assert len(granted) == 10, refused[:3]
    assert len({view.id for view in granted}) == 10
    assert len(refused) == 40
    assert all(isinstance(error, NotEnoughFunds) for error in refused), {repr(error) for error in refused}
    said = {words.refusal(error) for error in refused}
    assert all(plain(text) and "$10.00" in text for text in said), said
    assert await balance_of(services.db, WORKER) == WorkerBalance(
        pending=0, available=0, in_flight=100 * MICROS, paid=0
    )
    async with services.db.read() as session:
        rows = (await session.execute(select(func.count(), func.sum(Payout.amount_micros)).select_from(Payout))).one()
    assert tuple(rows) == (10, 100 * MICROS)
    assert len(await keys_like(services.db, "payout:%:request")) == 10
    assert await problems(services.db) == []


@pytest.mark.parametrize("processes", [1, 2])
async def test_concurrent_decisions_exactly_one_wins(services: Services, database_url: str, processes: int) -> None:
    """Two admins approving and rejecting the same payout at once: one wins, the other gets AlreadyDecided."""
    async with services.db.write() as session:
        await add_worker(session, WORKER)
        await make_available(session, WORKER, 80 * MICROS)
    ids = []
    for _ in range(8):
        async with services.db.write() as session:
            ids.append((await payouts.request(session, WORKER, 10 * MICROS, "USD", 10 * MICROS)).id)
    extra = [connect(database_url) for _ in range(processes - 1)]
    databases = [services.db, *extra]

    async def decide(database: Database, payout_id: int, approve: bool) -> PayoutView:
        async with database.write() as session:
            return await payouts.decide(
                session, payout_id, ADMIN if approve else OTHER_ADMIN, approve, services.clock.now(), "race"
            )

    calls = []
    for n, payout_id in enumerate(ids):
        pair = [decide(databases[0], payout_id, True), decide(databases[-1], payout_id, False)]
        calls += pair if n % 2 else pair[::-1]  # either admin gets to go first
    try:
        results = await asyncio.gather(*calls, return_exceptions=True)
    finally:
        for database in extra:
            await database.dispose()
    winners = {result.id: result.status for result in results if isinstance(result, PayoutView)}
    losers = [result for result in results if not isinstance(result, PayoutView)]
    assert sorted(winners) == sorted(ids)
    assert len(losers) == len(ids) and all(isinstance(error, AlreadyDecided) for error in losers), losers
    async with services.db.read() as session:
        stored = dict((await session.execute(select(Payout.id, Payout.status))).all())
    assert stored == winners
    for payout_id, status in winners.items():
        verb = "approve" if status == PayoutStatus.APPROVED else "reject"
        assert await keys_like(services.db, f"payout:{payout_id}:%") == sorted(
            [f"payout:{payout_id}:request", f"payout:{payout_id}:{verb}"]
        )
    approved = sum(status == PayoutStatus.APPROVED for status in winners.values())
    expected = WorkerBalance(
        pending=0, available=(8 - approved) * 10 * MICROS, in_flight=0, paid=approved * 10 * MICROS
    )
    assert await balance_of(services.db, WORKER) == expected
    assert await problems(services.db) == []


# -- no partial transactions ----------------------------------------------------------------------


async def test_failed_funding_leaves_nothing(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash once a funding posting's legs moved leaves no transaction, entry or balance change."""
    before = await everything(db)
    fail_after(monkeypatch, books, "_balances_of", 1)
    with pytest.raises(Injected):
        async with db.write() as session:
            await ledger.fund_requester(session, "fund:once", REQUESTER, 5 * MICROS)
    assert await everything(db) == before
    monkeypatch.undo()
    async with db.write() as session:  # the key was not used up by the failed attempt
        assert await ledger.fund_requester(session, "fund:once", REQUESTER, 5 * MICROS) is True
    assert await problems(db) == []


async def test_failed_reserve_leaves_nothing(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash inside a batch reservation leaves the requester's funds where they were."""
    async with db.write() as session:
        await ledger.fund_requester(session, "fund:1", REQUESTER, 5 * MICROS)
    before = await everything(db)
    fail_after(monkeypatch, books, "_balances_of", 1)
    with pytest.raises(Injected):
        async with db.write() as session:
            await ledger.reserve_for_batch(session, 1, REQUESTER, 3 * MICROS, "USD")
    assert await everything(db) == before
    monkeypatch.undo()
    async with db.write() as session:
        assert await ledger.reserve_for_batch(session, 1, REQUESTER, 3 * MICROS, "USD") is True
    assert await problems(db) == []


async def test_failed_answer_leaves_nothing(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash while crediting an answer leaves the assignment open, the item unanswered and no credit."""
    await load_batch(services, products(2), overlap=1)
    async with services.db.write() as session:
        await add_worker(session, 1, method=None)
    task = await work.next_task(services, 1)
    assert task is not None
    skillets = (await services.taxonomies.get(1)).tree.find(SKILLETS).id
    before = await everything(services.db)
    fail_after(monkeypatch, books, "_balances_of", 1)
    with pytest.raises(Injected):
        await work.answer(services, 1, task.assignment_id, 0, str(skillets))
    assert await everything(services.db) == before
    monkeypatch.undo()
    result = await work.answer(services, 1, task.assignment_id, 0, str(skillets))
    assert result.pending_micros == 20_000
    assert await problems(services.db) == []


async def test_failed_release_leaves_nothing(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash after one worker's credits were released, before the next worker's, undoes that release too."""
    await answered_credits(services, 2, workers=(1, 2))
    before = await everything(services.db)
    fail_after(monkeypatch, ledger, "release_credit", 1)
    later, hold = utcnow() + timedelta(hours=49), timedelta(hours=48)
    with pytest.raises(Injected):
        async with services.db.write() as session:
            await credits.release_due(session, later, hold)
    assert await everything(services.db) == before
    monkeypatch.undo()
    fail_after(monkeypatch, books, "_balances_of", 1)  # a crash once a release's legs moved
    with pytest.raises(Injected):
        async with services.db.write() as session:
            await credits.release_due(session, later, hold)
    assert await everything(services.db) == before
    monkeypatch.undo()
    async with services.db.write() as session:
        assert await credits.release_due(session, later, hold) == 4
    for worker_id in (1, 2):
        assert await balance_of(services.db, worker_id) == WorkerBalance(
            pending=0, available=40_000, in_flight=0, paid=0
        )
    assert await problems(services.db) == []


async def test_failed_credit_rejection_leaves_nothing(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash while returning a rejected answer's credit leaves the credit pending with the worker."""
    first = (await answered_credits(services, 1))[0]
    before = await everything(services.db)
    fail_after(monkeypatch, books, "_balances_of", 1)
    with pytest.raises(Injected):
        async with services.db.write() as session:
            await credits.reject(session, first)
    assert await everything(services.db) == before


async def test_failed_payout_request_leaves_nothing(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash right after the hold was posted leaves no payout row, no hold and the money available."""
    async with db.write() as session:
        await add_worker(session, WORKER)
        await make_available(session, WORKER, 20 * MICROS)
    before = await everything(db)
    fail_after(monkeypatch, ledger, "hold_for_payout", 1)
    with pytest.raises(Injected):
        async with db.write() as session:
            await payouts.request(session, WORKER, 10 * MICROS, "USD")
    assert await everything(db) == before
    monkeypatch.undo()
    async with db.write() as session:
        assert (await payouts.request(session, WORKER, 10 * MICROS, "USD")).amount_micros == 20 * MICROS
    assert await problems(db) == []


@pytest.mark.parametrize("approve", [True, False])
async def test_failed_decision_leaves_nothing(db: Database, monkeypatch: pytest.MonkeyPatch, approve: bool) -> None:
    """A crash right after the settlement was posted leaves the payout requested and its money in flight."""
    async with db.write() as session:
        await add_worker(session, WORKER)
        await make_available(session, WORKER, 20 * MICROS)
        payout = await payouts.request(session, WORKER, 10 * MICROS, "USD")
    before = await everything(db)
    fail_after(monkeypatch, ledger, "settle_payout", 1)
    with pytest.raises(Injected):
        async with db.write() as session:
            await payouts.decide(session, payout.id, ADMIN, approve, utcnow(), "note")
    assert await everything(db) == before
    monkeypatch.undo()
    async with db.write() as session:  # the decision can still be taken
        assert (await payouts.decide(session, payout.id, ADMIN, approve, utcnow(), "note")).decided_by == ADMIN
    assert await problems(db) == []


# -- payout rules -------------------------------------------------------------------------------


async def test_below_threshold_names_missing_amount(db: Database) -> None:
    """Under the threshold the refusal says how much is missing, and nothing is held."""
    async with db.write() as session:
        await add_worker(session, WORKER)
        await make_available(session, WORKER, 7_500_000)
    with pytest.raises(InvalidInput) as refusal:
        async with db.write() as session:
            await payouts.request(session, WORKER, 10 * MICROS, "USD")
    assert words.refusal(refusal.value) == "Payouts start at $10.00. You have $7.50 available; $2.50 to go."
    assert await balance_of(db, WORKER) == WorkerBalance(pending=0, available=7_500_000, in_flight=0, paid=0)


async def test_no_method_points_at_payout_method(db: Database) -> None:
    """Without a payout method the refusal tells the worker to use /payout_method."""
    async with db.write() as session:
        await add_worker(session, WORKER, method=None)
        await make_available(session, WORKER, 20 * MICROS)
    with pytest.raises(InvalidInput) as raised:
        async with db.write() as session:
            await payouts.request(session, WORKER, 10 * MICROS, "USD")
    assert raised.value.code == payouts.PayoutRefusal.NO_METHOD and "/payout_method" in words.refusal(raised.value)
    assert (await balance_of(db, WORKER)).available == 20 * MICROS


async def test_suspended_worker_is_refused(db: Database) -> None:
    """A suspended worker cannot request a payout, and the refusal gives the reason."""
    async with db.write() as session:
        await add_worker(session, WORKER, suspended_reason=dumps(Reason.typed("copying answers"), 512))
        await make_available(session, WORKER, 20 * MICROS)
    with pytest.raises(NotAllowed) as raised:
        async with db.write() as session:
            await payouts.request(session, WORKER, 10 * MICROS, "USD")
    assert raised.value.params == {"reason": Reason.typed("copying answers")}
    assert words.refusal(raised.value) == "Your account is suspended (copying answers); payouts are paused."
    assert (await balance_of(db, WORKER)).available == 20 * MICROS


async def test_payout_is_whole_cents(db: Database) -> None:
    """A payout takes whole cents; the sub-cent remainder stays available."""
    async with db.write() as session:
        await add_worker(session, WORKER)
        await make_available(session, WORKER, 12_345_678)
        payout = await payouts.request(session, WORKER, 10 * MICROS, "USD")
    assert payout.amount_micros == 12_340_000
    assert payout.status == PayoutStatus.REQUESTED and payout.method == Method("paypal", "worker@example.com")
    assert await balance_of(db, WORKER) == WorkerBalance(pending=0, available=5_678, in_flight=12_340_000, paid=0)


async def test_reject_returns_money_and_approve_pays(db: Database) -> None:
    """Rejecting puts the money back in available; approving moves it to paid; neither can be undone."""
    async with db.write() as session:
        await add_worker(session, WORKER)
        await make_available(session, WORKER, 12_345_678)
        first = await payouts.request(session, WORKER, 10 * MICROS, "USD")
    async with db.write() as session:
        rejected = await payouts.decide(session, first.id, ADMIN, False, utcnow(), "wrong address")
    assert (rejected.status, rejected.reason, rejected.decided_by) == (
        PayoutStatus.REJECTED,
        Reason.typed("wrong address"),
        ADMIN,
    )
    assert await balance_of(db, WORKER) == WorkerBalance(pending=0, available=12_345_678, in_flight=0, paid=0)
    async with db.write() as session:
        second = await payouts.request(session, WORKER, 10 * MICROS, "USD")
    async with db.write() as session:
        approved = await payouts.decide(session, second.id, ADMIN, True, utcnow(), "TX-42")
    assert (approved.status, approved.reference) == (PayoutStatus.APPROVED, "TX-42")
    assert await balance_of(db, WORKER) == WorkerBalance(pending=0, available=5_678, in_flight=0, paid=12_340_000)
    for payout_id in (first.id, second.id):
        with pytest.raises(AlreadyDecided):
            async with db.write() as session:
                await payouts.decide(session, payout_id, OTHER_ADMIN, True, utcnow())
    with pytest.raises(DomainError) as raised:
        async with db.write() as session:
            await payouts.decide(session, 999, ADMIN, True, utcnow())
    assert (raised.value.code, raised.value.params) == (payouts.PayoutRefusal.NO_PAYOUT, {"payout_id": 999})
    assert await balance_of(db, WORKER) == WorkerBalance(pending=0, available=5_678, in_flight=0, paid=12_340_000)
    assert await problems(db) == []


def test_paypal_mass_payout_csv_rows() -> None:
    """The PayPal file has one row per PayPal payout: e-mail, amount in units, currency, reference, note."""
    now = utcnow()

    def view(payout_id: int, kind: str, address: str, amount: int) -> PayoutView:
        return PayoutView(
            payout_id, 1, "w", amount, Method(kind, address), PayoutStatus.APPROVED, now, ADMIN, None, None
        )

    listed = [
        view(3, "paypal", "ann@example.com", 12_340_000),
        view(4, "iban", "DE89 3704 0044 0532 0130 00", 20 * MICROS),
        view(5, "paypal", "bob@example.org", 10 * MICROS),
        view(6, "giftcard", "cat@example.com", 15 * MICROS),
    ]
    rows = list(csv.reader(io.StringIO(payouts.paypal_mass_payout_csv(listed, "eur", "crowdshelf earnings"))))
    assert rows == [
        ["ann@example.com", "12.34", "EUR", "crowdshelf-3", "crowdshelf earnings"],
        ["bob@example.org", "10.00", "EUR", "crowdshelf-5", "crowdshelf earnings"],
    ]
    assert payouts.paypal_mass_payout_csv([listed[1]], "USD", "crowdshelf earnings") == ""


# -- payout methods -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("worker@example.com", "worker@example.com"),
        ("  Ann.Lee+pay@Example.COM \n", "Ann.Lee+pay@example.com"),
        ("o'brien@mail.example.co.uk", "o'brien@mail.example.co.uk"),
    ],
)
def test_valid_emails(typed: str, stored: str) -> None:
    """E-mail addresses are trimmed and their domain lower-cased; the local part is kept as typed."""
    assert normalise("paypal", typed) == stored
    assert normalise("giftcard", typed) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "worker",
        "worker@",
        "@example.com",
        "worker@example",
        "a@@example.com",
        "ann lee@example.com",
        "ann@-example.com",
        "ann@example..com",
        "ann@exa_mple.com",
        "x" * 250 + "@example.com",
    ],
)
def test_invalid_emails(typed: str) -> None:
    """Anything that is not an e-mail address is refused with an example of what is expected."""
    with pytest.raises(InvalidInput) as raised:
        normalise("paypal", typed)
    assert "name@example.com" in words.refusal(raised.value)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("DE89 3704 0044 0532 0130 00", "DE89 3704 0044 0532 0130 00"),
        ("de89370400440532013000", "DE89 3704 0044 0532 0130 00"),
        ("DE89-3704-0044-0532-0130-00", "DE89 3704 0044 0532 0130 00"),
        ("GB82 WEST 1234 5698 7654 32", "GB82 WEST 1234 5698 7654 32"),
        ("NL91ABNA0417164300", "NL91 ABNA 0417 1643 00"),
        ("FR14 2004 1010 0505 0001 3M02 606", "FR14 2004 1010 0505 0001 3M02 606"),
        ("SA03 8000 0000 6080 1016 7519", "SA03 8000 0000 6080 1016 7519"),  # a country outside the length table
    ],
)
def test_valid_ibans(typed: str, stored: str) -> None:
    """IBANs with good check digits are stored upper-case in groups of four, spaces and dashes ignored."""
    assert normalise("iban", typed) == stored


def iban_with_check_digits(country: str, bban: str) -> str:
    """An IBAN whose check digits are right for any BBAN (ISO 13616: 98 minus the remainder mod 97)."""
    digits = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


@pytest.mark.parametrize(
    ("typed", "complaint"),
    [
        ("DE88 3704 0044 0532 0130 00", "check digits do not match"),
        ("DE89 3704 0044 0532 0103 00", "check digits do not match"),  # two digits swapped
        ("DE89 3704 0044 0532 0130 0", "has 22 characters; this one has 21"),
        (iban_with_check_digits("DE", "3704004405320130001"), "has 22 characters; this one has 23"),
        ("hello", "That is not an IBAN"),
        ("1234 5678 9012 3456", "That is not an IBAN"),
        ("DE89 3704 0044 0532 0130 00!", "That is not an IBAN"),
    ],
)
def test_invalid_ibans(typed: str, complaint: str) -> None:
    """A wrong checksum, a wrong length for the country or a non-IBAN is refused, saying which."""
    with pytest.raises(InvalidInput) as raised:
        normalise("iban", typed)
    assert complaint in words.refusal(raised.value)


_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
BECH32, BECH32M = 1, 0x2BC830A3
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _bech32_checksum(values: list[int]) -> int:
    top_bits = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    state = 1
    for value in values:
        top, state = state >> 25, (state & 0x1FFFFFF) << 5 ^ value
        for bit in range(5):
            state ^= top_bits[bit] if top >> bit & 1 else 0
    return state


def segwit(version: int, program: bytes, constant: int) -> str:
    """A mainnet segwit address (BIP 173 / BIP 350) with the given checksum constant."""
    bits = "".join(f"{byte:08b}" for byte in program)
    bits += "0" * (-len(bits) % 5)
    data = [version] + [int(bits[i : i + 5], 2) for i in range(0, len(bits), 5)]
    expanded = [ord(ch) >> 5 for ch in "bc"] + [0] + [ord(ch) & 31 for ch in "bc"]
    polymod = _bech32_checksum(expanded + data + [0] * 6) ^ constant
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return "bc1" + "".join(_BECH32[value] for value in data + checksum)


def base58check(version: int, payload: bytes) -> str:
    """A base58check address: version byte, payload, four bytes of double SHA-256."""
    raw = bytes([version]) + payload
    raw += hashlib.sha256(hashlib.sha256(raw).digest()).digest()[:4]
    number, text = int.from_bytes(raw, "big"), ""
    while number:
        number, digit = divmod(number, 58)
        text = _BASE58[digit] + text
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + text


P2WPKH = bytes.fromhex("751e76e8199196d454941c45d1b3a323f1433bd6")
TAPROOT = bytes.fromhex("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")


def test_address_builders_match_published_examples() -> None:
    """The address builders below reproduce the BIP 173, BIP 350 and genesis-block addresses."""
    assert segwit(0, P2WPKH, BECH32) == "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
    assert segwit(1, TAPROOT, BECH32M) == "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0"
    assert (
        base58check(0, bytes.fromhex("62e907b15cbf27d5425399ebf6f0fb50ebb88f18"))
        == "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
    )


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        (segwit(0, P2WPKH, BECH32), segwit(0, P2WPKH, BECH32)),
        (segwit(0, P2WPKH, BECH32).upper(), segwit(0, P2WPKH, BECH32)),
        (segwit(0, bytes(range(32)), BECH32), segwit(0, bytes(range(32)), BECH32)),  # pay-to-script-hash, v0
        (segwit(1, TAPROOT, BECH32M), segwit(1, TAPROOT, BECH32M)),
        ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
        (base58check(5, bytes(range(20))), base58check(5, bytes(range(20)))),
        (" 0x52908400098527886E0F7030069857D2E4169EE7 ", "0x52908400098527886E0F7030069857D2E4169EE7"),
        ("0x" + "ab" * 20, "0x" + "ab" * 20),
    ],
)
def test_valid_wallets(typed: str, stored: str) -> None:
    """Bech32, bech32m and base58check Bitcoin addresses and 0x Ethereum addresses are accepted."""
    assert normalise("crypto", typed) == stored


def _typo(address: str, at: int) -> str:
    replacement = "q" if address[at] != "q" else "p"
    return address[:at] + replacement + address[at + 1 :]


@pytest.mark.parametrize(
    "typed",
    [
        _typo(segwit(0, P2WPKH, BECH32), 10),
        _typo(segwit(1, TAPROOT, BECH32M), 30),
        segwit(0, P2WPKH, BECH32)[:-1],
        segwit(0, P2WPKH, BECH32)[:8] + segwit(0, P2WPKH, BECH32)[8:].upper(),  # mixed case
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3tb",  # b is not in the bech32 alphabet
        "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb",
        "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfN0",  # 0 is not base58
        base58check(0, bytes(range(21))),  # checksum fine, payload one byte too long
        "0x" + "ab" * 19,
        "0x" + "ab" * 21,
        "0x" + "g" * 40,
        "ab" * 20,
        "",
    ],
)
def test_invalid_wallets(typed: str) -> None:
    """Typos (wrong checksum, wrong alphabet, truncation, mixed case) and wrong formats are refused."""
    with pytest.raises(InvalidInput):
        normalise("crypto", typed)


@pytest.mark.parametrize(
    "typed",
    [
        segwit(0, P2WPKH, BECH32M),  # v0 must use the bech32 constant
        segwit(1, TAPROOT, BECH32),  # v1+ must use the bech32m constant
        segwit(0, bytes(range(25)), BECH32),  # v0 programs are 20 or 32 bytes
        segwit(17, TAPROOT, BECH32M),  # witness versions stop at 16
    ],
)
def test_segwit_rules_of_bip350(typed: str) -> None:
    """Addresses with a valid checksum but the wrong checksum variant or program length are refused."""
    with pytest.raises(InvalidInput):
        normalise("crypto", typed)


def test_unknown_method_kind_refused() -> None:
    """Only the offered payout kinds are accepted."""
    with pytest.raises(InvalidInput) as raised:
        normalise("cash", "anything")
    assert (raised.value.code, raised.value.params) == (AddressRefusal.UNKNOWN_KIND, {"kind": "cash"})


async def test_changing_method_returns_previous(db: Database) -> None:
    """Setting a method returns (previous, new); an invalid address changes nothing; a change re-arms the reminder."""
    async with db.write() as session:
        await add_worker(session, WORKER, method=None, reminded_method_at=utcnow())
        first = await payouts.set_method(session, WORKER, "paypal", "Ann@Example.com", utcnow())
    assert first == (None, Method("paypal", "Ann@example.com"))
    async with db.write() as session:
        second = await payouts.set_method(session, WORKER, "iban", "de89370400440532013000", utcnow())
    assert second == (Method("paypal", "Ann@example.com"), Method("iban", "DE89 3704 0044 0532 0130 00"))
    with pytest.raises(InvalidInput):
        async with db.write() as session:
            await payouts.set_method(session, WORKER, "crypto", "not a wallet", utcnow())
    async with db.read() as session:
        assert await payouts.current_method(session, WORKER) == Method("iban", "DE89 3704 0044 0532 0130 00")
        assert (await session.get(User, WORKER)).reminded_method_at is None
        assert await session.scalar(select(func.count()).select_from(PayoutMethod)) == 1


# -- credits ------------------------------------------------------------------------------------


async def answered_credits(services: Services, count: int, workers: tuple[int, ...] = (1,)) -> list[int]:
    """`count` answers at 0.02 each by every worker in `workers`, on a single-overlap batch: assignment ids."""
    await load_batch(services, products(count * len(workers)), overlap=1)
    leaf = (await services.taxonomies.get(1)).tree.find(SKILLETS).id
    ids = []
    for worker_id in workers:
        async with services.db.write() as session:
            await add_worker(session, worker_id, method=None)
        task = await work.next_task(services, worker_id)
        for _ in range(count):
            assert task is not None
            ids.append(task.assignment_id)
            task = (await work.answer(services, worker_id, task.assignment_id, 0, str(leaf))).next_task
        if task is not None:
            await work.stop(services, worker_id, task.assignment_id)
    return ids


async def test_release_due_moves_only_credits_past_the_hold(services: Services) -> None:
    """Only credits answered longer ago than the hold become available; running it again releases nothing."""
    ids = await answered_credits(services, 3)
    now, hold = utcnow(), timedelta(hours=24)
    ages = {
        ids[0]: timedelta(hours=30),
        ids[1]: timedelta(hours=24, seconds=1),
        ids[2]: timedelta(hours=23, minutes=59),
    }
    async with services.db.write() as session:
        for assignment_id, age in ages.items():
            await session.execute(
                update(Assignment).where(Assignment.id == assignment_id).values(answered_at=now - age)
            )
    async with services.db.write() as session:
        assert await credits.release_due(session, now, hold) == 2
    released = await everything(services.db)
    async with services.db.write() as session:
        assert await credits.release_due(session, now, hold) == 0
    assert await everything(services.db) == released
    async with services.db.read() as session:
        states = dict((await session.execute(select(Assignment.id, Assignment.credit_state))).all())
    assert states == {ids[0]: CreditState.AVAILABLE, ids[1]: CreditState.AVAILABLE, ids[2]: CreditState.PENDING}
    assert await balance_of(services.db, 1) == WorkerBalance(pending=20_000, available=40_000, in_flight=0, paid=0)
    assert await problems(services.db) == []


async def test_reject_returns_pending_credit_to_requester(services: Services) -> None:
    """Rejecting a pending answer moves its credit back into the running batch's reserve, once, and
    reopens its product for another answer; a released credit cannot be rejected."""
    ids = await answered_credits(services, 2)
    kinds = [ledger.REQUESTER_AVAILABLE, ledger.REQUESTER_RESERVED]
    async with services.db.read() as session:
        requester_before = await books.balances(session, REQUESTER, kinds)
        reserved_before = (await session.get(Batch, 1)).reserved_micros
    async with services.db.write() as session:
        assert await credits.reject(session, ids[0]) is True
    async with services.db.write() as session:
        assert await credits.reject(session, ids[0]) is False
    async with services.db.read() as session:
        requester_after = await books.balances(session, REQUESTER, kinds)
        assert (await session.get(Batch, 1)).reserved_micros == reserved_before + 20_000
        item = await session.get(Item, (await session.get(Assignment, ids[0])).item_id)
        assert (item.answers, item.slots_taken, item.is_open) == (0, 0, True)
    assert requester_after == {
        ledger.REQUESTER_AVAILABLE: requester_before[ledger.REQUESTER_AVAILABLE],
        ledger.REQUESTER_RESERVED: requester_before[ledger.REQUESTER_RESERVED] + 20_000,
    }
    assert await balance_of(services.db, 1) == WorkerBalance(pending=20_000, available=0, in_flight=0, paid=0)
    async with services.db.write() as session:  # the rejected credit is not released later
        assert await credits.release_due(session, utcnow() + timedelta(days=30), timedelta(hours=24)) == 1
    before = await everything(services.db)
    with pytest.raises(DomainError) as raised:
        async with services.db.write() as session:
            await credits.reject(session, ids[1])
    assert raised.value.code == credits.CreditRefusal.ALREADY_RELEASED
    with pytest.raises(DomainError) as raised:
        async with services.db.write() as session:
            await credits.reject(session, 999)
    assert raised.value.code == credits.CreditRefusal.NO_ANSWER
    assert await everything(services.db) == before
    assert await balance_of(services.db, 1) == WorkerBalance(pending=0, available=20_000, in_flight=0, paid=0)
    assert await problems(services.db) == []


async def test_reject_racing_release_settles_each_credit_once(services: Services, database_url: str) -> None:
    """Quality control rejecting while the hold job releases, from two processes: each credit moves exactly once."""
    ids = await answered_credits(services, 6)
    other = connect(database_url)
    later, hold = utcnow() + timedelta(days=2), timedelta(hours=24)

    async def release() -> int:
        async with services.db.write() as session:
            return await credits.release_due(session, later, hold)

    async def reject(assignment_id: int) -> bool:
        async with other.write() as session:
            return await credits.reject(session, assignment_id)

    try:
        results = await asyncio.gather(release(), *(reject(i) for i in ids[::2]), release(), return_exceptions=True)
    finally:
        await other.dispose()
    assert all(not isinstance(result, Exception) or isinstance(result, DomainError) for result in results), results
    async with services.db.read() as session:
        states = dict((await session.execute(select(Assignment.id, Assignment.credit_state))).all())
        requester = await books.balances(session, REQUESTER, [ledger.REQUESTER_AVAILABLE, ledger.REQUESTER_RESERVED])
    assert set(states) == set(ids) and set(states.values()) <= {CreditState.AVAILABLE, CreditState.REJECTED}
    rejected = sorted(i for i, state in states.items() if state == CreditState.REJECTED)
    assert await keys_like(services.db, "answer:%:reject") == sorted(f"answer:{i}:reject" for i in rejected)
    assert requester[ledger.REQUESTER_AVAILABLE] == len(rejected) * 20_000
    released = len(ids) - len(rejected)
    assert await balance_of(services.db, 1) == WorkerBalance(
        pending=0, available=released * 20_000, in_flight=0, paid=0
    )
    assert await problems(services.db) == []


# -- payout sweep -------------------------------------------------------------------------------


async def test_sweep_requests_reminds_once_and_skips_suspended(services: Services) -> None:
    """The sweep pays workers over the threshold with a method, reminds those without one once, skips the suspended."""
    threshold = services.settings.payout_threshold_micros
    async with services.db.write() as session:
        await add_worker(session, 11, method=("paypal", "eleven@example.com"))
        await make_available(session, 11, threshold + 2_345_678)
        await add_worker(session, 12, method=None)
        await make_available(session, 12, threshold + MICROS)
        await add_worker(
            session,
            13,
            method=("paypal", "thirteen@example.com"),
            suspended_reason=dumps(Reason.typed("fraud check"), 512),
        )
        await make_available(session, 13, threshold * 2)
        await add_worker(session, 14, method=("paypal", "fourteen@example.com"))
        await make_available(session, 14, threshold - CENT)
    first = await jobs.sweep_payouts(services)
    assert [(view.worker_id, view.amount_micros) for view in first.created] == [(11, threshold + 2_340_000)]
    assert first.reminders == [12]
    second = await jobs.sweep_payouts(services)
    assert (second.created, second.reminders) == ([], [])
    async with services.db.read() as session:
        assert (await session.execute(select(Payout.worker_id, Payout.status))).all() == [(11, PayoutStatus.REQUESTED)]
        assert (await session.get(User, 12)).reminded_method_at is not None
    assert await balance_of(services.db, 11) == WorkerBalance(0, 5_678, threshold + 2_340_000, 0)
    assert (await balance_of(services.db, 13)).available == threshold * 2
    assert (await balance_of(services.db, 14)).available == threshold - CENT
    assert await problems(services.db) == []


async def test_a_refused_sweep_request_leaves_nothing(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """A commit between the sweep's read of the balance and its posting (another process's payout, say)
    makes the posting refuse: the worker's payout row, ledger transaction and in-flight balance are not
    kept, and the next worker is still paid."""
    threshold = services.settings.payout_threshold_micros
    async with services.db.write() as session:
        for worker_id in (11, 12):
            await add_worker(session, worker_id, method=("paypal", f"w{worker_id}@example.com"))
            await make_available(session, worker_id, threshold + 10 * CENT)
    real = ledger.worker_balance

    async def read_before_a_payout_of_ten_cents(session: AsyncSession, worker_id: int) -> WorkerBalance:
        balance = await real(session, worker_id)
        return balance if worker_id != 11 else WorkerBalance(0, balance.available + 10 * CENT, 0, 0)

    monkeypatch.setattr(ledger, "worker_balance", read_before_a_payout_of_ten_cents)
    swept = await jobs.sweep_payouts(services)
    monkeypatch.undo()
    assert [view.worker_id for view in swept.created] == [12]
    async with services.db.read() as session:
        assert (await session.execute(select(Payout.worker_id))).scalars().all() == [12]
        keys = (
            await session.scalars(select(LedgerTransaction.key).where(LedgerTransaction.kind == "payout_request"))
        ).all()
    assert keys == [f"payout:{swept.created[0].id}:request"]
    assert await balance_of(services.db, 11) == WorkerBalance(0, threshold + 10 * CENT, 0, 0)
    assert await problems(services.db) == []


async def test_a_restore_refused_for_want_of_funds_can_be_made_later(services: Services) -> None:
    """Restoring a rejected credit the requester cannot pay leaves nothing behind, so once the requester
    has the money the same restore pays the worker (a refusal must not use up the posting's key)."""
    batch = await load_batch(services, products(3), overlap=1)
    async with services.db.write() as session:
        await add_worker(session, 1)
    task = await work.next_task(services, 1)
    await work.answer(
        services, 1, task.assignment_id, 0, str((await services.taxonomies.get(1)).tree.find(SKILLETS).id)
    )
    async with services.db.write() as session:
        assert await credits.reject(session, task.assignment_id)
        await batches.cancel(session, batch.id, REQUESTER, services.clock.now())
    async with services.db.write() as session:  # the requester spends what the cancellation refunded
        funds = await ledger.requester_funds(session, REQUESTER)
        await ledger.reserve_for_batch(session, 999, REQUESTER, funds.available, "USD")
    reward = 20_000
    async with services.db.write() as session:
        assert not await credits.restore(session, task.assignment_id, 1, REQUESTER, reward)
    async with services.db.write() as session:
        await ledger.fund_requester(session, "fund:again", REQUESTER, reward)
        assert await credits.restore(session, task.assignment_id, 1, REQUESTER, reward)
    assert (await balance_of(services.db, 1)).available == reward
    assert await problems(services.db) == []


@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgresql)], indirect=True)
async def test_payout_requests_and_sweeps_from_two_processes_pay_each_earning_once(
    services: Services, database_url: str
) -> None:
    """Ten workers with $0.15 each (threshold $0.10): 50 concurrent /payout requests and payout sweeps
    for them, from two database engines as two bot processes. Each worker gets one payout of $0.15,
    every payout's money is in flight, and the books hold (SQLite serialises writes; this race is
    PostgreSQL's, where a commit lands between a request's read of the balance and its posting)."""
    workers = range(21, 31)
    earned = 15 * CENT
    async with services.db.write() as session:
        for worker_id in workers:
            await add_worker(session, worker_id, method=("paypal", f"w{worker_id}@example.com"))
            await make_available(session, worker_id, earned)
    settings = make_settings(database_url, payout_threshold="0.10")
    other = connect(database_url)
    processes = [build_services(settings, services.db), build_services(settings, other)]

    async def slash_payout(process: Services, worker_id: int) -> None:
        """What /payout does: one write, a refusal rolls it back."""
        try:
            async with process.db.write() as session:
                await payouts.request(session, worker_id, settings.payout_threshold_micros, "USD")
        except DomainError:
            pass

    calls = [
        jobs.sweep_payouts(processes[n % 2]) if n % 5 == 0 else slash_payout(processes[n % 2], workers[n % 10])
        for n in range(50)
    ]
    try:
        await asyncio.gather(*calls)
    finally:
        await other.dispose()
    async with services.db.read() as session:
        paid = (await session.execute(select(Payout.worker_id, Payout.amount_micros).order_by(Payout.worker_id))).all()
        found = await invariants.problems(session)
    assert paid == [(worker_id, earned) for worker_id in workers], "one payout per worker, for what they earned"
    assert found == []
