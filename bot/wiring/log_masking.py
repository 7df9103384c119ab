"""Secrets never reach the log: each record is masked on its way to the handlers that write it.

The bot token is in every Bot API URL (`…/bot<token>/getMe`) and in PTB's InvalidToken text, and
a database URL may carry a password; any library may log either, in a message, its arguments or
an exception's text.
"""

import logging
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from sqlalchemy import make_url

from bot.wiring.config import Settings

MASK = "***"
_EXCEPTIONS = logging.Formatter()


def secrets_of(settings: Settings) -> list[str]:
    """What must not be logged: the token's secret half (its bot id is public) and the database password."""
    secrets = [settings.bot_token.strip().partition(":")[2]]
    password = make_url(settings.database_url).password
    if password:
        # As typed and as a URL spells it.
        secrets += [password, quote(password, safe=""), quote_plus(password)]
    return [secret for secret in secrets if secret]


def mask(text: str, secrets: Iterable[str]) -> str:
    # Longest first, so that no secret is left half-masked by a shorter one inside it.
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class MaskSecrets(logging.Filter):
    """Rewrites a record's message, exception and stack text with the secrets masked."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = list(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = mask(record.getMessage(), self.secrets), None
        if record.exc_info and not record.exc_text:
            # Formatters use exc_text as it is once it is set.
            record.exc_text = _EXCEPTIONS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = mask(record.stack_info, self.secrets)
        return True


def install(settings: Settings) -> None:
    """Mask the settings' secrets in everything the root logger's handlers write."""
    masking = MaskSecrets(secrets_of(settings))
    for handler in logging.getLogger().handlers:
        handler.addFilter(masking)
