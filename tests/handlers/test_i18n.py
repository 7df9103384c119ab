"""The language of a message: chosen per update from Telegram's language tag, else DEFAULT_LANGUAGE; held
for the update's own task only; and every string of the text layer is in the catalogue template."""

import asyncio
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from babel.messages.pofile import read_po
from telegram import Chat, Message, Update, User

from handlers import common, i18n, texts
from tests.conftest import GERMAN

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "handlers" / "locales" / "messages.pot"


@pytest.mark.parametrize(
    ("tag", "default", "spoken"),
    [
        ("de", "en", "de"),
        ("de-AT", "en", "de"),  # a region without its own catalogue: the language's
        ("DE", "en", "de"),
        ("fr", "en", "en"),  # no catalogue: the default language
        ("fr", "de", "de"),
        (None, "de", "de"),  # Telegram does not always say
        ("", "de", "de"),
        ("not a tag!", "en", "en"),
        ("en-GB", "de", "en"),  # English is the source: always spoken
    ],
)
def test_a_language_tag_finds_its_catalogue(german: str, tag: str | None, default: str, spoken: str) -> None:
    assert i18n.choose(tag, default) == spoken


def test_without_its_catalogue_a_language_is_not_spoken() -> None:
    assert i18n.languages() == ["en"]
    assert i18n.choose("de", "en") == "en"
    assert i18n.supported("de") is None


def update_from(user_id: int, language: str | None) -> Update:
    sender = User(user_id, "Person", is_bot=False, language_code=language)
    message = Message(1, datetime.now(UTC), Chat(user_id, Chat.PRIVATE), from_user=sender, text="/balance")
    return Update(user_id, message=message)


async def test_each_update_speaks_its_sender_s_language_in_its_own_task(german: str) -> None:
    """Two updates handled at once: each handler reads its own sender's language, though the other's was
    chosen in between."""
    context = SimpleNamespace(services=SimpleNamespace(settings=SimpleNamespace(default_language="en")))
    both_chosen = asyncio.Barrier(2)

    async def handle(update: Update) -> str:
        await common.choose_language(update, context)  # type: ignore[arg-type]  # what the handler reads of it
        await both_chosen.wait()
        return texts.balance_full(0, 0, 0, 0, 10_000_000, "EUR").splitlines()[0]

    said = await asyncio.gather(handle(update_from(1, "de")), handle(update_from(2, "fr")))
    assert said == ["💰 <b>Ihr Guthaben</b>", "💰 <b>Your balance</b>"]
    assert i18n.current() == "en", "the test's own task is untouched"


def test_speaking_a_language_ends_with_the_block(german: str) -> None:
    with i18n.speaking(german):
        assert i18n.gettext("suspended by an admin") == "von einem Admin gesperrt"
        assert i18n.current() == "de"
    assert i18n.gettext("suspended by an admin") == "suspended by an admin"


def msgids(catalogue_file: Path) -> set[str | tuple[str, ...]]:
    with catalogue_file.open("rb") as source:
        return {message.id for message in read_po(source) if message.id}


def test_the_template_holds_every_string_of_the_text_layer(tmp_path: Path) -> None:
    """`make messages` was run after the last change of a string: a translator starts from all of them."""
    fresh = tmp_path / "messages.pot"
    command = ["-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-k", "Nn_:1,2", "--no-location"]
    subprocess.run([sys.executable, *command, "-o", str(fresh), "handlers"], cwd=ROOT, check=True, capture_output=True)
    assert msgids(TEMPLATE) == msgids(fresh)
    assert len(msgids(fresh)) > 400, "the text layer's strings are found"


def test_the_tests_catalogue_translates_strings_the_bot_has() -> None:
    assert msgids(GERMAN) <= msgids(TEMPLATE)
