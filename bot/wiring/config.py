"""Settings read from the environment or `.env`; the key names are a public interface."""

import logging
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.errors import DomainError, ErrorCode, InvalidInput, Problem, ProblemCode, ValueProblem
from bot.money.amounts import to_micros
from handlers import i18n

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///crowdshelf.db"
PLACEHOLDER_TOKENS = {"", "changeme", "change-me", "your-token-here", "<token>", "123456:ABC"}
# The database back ends the bot runs on, each with the async driver it needs.
ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


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
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    requester_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    currency: str = "USD"
    payout_threshold: Decimal = Decimal("10.00")
    payout_sweep_seconds: int = Field(3600, gt=0)
    assignment_ttl_seconds: int = Field(600, gt=0)
    hold_hours: float = Field(24, ge=0)
    log_level: str = "INFO"
    # The language of people whose Telegram language has no catalogue (and of the command line).
    default_language: str = i18n.SOURCE

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

    @property
    def payout_threshold_micros(self) -> int:
        return to_micros(self.payout_threshold)

    def require_token(self) -> str:
        """The token, or a one-line explanation of how to get one."""
        token = self.bot_token.strip()
        if token in PLACEHOLDER_TOKENS or ":" not in token:
            raise MissingToken()
        return token


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
