"""Settings read from the environment or `.env`; the key names are a public interface."""

import logging
import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.errors import DomainError, ErrorCode, InvalidInput, Problem, ProblemCode, ValueProblem
from bot.money.amounts import to_micros
from handlers import i18n
from storage.db import DEFAULT_MAX_CONNECTIONS

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///crowdshelf.db"
PLACEHOLDER_TOKENS = {"", "changeme", "change-me", "your-token-here", "<token>", "123456:ABC"}
# The database back ends the bot runs on, each with the async driver it needs.
ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# What Telegram takes as a webhook's secret token: 1-256 of these characters.
WEBHOOK_SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")


class ConfigRefusal(ErrorCode):
    INVALID = "config_invalid"  # the problems name each key; said on one line
    NO_TOKEN = "config_no_token"


class ConfigProblem(ProblemCode):
    """A setting that cannot be used: {key} (its name in the environment) and what is wrong."""

    INVALID = "config_setting_invalid"  # {key, problem}: what its validator found
    NOT_READ = "config_setting_not_read"  # {key, detail}: pydantic's own words (a number that is no number, …)


class ConfigValue(ProblemCode):
    """What a setting's validator finds wrong (said after the key)."""

    NOT_A_DATABASE_URL = "config_not_a_database_url"
    UNKNOWN_BACKEND = "config_unknown_backend"  # {drivers}
    NO_ASYNC_DRIVER = "config_no_async_driver"  # {wanted, given}: driver names
    NO_SUCH_FOLDER = "config_no_such_folder"  # {folder}
    NOT_A_LOG_LEVEL = "config_not_a_log_level"  # {levels}
    NOT_USER_IDS = "config_not_user_ids"  # {text}
    NOT_A_LANGUAGE = "config_not_a_language"  # {languages}: those with a catalogue
    NOT_HOST_PORT = "config_not_host_port"  # {text}
    NOT_A_PATH = "config_not_a_path"
    NOT_A_URL = "config_not_a_url"
    SECRET_NEEDED = "config_secret_needed"
    NOT_A_SECRET = "config_not_a_secret"


class MissingToken(DomainError):
    """Raised when the bot is asked to run without a usable BOT_TOKEN."""

    default_code = ConfigRefusal.NO_TOKEN


