"""Settings: the environment keys of the design, their parsing and the token check."""

import re
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.errors import ValueProblem
from bot.wiring.config import DEFAULT_DATABASE_URL, MissingToken, Settings, listen_address
from tests import words

KEYS = (
    "BOT_TOKEN",
    "DATABASE_URL",
    "ADMIN_IDS",
    "REQUESTER_IDS",
    "CURRENCY",
    "PAYOUT_THRESHOLD",
    "TELEGRAM_API_URL",
    "WEBHOOK_URL",
    "WEBHOOK_LISTEN",
    "WEBHOOK_PATH",
    "WEBHOOK_SECRET",
    "TELEGRAM_MESSAGES_PER_SECOND",
    "DATABASE_MAX_CONNECTIONS",
)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in KEYS:
        monkeypatch.delenv(key, raising=False)


def load() -> Settings:
    return Settings(_env_file=None)


def test_defaults() -> None:
    """Without any environment the documented defaults apply."""
    settings = load()
    assert settings.bot_token == ""
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.telegram_api_url == "https://api.telegram.org"
    assert settings.admin_ids == frozenset() and settings.requester_ids == frozenset()
    assert settings.currency == "USD"
    assert settings.payout_threshold == Decimal("10.00")
    assert settings.payout_threshold_micros == 10_000_000
    assert settings.telegram_messages_per_second == 30
    assert settings.database_max_connections == 30


def test_every_setting_is_in_env_example_and_the_readme() -> None:
    """.env.example lists every key with a comment; the README's Configuration names each."""
    keys = {name.upper() for name in Settings.model_fields}
    example = (ROOT / ".env.example").read_text()
    assert set(re.findall(r"^([A-Z_]+)=", example, re.MULTILINE)) == keys
    assert all(re.search(rf"^# .*\n{key}=", example, re.MULTILINE) for key in keys), "each with a comment above"
    readme = (ROOT / "README.md").read_text()
    assert [key for key in sorted(keys) if f"`{key}`" not in readme] == []


@pytest.mark.parametrize(
    ("raw", "ids"),
    [
        ("1, 2", {1, 2}),
        ("1,2", {1, 2}),
        ("  42  ", {42}),
        ("", set()),
        ("   ", set()),
        ("1,,2,", {1, 2}),
        ("1,1", {1}),
        ("5000000000", {5_000_000_000}),  # Telegram ids exceed 32 bits
    ],
)
@pytest.mark.parametrize("key", ["ADMIN_IDS", "REQUESTER_IDS"])
def test_id_lists_from_environment(monkeypatch: pytest.MonkeyPatch, key: str, raw: str, ids: set[int]) -> None:
    """Comma-separated ids with spaces and empty parts become a set of ints."""
    monkeypatch.setenv(key, raw)
    assert getattr(load(), key.lower()) == frozenset(ids)


@pytest.mark.parametrize("raw", ["abc", "1, two", "1.5"])
def test_id_lists_refuse_non_numbers(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    """A value that is not a list of whole numbers is a configuration error, not silently dropped."""
    monkeypatch.setenv("ADMIN_IDS", raw)
    with pytest.raises(ValidationError):
        load()


@pytest.mark.parametrize(
    ("raw", "micros"), [("10.00", 10_000_000), ("0.5", 500_000), ("25", 25_000_000), ("0.000001", 1)]
)
def test_payout_threshold_micros(monkeypatch: pytest.MonkeyPatch, raw: str, micros: int) -> None:
    """PAYOUT_THRESHOLD is read as a decimal and exposed as exact micros."""
    monkeypatch.setenv("PAYOUT_THRESHOLD", raw)
    assert load().payout_threshold_micros == micros


@pytest.mark.parametrize("raw", ["-1", "0.0000001"])
def test_invalid_payout_threshold_refused_at_load(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    """A threshold that is not a valid amount of money is refused when the settings are read."""
    monkeypatch.setenv("PAYOUT_THRESHOLD", raw)
    with pytest.raises(ValidationError):
        load()


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every key is read under its documented name."""
    monkeypatch.setenv("BOT_TOKEN", "42:abc")
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://db/crowdshelf")
    monkeypatch.setenv("TELEGRAM_API_URL", "http://127.0.0.1:8081")
    monkeypatch.setenv("CURRENCY", "EUR")
    settings = load()
    assert settings.bot_token == "42:abc"
    assert settings.database_url == "postgresql+asyncpg://db/crowdshelf"
    assert settings.telegram_api_url == "http://127.0.0.1:8081"
    assert settings.currency == "EUR"


@pytest.mark.parametrize(
    "token", ["", "   ", "changeme", "change-me", "your-token-here", "<token>", "123456:ABC", "no-colon-here"]
)
def test_require_token_refuses_missing_and_placeholders(token: str) -> None:
    """An empty, placeholder or malformed token is refused with one line pointing at @BotFather."""
    settings = Settings(_env_file=None, bot_token=token)
    with pytest.raises(MissingToken) as raised:
        settings.require_token()
    message = words.refusal(raised.value)
    assert "@BotFather" in message and "BOT_TOKEN" in message
    assert "\n" not in message


def test_require_token_returns_stripped_token() -> None:
    """A real-looking token is returned without surrounding whitespace."""
    assert Settings(_env_file=None, bot_token="  123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw \n").require_token() == (
        "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
    )


def test_webhook_listen_is_a_host_and_a_port() -> None:
    assert listen_address("0.0.0.0:8080") == ("0.0.0.0", 8080)
    assert listen_address("[::1]:443") == ("::1", 443)
    assert listen_address("bot.internal:80") == ("bot.internal", 80)
    for bad in ("8080", ":8080", "host:", "host:http", "host:0", "host:65536"):
        with pytest.raises(ValueProblem):
            listen_address(bad)


def test_webhook_settings_default_to_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load()
    assert (settings.webhook_url, settings.webhook_path, settings.listen) == ("", "/telegram", ("0.0.0.0", 8080))
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example.com/telegram")
    monkeypatch.setenv("WEBHOOK_SECRET", "abc_DEF-123")
    monkeypatch.setenv("WEBHOOK_LISTEN", "127.0.0.1:9000")
    settings = load()
    assert (settings.webhook_url, settings.webhook_secret, settings.listen) == (
        "https://bot.example.com/telegram",
        "abc_DEF-123",
        ("127.0.0.1", 9000),
    )
