"""Why something happened to a person (a hold, a removal, a rejected payout, a suspension), as a code
with parameters: stored as JSON text in the reason columns and in outbox messages, worded by the text
layer when shown. What an admin types as a reason is the TEXT code with their words as they typed them."""

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ReasonCode(StrEnum):
    """A stored reason's code; each area derives its own enum."""


class Typed(ReasonCode):
    TEXT = "text"  # {text}: a person's own words, shown as they wrote them


@dataclass(frozen=True)
class Reason:
    code: str  # a ReasonCode's value (read back from the database as a plain string)
    params: Mapping[str, Any] = field(default_factory=dict)  # plain values, or a nested Reason

    @classmethod
    def of(cls, code: ReasonCode, **params: Any) -> "Reason":
        return cls(code, params)

    @classmethod
    def typed(cls, text: str) -> "Reason":
        return cls(Typed.TEXT, {"text": text})

    def as_dict(self) -> dict[str, Any]:
        """The JSON form, as `dataclasses.asdict` makes it too: {"code": …, "params": {…}}."""
        params = {key: value.as_dict() if isinstance(value, Reason) else value for key, value in self.params.items()}
        return {"code": str(self.code), "params": params}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Reason":
        params = {key: cls.from_dict(value) if _is_reason(value) else value for key, value in data["params"].items()}
        return cls(str(data["code"]), params)

    def __str__(self) -> str:
        return f"{self.code} {dict(self.params)}" if self.params else self.code


def _is_reason(value: object) -> bool:
    return isinstance(value, Mapping) and set(value) == {"code", "params"}


def dumps(reason: Reason, limit: int) -> str:
    """The reason as stored in a column of `limit` characters; a person's long words are cut to fit."""
    text = _json(reason)
    if len(text) <= limit:
        return text
    if reason.code != Typed.TEXT:
        raise ValueError(f"reason {reason.code} does not fit in {limit} characters")
    words = str(reason.params["text"])[:limit]
    while len(text := _json(Reason.typed(words))) > limit:
        # An escaped character takes up to 6 (\u001b): cutting a sixth of what is over never cuts too much.
        words = words[: len(words) - math.ceil((len(text) - limit) / 6)]
    return text


def _json(reason: Reason) -> str:
    return json.dumps(reason.as_dict(), ensure_ascii=False, separators=(",", ":"))


def loads(text: str) -> Reason:
    return Reason.from_dict(json.loads(text))


def loads_optional(text: str | None) -> Reason | None:
    return None if text is None else loads(text)
