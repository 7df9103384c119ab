"""Settings read from the environment or `.env`; the key names are a public interface."""

from decimal import Decimal
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.money import to_micros

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///crowdshelf.db"
PLACEHOLDER_TOKENS = {"", "changeme", "change-me", "your-token-here", "<token>", "123456:ABC"}


class MissingToken(ValueError):
    """Raised when the bot is asked to run without a usable BOT_TOKEN."""


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
            return frozenset(int(part) for part in parts if part)
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("payout_threshold")
    @classmethod
    def _is_money(cls, value: Decimal) -> Decimal:
        to_micros(value)  # refuses negatives and sub-micro precision at start-up, not at first payout
        return value

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
