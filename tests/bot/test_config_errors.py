"""A setting the bot cannot use stops `crowdshelf` with one line naming the key, never a traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG_KEYS = (
    "BOT_TOKEN",
    "DATABASE_URL",
    "DATABASE_MAX_CONNECTIONS",
    "ADMIN_IDS",
    "REQUESTER_IDS",
    "PAYOUT_THRESHOLD",
    "LOG_LEVEL",
    "TELEGRAM_MESSAGES_PER_SECOND",
    "DEFAULT_LANGUAGE",
    "WEBHOOK_URL",
    "WEBHOOK_LISTEN",
    "WEBHOOK_PATH",
    "WEBHOOK_SECRET",
)


def crowdshelf(tmp_path: Path, command: list[str], **environment: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot.wiring.cli COMMAND` in an empty directory (no .env), with only `environment` set of its keys."""
    env = {key: value for key, value in os.environ.items() if key not in CONFIG_KEYS}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(BOT_TOKEN="123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", **environment)
    return subprocess.run(
        [sys.executable, "-m", "bot.wiring.cli", *command],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("command", [["run"], ["db", "upgrade"]])
@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("DATABASE_URL", "sqlite:///x.db", "has no async driver: write sqlite+aiosqlite:// instead of sqlite://"),
        (
            "DATABASE_URL",
            "postgresql://postgres@127.0.0.1:5432/crowdshelf",
            "has no async driver: write postgresql+asyncpg:// instead of postgresql://",
        ),
        ("DATABASE_URL", "mysql://db/crowdshelf", "must start with sqlite+aiosqlite:// or postgresql+asyncpg://"),
        ("DATABASE_URL", "sqlite+aiosqlite:///no/such/folder/x.db", "a directory that does not exist"),
        ("DATABASE_URL", "not a url", "is not a database URL"),
        ("DATABASE_MAX_CONNECTIONS", "0", "greater than 0"),
        ("ADMIN_IDS", "alice", "must be Telegram user ids (numbers) separated by commas, not 'alice'"),
        ("REQUESTER_IDS", "1, bob", "not 'bob'"),
        ("PAYOUT_THRESHOLD", "ten", "'ten' is not an amount of money"),
        ("LOG_LEVEL", "LOUD", "must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("TELEGRAM_MESSAGES_PER_SECOND", "0", "greater than 0"),
        ("TELEGRAM_MESSAGES_PER_SECOND", "fast", "a valid number"),
        ("DEFAULT_LANGUAGE", "xx", "must be a language the bot speaks: en"),
        ("DEFAULT_LANGUAGE", "de", "must be a language the bot speaks: en"),  # a language, but no catalogue
        ("DEFAULT_LANGUAGE", "not a language", "must be a language the bot speaks: en"),
        ("WEBHOOK_LISTEN", "8080", "must be host:port, e.g. 0.0.0.0:8080, not '8080'"),
        ("WEBHOOK_LISTEN", "0.0.0.0:99999", "not '0.0.0.0:99999'"),
        ("WEBHOOK_PATH", "telegram", "must be a URL path starting with /"),
        ("WEBHOOK_URL", "bot.example.com/telegram", "must be the webhook's public URL"),
        ("WEBHOOK_SECRET", "not secret!", "must be 1-256 characters, each a letter, a digit, _ or -"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_key(
    tmp_path: Path, command: list[str], key: str, value: str, says: str
) -> None:
    done = crowdshelf(tmp_path, command, **{key: value})
    assert done.returncode == 2
    assert done.stderr.endswith("\n") and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"crowdshelf: configuration: {key} ") and says in done.stderr
    assert list(tmp_path.iterdir()) == [], "nothing was created, no database file either"


def test_a_regional_default_language_is_spoken_in_its_language(tmp_path: Path) -> None:
    done = crowdshelf(tmp_path, ["db", "upgrade"], DATABASE_URL="sqlite+aiosqlite:///x.db", DEFAULT_LANGUAGE="en-GB")
    assert (done.returncode, done.stdout, done.stderr) == (0, "Database is up to date.\n", "")


def test_a_lower_case_log_level_is_taken(tmp_path: Path) -> None:
    done = crowdshelf(tmp_path, ["db", "upgrade"], DATABASE_URL="sqlite+aiosqlite:///x.db", LOG_LEVEL="warning")
    assert (done.returncode, done.stdout, done.stderr) == (0, "Database is up to date.\n", "")


@pytest.mark.parametrize("command", [["run"], ["webhook", "set"]])
def test_webhook_mode_without_its_secret_is_one_line_naming_the_secret(tmp_path: Path, command: list[str]) -> None:
    done = crowdshelf(tmp_path, command, WEBHOOK_URL="https://bot.example.com/telegram")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("crowdshelf: configuration: WEBHOOK_SECRET must be set when WEBHOOK_URL is")
    assert list(tmp_path.iterdir()) == []
