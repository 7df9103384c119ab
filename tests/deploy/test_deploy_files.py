"""deploy/ agrees with the code and with itself: the compose file's settings are settings the bot reads
and accepts, its database is its PostgreSQL service, its health check and nginx's upstream reach the
port the instances listen on, and the image holds every package its code imports.

(The scale-out test runs these instances and this nginx configuration as local processes.)"""

import ast
import re
from pathlib import Path

import pytest
from sqlalchemy import make_url
from telegram.constants import FloodLimit

from bot.wiring.config import Settings
from tests.deploy import compose

ROOT = compose.DEPLOY.parent
PROJECT_PACKAGES = {path.parent.name for path in ROOT.glob("*/__init__.py")}
FILLED = {
    "BOT_TOKEN": "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
    "WEBHOOK_URL": "https://bot.example.com/telegram",
    "WEBHOOK_SECRET": "0123456789abcdef0123456789abcdef",
}


def test_three_instances_from_one_template_behind_nginx() -> None:
    bots = compose.bot_services()
    assert sorted(bots) == ["bot1", "bot2", "bot3"]
    assert all(service == bots["bot1"] for service in bots.values()), "every instance is configured alike"
    nginx = compose.services()["nginx"]
    assert sorted(nginx["depends_on"]) == sorted(bots)
    for volume in nginx["volumes"]:
        source = volume.split(":")[0]
        assert (compose.DEPLOY / source).is_file(), f"nginx mounts {source}, which deploy/ lacks"


def _instance_settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings an instance reads from the environment compose gives it, and nothing else."""
    for key in Settings.model_fields:
        monkeypatch.delenv(key.upper(), raising=False)
    for key, value in compose.bot_environment("bot1", FILLED).items():
        monkeypatch.setenv(key, value)
    return Settings(_env_file=None)


def test_the_instances_settings_are_settings_the_bot_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    environment = compose.bot_environment("bot1", FILLED)
    known = {name.upper() for name in Settings.model_fields}
    assert set(environment) <= known, f"not settings of the bot: {set(environment) - known}"
    settings = _instance_settings(monkeypatch)
    assert settings.webhook_url == FILLED["WEBHOOK_URL"], "the instances serve the webhook"
    assert settings.database_url.startswith("postgresql+asyncpg://")


def test_the_instances_together_send_no_faster_than_telegram_allows_a_bot(monkeypatch: pytest.MonkeyPatch) -> None:
    pace = _instance_settings(monkeypatch).telegram_messages_per_second
    assert pace * len(compose.bot_services()) <= FloodLimit.MESSAGES_PER_SECOND


def test_the_instances_together_open_fewer_connections_than_postgresql_takes(monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL takes 100 connections unless told otherwise, 3 of them kept for superusers; some more are
    left for the command line (`crowdshelf db check`, `batch load`)."""
    allowed = _instance_settings(monkeypatch).database_max_connections
    assert "command" not in compose.services()["db"], "the compose file leaves PostgreSQL's max_connections at 100"
    assert allowed * len(compose.bot_services()) <= 100 - 3 - 5


@pytest.mark.parametrize("missing", sorted(FILLED))
def test_compose_refuses_to_start_without_the_token_the_url_or_the_secret(missing: str) -> None:
    with pytest.raises(KeyError, match=missing):
        compose.bot_environment("bot1", {key: value for key, value in FILLED.items() if key != missing})


def test_the_database_is_the_postgresql_service() -> None:
    url = make_url(compose.bot_environment("bot1", FILLED)["DATABASE_URL"])
    db = compose.services()["db"]
    db_environment = {key: compose.interpolate(str(value), {}) for key, value in db["environment"].items()}
    assert (url.host, url.port) == ("db", 5432)
    assert url.username == db_environment["POSTGRES_USER"] and url.database == db_environment["POSTGRES_DB"]
    assert url.password == db_environment["POSTGRES_PASSWORD"]
    assert "db" in compose.bot_services()["bot1"]["depends_on"]


def test_nginx_and_the_health_check_reach_the_port_the_instances_listen_on() -> None:
    port = compose.bot_environment("bot1", FILLED)["WEBHOOK_LISTEN"].rsplit(":", 1)[1]
    servers = re.findall(r"^\s*server (\w+):(\d+)", compose.UPSTREAM.read_text(), re.MULTILINE)
    assert sorted(servers) == [(name, port) for name in sorted(compose.bot_services())]
    check = " ".join(compose.bot_services()["bot1"]["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}/healthz" in check


def test_nginx_makes_public_the_webhook_the_instances_serve_and_healthz_only(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _instance_settings(monkeypatch)
    server = (compose.DEPLOY / "nginx" / "crowdshelf.conf").read_text()
    proxied = re.findall(r"location = (\S+) \{\s*proxy_pass http://crowdshelf;", server)
    assert sorted(proxied) == sorted([settings.webhook_path, "/healthz"])
    assert re.search(r"location / \{\s*return 404;", server), "any other path is refused, /metrics among them"


def test_the_image_holds_every_project_package_its_code_imports() -> None:
    dockerfile = (compose.DEPLOY / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\w+) \1$", dockerfile, re.MULTILINE))
    imported = {name for package in copied for name in _project_imports(ROOT / package)}
    assert imported <= copied, f"the image lacks {sorted(imported - copied)}, which {sorted(copied)} import"
    assert re.search(r'^CMD \["crowdshelf", "run"\]$', dockerfile, re.MULTILINE)


def _project_imports(package: Path) -> set[str]:
    """The project's top-level packages that the modules under `package` import (lazily too)."""
    found = set()
    for module in package.rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    return found & PROJECT_PACKAGES
