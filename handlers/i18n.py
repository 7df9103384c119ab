"""The language a message is written in, and the catalogues that translate the text layer.

English is the source: every user-facing string of the text layer is written in English and goes
through gettext. Another language is a catalogue, `locales/<language>/LC_MESSAGES/messages.po`,
compiled in memory when the bot starts (no build step, no binary files). The language is chosen per
update from Telegram's `language_code` (handlers.common.choose_language, at the edge) and held in a
context variable: python-telegram-bot handles each update in its own task, and a job sets it per
recipient (handlers.outbox), so the text functions never take a language argument.

Strings that are defined once at import (templates, catalogues of codes) are marked with `N_` (one form)
or `Nn_` (singular and plural) and translated when they are used, with `gettext` or `plural_text`.
"""

import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

SOURCE = "en"  # the language the strings are written in: it needs no catalogue
LOCALES = Path(__file__).parent / "locales"
DOMAIN = "messages"

_catalogues: dict[str, NullTranslations] = {SOURCE: NullTranslations()}
_language: ContextVar[str] = ContextVar("language", default=SOURCE)


@dataclass(frozen=True)
class Plural:
    """A template with a singular and a plural, chosen by the parameter named `count`."""

    singular: str
    plural: str
    count: str = "count"


def N_(message: str) -> str:  # gettext's own name for a string translated later
    """Marks a string for the catalogue; `gettext` translates it where it is used."""
    return message


def Nn_(singular: str, plural: str, count: str = "count") -> Plural:
    """Marks a template with plural forms for the catalogue; `plural_text` translates it where it is used."""
    return Plural(singular, plural, count)


def add_catalogue(language: str, po_file: Path) -> str:
    """Compile a `.po` catalogue in memory and offer its language; returns the language's name."""
    name = str(Locale.parse(language))
    with po_file.open("rb") as source:
        catalogue = read_po(source, locale=name, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    compiled.seek(0)
    _catalogues[name] = Translations(compiled, domain=DOMAIN)
    return name


def remove_catalogue(language: str) -> None:
    if language != SOURCE:
        _catalogues.pop(str(Locale.parse(language)), None)


def languages() -> list[str]:
    """The languages the bot speaks: English and every catalogue added."""
    return sorted(_catalogues)


def supported(code: str | None) -> str | None:
    """The language the bot speaks for a language tag ("de", "pt-br", "en-US"): the tag itself, else its
    language alone; None when there is no catalogue for it."""
    if not code:
        return None
    try:
        locale = Locale.parse(code.strip().replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return None
    return next((name for name in (str(locale), locale.language) if name in _catalogues), None)


def choose(code: str | None, default: str) -> str:
    """The language of a person whose Telegram language is `code`: theirs if translated, else `default`."""
    return supported(code) or supported(default) or SOURCE


def current() -> str:
    return _language.get()


def locale() -> Locale:
    """The current language's locale, for Babel's formatting."""
    return Locale.parse(current())


def set_language(language: str) -> None:
    """For the rest of this update's task (handlers call this once, at the edge)."""
    _language.set(language)


@contextmanager
def speaking(language: str) -> Iterator[None]:
    """Within the block, messages are in `language` (a job writing to one recipient after another)."""
    token = _language.set(language)
    try:
        yield
    finally:
        _language.reset(token)


def gettext(message: str) -> str:
    """`message` in the current language."""
    return _catalogues.get(current(), _catalogues[SOURCE]).gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """The form for `count` in the current language."""
    return _catalogues.get(current(), _catalogues[SOURCE]).ngettext(singular, plural, count)


def plural_text(template: Plural, count: int) -> str:
    return ngettext(template.singular, template.plural, count)


def _load_shipped() -> None:
    for po_file in sorted(LOCALES.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        add_catalogue(po_file.parent.parent.name, po_file)


_load_shipped()
