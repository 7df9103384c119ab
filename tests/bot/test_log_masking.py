"""No secret reaches the log: not in a message, its arguments, an exception's text or a stack."""

import io
import logging
from collections.abc import Iterator

import pytest

from bot.wiring import log_masking
from tests.conftest import make_settings

TOKEN = "123456:Token-Secret_Half"
PASSWORD = "p@ss/w:rd"
DATABASE_URL = "postgresql+asyncpg://crowdshelf:p%40ss%2Fw%3Ard@db.example/crowdshelf"


@pytest.fixture
def written() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger whose handler masks as `crowdshelf` sets it up, and what that handler writes."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    settings = make_settings(DATABASE_URL, bot_token=TOKEN)
    handler.addFilter(log_masking.MaskSecrets(log_masking.secrets_of(settings)))
    logger = logging.getLogger("tests.log_masking")
    logger.addHandler(handler)
    logger.propagate = False
    yield logger, out
    logger.removeHandler(handler)
    logger.propagate = True


def test_every_part_of_a_record_is_masked(written: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = written
    logger.warning("HTTP Request: POST http://127.0.0.1/bot%s/getMe", TOKEN)
    logger.warning("connecting to " + DATABASE_URL)
    logger.warning("password %s", PASSWORD)
    try:
        raise ValueError(f"The token `{TOKEN}` was rejected by the server.")
    except ValueError:
        logger.exception("start failed")
    logger.warning("where", stack_info=True)  # the stack shows this line: Token-Secret_Half
    text = out.getvalue()
    for secret in ("Token-Secret_Half", PASSWORD, "p%40ss%2Fw%3Ard"):
        assert secret not in text
    assert "/bot123456:***/getMe" in text
    assert "crowdshelf:***@db.example" in text
    assert "password ***" in text
    assert "The token `123456:***` was rejected" in text
    assert "this line: ***" in text


def test_nothing_to_mask_without_secrets() -> None:
    settings = make_settings("sqlite+aiosqlite:///crowdshelf.db", bot_token="")
    assert log_masking.secrets_of(settings) == []
