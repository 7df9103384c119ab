"""Settings read from the environment or `.env`; the key names are a public interface."""

import logging
from decimal import Decimal
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.money.amounts import to_micros

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///crowdshelf.db"
PLACEHOLDER_TOKENS = {"", "changeme", "change-me", "your-token-here", "<token>", "123456:ABC"}
# The database back ends the bot runs on, each with the async driver it needs.
ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


class MissingToken(ValueError):
    """Raised when the bot is asked to run without a usable BOT_TOKEN."""


class ConfigError(ValueError):
    """A setting cannot be used; `str(error)` is one line naming the key and what is wrong."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: str = ""
    telegram_api_url: str = "https://api.telegram.org"
    database_url: str = DEFAULT_DATABASE_URL
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    requester_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    currency: str = "USD"
    payout_threshold: Decimal = Decimal("10.00")
    payout_sweep_seconds: int = Field(3600, gt=0)
    assignment_ttl_seconds: int = Field(600, gt=0)
    hold_hours: float = Field(24, ge=0)
    log_level: str = "INFO"

    @field_validator("admin_ids", "requester_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part.strip() for part in value.replace(";", ",").split(",")]
            return frozenset(_user_id(part) for part in parts if part)
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("payout_threshold", mode="before")
    @classmethod
    def _is_money(cls, value: object) -> object:
        # refuses words, negatives and sub-micro precision at start-up, not at first payout
        to_micros(value)  # type: ignore[arg-type]  # a str from the environment, or a Decimal or int
        return value

    @field_validator("database_url")
    @classmethod
    def _is_usable_database(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("is not a database URL, e.g. sqlite+aiosqlite:///crowdshelf.db") from None
        backend = url.get_backend_name()
        wanted = ASYNC_DRIVERS.get(backend)
        if wanted is None:
            drivers = " or ".join(f"{driver}://" for driver in ASYNC_DRIVERS.values())
            raise ValueError(f"must start with {drivers}")
        if url.drivername != wanted:
            raise ValueError(f"has no async driver: write {wanted}:// instead of {url.drivername}://")
        if backend == "sqlite" and url.database and url.database != ":memory:":
            folder = Path(url.database).parent
            if not folder.is_dir():
                raise ValueError(f"names a SQLite file in {str(folder)!r}, a directory that does not exist")
        return value

    @field_validator("log_level")
    @classmethod
    def _is_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in logging.getLevelNamesMapping():
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @property
    def payout_threshold_micros(self) -> int:
        return to_micros(self.payout_threshold)

    def require_token(self) -> str:
        """The token, or a one-line explanation of how to get one."""
        token = self.bot_token.strip()
        if token in PLACEHOLDER_TOKENS or ":" not in token:
            raise MissingToken(
                "BOT_TOKEN is not set: create a bot with @BotFather in Telegram "
                "(send /newbot), then put BOT_TOKEN=<the token it gives you> in .env"
            )
        return token


def _user_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"must be Telegram user ids (numbers) separated by commas, not {text!r}") from None


def load_settings() -> Settings:
    """The settings from the environment and `.env`, or a ConfigError naming every key that is wrong."""
    try:
        return Settings()
    except ValidationError as error:
        problems = [_problem(str(detail["loc"][0]), detail["msg"]) for detail in error.errors()]
        raise ConfigError("crowdshelf: configuration: " + "; ".join(problems)) from None


def _problem(field: str, message: str) -> str:
    # pydantic prefixes what a validator says; the key is the field's name in capitals (no prefix is set).
    return f"{field.upper()} {message.removeprefix('Value error, ')}".replace("\n", " ").strip()
