"""The callback-data codec: every action survives a round trip, garbage decodes to None, 64 bytes max."""

from typing import get_args

import pytest

from handlers.callbacks import (
    MAX_BYTES,
    Action,
    Browse,
    Choose,
    ChooseMethod,
    ContestGold,
    Control,
    Decide,
    Judge,
    Pick,
    ReviewHold,
    Rules,
    Skip,
    StartWork,
    Statement,
    Stop,
    decode,
    encode,
)
from taxonomy import load_default

BIG = 9_999_999_999_999_999_999  # the largest 19-digit id

ACTIONS: list[Action] = [
    Browse(1, None, 0),
    Browse(17, 638, 3),
    Browse(0, 0, 0),
    Browse(BIG, BIG, BIG),
    Browse(BIG, None, BIG),
    Pick(5, 0, 664),
    Pick(BIG, 19, BIG),
    Skip(12),
    Skip(BIG),
    Stop(7),
    Stop(BIG),
    StartWork(),
    ReviewHold(1, 101, remove=True),
    ReviewHold(BIG, BIG, remove=False),
    ChooseMethod("paypal"),
    Decide(3, approve=True),
    Decide(BIG, approve=False),
    Statement(2026),
    Choose(1, "reward", 20_000),
    Choose(BIG, "overlap", 5),
    Choose(BIG, "adaptive", 5),
    Choose(BIG, "reward", 1_000_000_000_000_000),  # a caption's reward to confirm: up to a billion units
    Control(2, "launch"),
    Control(BIG, "jsonl"),
    Control(BIG, "chart"),
    Rules(4),
    ContestGold(BIG),
    Judge(6, "corrected"),
    Judge(BIG, "upheld"),
]


@pytest.mark.parametrize("action", ACTIONS, ids=repr)
def test_round_trip(action: Action) -> None:
    """decode(encode(a)) == a for every kind of action, including 19-digit ids."""
    data = encode(action)
    assert len(data.encode()) <= MAX_BYTES
    assert decode(data) == action


def test_each_action_kind_is_covered() -> None:
    """The round-trip table holds every action type the codec knows."""
    assert {type(action) for action in ACTIONS} == set(get_args(Action))


@pytest.mark.parametrize(
    "data",
    [
        None,
        "",
        "q",
        "w:",
        "ww",
        " w",
        "W",
        "S:1",
        "s:",
        "s:x",
        "s:-1",
        "s:+1",
        "s:1.0",
        "s:01",
        "s:00",
        "s:1 ",
        "s:1\n",
        "s:١",  # an Arabic-Indic digit: str.isdigit() says yes, the codec must say no
        "s:²",
        "s:1:2",
        "x:1:",
        "p:1",
        "p:1:2",
        "p:1:2:3:4",
        "p:1:-",
        "p:1:-:2",
        "p:1:0:-",
        "p:-1:0:2",
        "p:1:-1:2",
        "p:01:0:2",
        "p:1:00:2",
        "p:1:0:02",
        "p:1:0:",
        "b:1:-",
        "b:1:2",
        "b:1:-:0:",
        "b:1:-:00",
        "b:1:--:0",
        "b:1:02:0",
        "b:1:2:-1",
        "b:-1:2:0",
        "s:99999999999999999999",  # 20 digits
        "b:" + "1" * 70,
        "s:" + "1" * 63,  # over 64 bytes
        "h:1:2",
        "h:1:2:x",
        "h:1:-2:r",
        "d:1:x:5",
        "d:1:a:",
        "d:1:ao:5",
    ],
)
def test_decode_rejects_what_this_bot_did_not_make(data: str | None) -> None:
    """Malformed, zero-padded, negative, extra-field, non-ASCII or oversized data decodes to None."""
    assert decode(data) is None


@pytest.mark.parametrize("data", ["s:0", "s:10", "x:100", "p:0:0:0", "p:10:0:100", "b:0:-:0"])
def test_decode_accepts_canonical_zero_and_plain_numbers(data: str) -> None:
    """A lone zero is canonical and accepted; only *leading* zeros are refused."""
    decoded = decode(data)
    assert decoded is not None
    assert encode(decoded) == data


def test_every_default_taxonomy_node_fits() -> None:
    """Browsing and picking any node of the bundled taxonomy, with huge assignment ids and pages, fits 64 bytes."""
    tree = load_default()
    assert len(tree) > 5000
    for node in tree:
        for action in (Browse(BIG, node.id, 999), Pick(BIG, 19, node.id)):
            data = encode(action)
            assert len(data.encode()) <= MAX_BYTES
            assert decode(data) == action


def test_encode_refuses_data_over_the_limit() -> None:
    """A value that could not fit in 64 bytes is refused, not truncated."""
    with pytest.raises(ValueError):
        encode(Browse(10**40, 10**40, 10**40))
