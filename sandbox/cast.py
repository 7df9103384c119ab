"""The people of the sandbox: Telegram users with a role in the bot, whom the web page can act as."""

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    REQUESTER = "requester"
    WORKER = "worker"


@dataclass(frozen=True)
class Person:
    user_id: int
    name: str
    role: Role


CAST = (
    Person(2, "Rex", Role.REQUESTER),
    Person(11, "Wendy", Role.WORKER),
    Person(12, "Walt", Role.WORKER),
    Person(13, "Wanda", Role.WORKER),
    Person(1, "Ada", Role.ADMIN),
)


def ids_of(people: tuple[Person, ...], role: Role) -> frozenset[int]:
    return frozenset(person.user_id for person in people if person.role == role)
