"""deploy/ read as Docker Compose would read it, so that tests can run its instances and nginx as local
processes: the bot services' environment with its ${VARIABLES} filled in, and its nginx upstream with
each service name replaced by the address an instance listens on."""

import re
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
UPSTREAM = DEPLOY / "nginx" / "upstream.conf"
# ${NAME}, ${NAME:-default} and ${NAME:?message}: the forms the compose file uses
_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<kind>:[-?])(?P<rest>[^}]*))?\}")


def services() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text())["services"])


def bot_services() -> dict[str, dict[str, Any]]:
    """The crowdshelf instances: the services built from the project's Dockerfile."""
    return {name: service for name, service in services().items() if "build" in service}


def interpolate(value: str, variables: dict[str, str]) -> str:
    """`value` with its ${…} filled in from `variables`, as Compose does; a missing :? variable fails."""

    def fill(match: re.Match[str]) -> str:
        name, kind, rest = match["name"], match["kind"], match["rest"]
        if variables.get(name):
            return variables[name]
        if kind == ":?":
            raise KeyError(f"the compose file needs {name}: {rest}")
        return rest if kind == ":-" else ""

    return _VARIABLE.sub(fill, value)


def bot_environment(service: str, variables: dict[str, str]) -> dict[str, str]:
    """The environment Compose gives `service`, its ${…} filled in from `variables`."""
    environment = bot_services()[service]["environment"]
    return {key: interpolate(str(value), variables) for key, value in environment.items()}


def upstream(addresses: dict[str, str]) -> str:
    """deploy/'s upstream block with each `service:port` replaced by `addresses[service]` (host:port)."""
    text = UPSTREAM.read_text()
    for service, address in addresses.items():
        text, replaced = re.subn(rf"\bserver {re.escape(service)}:\d+", f"server {address}", text)
        assert replaced == 1, f"{UPSTREAM.name} names {service} {replaced} times"
    return text