class ConfigError(InvalidInput):
    """Settings that cannot be used: one problem per key, said on one line."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: str = ""
    telegram_api_url: str = "https://api.telegram.org"
    database_url: str = DEFAULT_DATABASE_URL
    # PostgreSQL: the most connections `crowdshelf run` opens (storage.db.connect). Instances times this must
    # stay under the server's max_connections (100 unless set), with room left for the command line.
    database_max_connections: int = Field(DEFAULT_MAX_CONNECTIONS, gt=0)
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    requester_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    currency: str = "USD"
    payout_threshold: Decimal = Decimal("10.00")
    payout_sweep_seconds: int = Field(3600, gt=0)
    assignment_ttl_seconds: int = Field(600, gt=0)
    hold_hours: float = Field(24, ge=0)
    log_level: str = "INFO"
    # This process's pace of messages to Telegram (sends and edits), AIORateLimiter's overall limit: by default
    # Telegram's documented limit for a bot. Telegram's limits are the bot's, not a process's: each of N
    # instances at this pace makes N times it together (crowdshelf_telegram_floods_total counts the 429s).
    telegram_messages_per_second: float = Field(30, gt=0)
    # The language of people whose Telegram language has no catalogue (and of the command line).
    default_language: str = i18n.SOURCE
    # Empty: long polling. Set: `crowdshelf run` serves Telegram's webhook (registered by `crowdshelf webhook set`).
    webhook_url: str = ""
    webhook_listen: str = "0.0.0.0:8080"
    webhook_path: str = "/telegram"
    # How long an instance's claim on an update outlives its last renewal (renewed while it processes the
    # update): a killed instance's update is taken over by another this long after, at the latest.
    webhook_lease_seconds: int = Field(30, gt=0)
    # Checked after webhook_url (declared first), so its validator sees whether webhook mode is on.
    webhook_secret: str = Field("", validate_default=True)

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
            raise ValueProblem(ConfigValue.NOT_A_DATABASE_URL) from None
        backend = url.get_backend_name()
        wanted = ASYNC_DRIVERS.get(backend)
        if wanted is None:
            raise ValueProblem(
                ConfigValue.UNKNOWN_BACKEND, drivers=[f"{driver}://" for driver in ASYNC_DRIVERS.values()]
            )
        if url.drivername != wanted:
            raise ValueProblem(ConfigValue.NO_ASYNC_DRIVER, wanted=wanted, given=url.drivername)
        if backend == "sqlite" and url.database and url.database != ":memory:":
            folder = Path(url.database).parent
            if not folder.is_dir():
                raise ValueProblem(ConfigValue.NO_SUCH_FOLDER, folder=str(folder))
        return value

    @field_validator("log_level")
    @classmethod
    def _is_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in logging.getLevelNamesMapping():
            raise ValueProblem(ConfigValue.NOT_A_LOG_LEVEL, levels=list(LOG_LEVELS))
        return level

    @field_validator("default_language")
    @classmethod
    def _is_spoken(cls, value: str) -> str:
        language = i18n.supported(value)
        if language is None:
            raise ValueProblem(ConfigValue.NOT_A_LANGUAGE, languages=i18n.languages())
        return language

    @field_validator("webhook_url")
    @classmethod
    def _is_url(cls, value: str) -> str:
        value = value.strip()
        if value and (urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).hostname):
            raise ValueProblem(ConfigValue.NOT_A_URL)
        return value

    @field_validator("webhook_listen")
    @classmethod
    def _is_host_port(cls, value: str) -> str:
        listen_address(value)
        return value

    @field_validator("webhook_path")
    @classmethod
    def _is_path(cls, value: str) -> str:
        if not value.startswith("/") or any(char.isspace() for char in value):
            raise ValueProblem(ConfigValue.NOT_A_PATH)
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _is_secret(cls, value: str, info: ValidationInfo) -> str:
        if not value and info.data.get("webhook_url"):
            raise ValueProblem(ConfigValue.SECRET_NEEDED)
        if value and not WEBHOOK_SECRET_PATTERN.fullmatch(value):
            raise ValueProblem(ConfigValue.NOT_A_SECRET)
        return value

    @property
    def listen(self) -> tuple[str, int]:
        """WEBHOOK_LISTEN as the host and port the web server binds."""
        return listen_address(self.webhook_listen)

    @property
    def payout_threshold_micros(self) -> int:
        return to_micros(self.payout_threshold)

    @property
    def has_token(self) -> bool:
        """Whether BOT_TOKEN looks like a token at all (Telegram alone says whether it is valid)."""
        token = self.bot_token.strip()
        return token not in PLACEHOLDER_TOKENS and ":" in token

    def require_token(self) -> str:
        """The token, or a one-line explanation of how to get one."""
        if not self.has_token:
            raise MissingToken()
        return self.bot_token.strip()


def listen_address(text: str) -> tuple[str, int]:
    """`host:port` (`[::1]:8080` for an IPv6 host) as its parts, or a problem naming what was given."""
    host, colon, port = text.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueProblem(ConfigValue.NOT_HOST_PORT, text=text)
    return host, int(port)


def _user_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueProblem(ConfigValue.NOT_USER_IDS, text=text) from None


def load_settings() -> Settings:
    """The settings from the environment and `.env`, or a ConfigError naming every key that is wrong."""
    try:
        return Settings()
    except ValidationError as error:
        raise ConfigError(ConfigRefusal.INVALID, [_problem(detail) for detail in error.errors()]) from None


def _problem(detail: Any) -> Problem:
    key = str(detail["loc"][0]).upper()  # the key is the field's name in capitals (no prefix is set)
    found = detail.get("ctx", {}).get("error")
    if isinstance(found, ValueProblem):
        return Problem.of(ConfigProblem.INVALID, key=key, problem=found.problem)
    return Problem.of(ConfigProblem.NOT_READ, key=key, detail=detail["msg"].replace("\n", " ").strip())
