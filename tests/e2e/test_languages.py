"""A second language is a catalogue, not a code change: with the tests' German catalogue offered, a
worker whose Telegram is set to German reads German with German figures; a language no catalogue
speaks reads DEFAULT_LANGUAGE (German writes a no-break space before the euro sign); a message sent later is in its recipient's language, not the sender's."""

from decimal import Decimal

from sqlalchemy import select

from bot import outbox
from bot.outbox import Notice
from storage.models import User
from tests.e2e.conftest import StartBot

ADMIN, HANS, PIERRE, ANN = 900, 201, 202, 203


async def test_each_worker_reads_their_own_language_with_its_figures(start_bot: StartBot, german: str) -> None:
    bot = await start_bot(currency="EUR", payout_threshold=Decimal("1234.50"))
    hans, pierre, ann = bot.user(HANS, "Hans"), bot.user(PIERRE, "Pierre"), bot.user(ANN, "Ann")
    hans.language_code, pierre.language_code = "de-DE", "fr"
    for person in (hans, pierre, ann):
        await person.send("/balance")
    await bot.settle()
    assert hans.last.body.splitlines()[:2] == [
        "💰 Ihr Guthaben",
        "Ausstehend: 0,00\xa0€ (verfügbar nach der Prüffrist)",
    ]
    assert hans.last.body.endswith("Noch 1.234,50\xa0€ bis zur Auszahlungsgrenze von 1.234,50\xa0€")
    # French has no catalogue: the default language, English, with English figures
    for person in (pierre, ann):
        assert person.last.body.splitlines()[:2] == [
            "💰 Your balance",
            "Pending: €0.00 (available after the review window)",
        ]
        assert person.last.body.endswith("€1,234.50 more to the €1,234.50 payout threshold")


async def test_an_untranslated_language_reads_the_default_language(start_bot: StartBot, german: str) -> None:
    bot = await start_bot(default_language="de", currency="EUR", payout_threshold=Decimal("10"))
    pierre, ann = bot.user(PIERRE, "Pierre"), bot.user(ANN, "Ann")
    pierre.language_code = "fr"
    for person in (pierre, ann):
        await person.send("/balance")
    await bot.settle()
    assert pierre.last.body.startswith("💰 Ihr Guthaben") and "Noch 10,00\xa0€" in pierre.last.body
    assert ann.last.body.startswith("💰 Your balance") and "€10.00 more" in ann.last.body, "English is spoken"


async def test_a_notice_is_written_in_its_recipient_s_language(start_bot: StartBot, german: str) -> None:
    """The admin writes in English; the suspension the outbox delivers to Hans is in German, and his
    language was stored when he last wrote, so it holds for notices sent while he is silent."""
    bot = await start_bot(admin_ids=str(ADMIN))
    admin, hans = bot.user(ADMIN, "Ada"), bot.user(HANS, "Hans")
    hans.language_code = "de"
    await hans.send("/start")
    await bot.settle()
    await admin.send(f"/suspend {HANS}")
    await bot.settle()
    assert admin.last.body == f"✔ {HANS} is suspended: suspended by an admin"
    assert hans.last.body == "Ihr Konto wurde gesperrt: von einem Admin gesperrt"
    async with bot.services.db.read() as session:
        assert await session.scalar(select(User.language).where(User.id == HANS)) == "de"


async def test_the_outbox_renders_each_message_for_its_recipient(start_bot: StartBot, german: str) -> None:
    """Messages owed in one transaction and delivered in one run: each in the language of its chat; a
    person the bot never heard from reads the default language."""
    bot = await start_bot()
    hans, ann, pierre = bot.user(HANS, "Hans"), bot.user(ANN, "Ann"), bot.user(PIERRE, "Pierre")
    hans.language_code, pierre.language_code = "de", "fr"
    for person in (hans, ann):
        await person.send("/start")
    await bot.settle()
    async with bot.services.db.write() as session:
        for person in (hans, ann, pierre):
            await outbox.owe(session, f"test:{person.id}", person.id, Notice.PAYOUT_METHOD_REMINDER)
    await bot.settle()
    assert hans.last.body.startswith("💰 Ihr verfügbares Guthaben hat die Auszahlungsgrenze erreicht")
    assert ann.last.body.startswith("💰 Your available balance reached the payout threshold")
    assert pierre.messages[-1].body.startswith("💰 Your available balance reached the payout threshold")
