"""Money: parsing amounts into integer micros and formatting micros for people."""

from decimal import Decimal

import pytest

from bot.errors import Problem, ValueProblem
from bot.money.amounts import MAX_TYPED_AMOUNT, MICROS, AmountProblem, format_money, to_micros, typed_amount
from tests.words import said


@pytest.mark.parametrize(
    ("amount", "micros"),
    [
        ("0", 0),
        ("0.02", 20_000),
        ("10.00", 10_000_000),
        (" 1.5 ", 1_500_000),
        ("0.000001", 1),
        ("1.0000000", 1_000_000),  # trailing zeros beyond six places lose nothing
        ("123456789.123456", 123_456_789_123_456),
        (Decimal("0.25"), 250_000),
        (3, 3_000_000),
        ("-0", 0),
    ],
)
def test_to_micros_parses_exactly(amount: str | Decimal | int, micros: int) -> None:
    """Amounts become exact integers of micros, never rounded through floats."""
    result = to_micros(amount)
    assert result == micros
    assert isinstance(result, int)


@pytest.mark.parametrize("amount", ["-0.01", "-1", Decimal("-0.000001")])
def test_to_micros_refuses_negatives(amount: str | Decimal) -> None:
    """A negative amount of money is refused with a ValueError."""
    with pytest.raises(ValueProblem) as raised:
        to_micros(amount)
    assert said([raised.value.problem]) == (f"{str(amount)!r} is not a non-negative amount of money",)


@pytest.mark.parametrize("amount", ["0.0000001", "1.1234567", Decimal("0.0000005")])
def test_to_micros_refuses_sub_micro_precision(amount: str | Decimal) -> None:
    """More than six significant decimal places cannot be represented and is refused."""
    with pytest.raises(ValueProblem) as raised:
        to_micros(amount)
    assert raised.value.problem == Problem.of(AmountProblem.TOO_PRECISE, amount=str(amount))
    assert "6 decimal places" in said([raised.value.problem])[0]


@pytest.mark.parametrize("amount", ["", "abc", "1,000", "0.0.1", "$1", "NaN", "Infinity", "-Infinity", "1 000"])
def test_to_micros_refuses_garbage(amount: str) -> None:
    """Anything that is not a finite decimal number is refused with a ValueError."""
    with pytest.raises(ValueError):
        to_micros(amount)


@pytest.mark.parametrize("text", ["1e30", "99999999999999", "$1000000000.000001", "1e999999"])
def test_typed_amount_refuses_more_than_the_cap(text: str) -> None:
    """What would overflow the database is refused, naming the cap; "1e999999" is refused before it is multiplied."""
    with pytest.raises(ValueProblem) as raised:
        typed_amount(text)
    (problem,) = said([raised.value.problem])
    assert "is more than 1,000,000,000, the largest amount accepted" in problem


def test_typed_amount_takes_the_cap_itself() -> None:
    assert typed_amount(f"${MAX_TYPED_AMOUNT}") == MAX_TYPED_AMOUNT * MICROS < 2**63 // 1000


@pytest.mark.parametrize(
    ("micros", "currency", "text"),
    [
        (0, "USD", "$0.00"),
        (20_000, "USD", "$0.02"),
        (10_000_000, "USD", "$10.00"),
        (1_234_500_000, "USD", "$1,234.50"),
        (1_000_000_000_000, "USD", "$1,000,000.00"),
        (500, "USD", "$0.0005"),
        (1, "USD", "$0.000001"),
        (999_999, "USD", "$0.999999"),
        (1_005_000, "USD", "$1.005"),
        (-20_000, "USD", "-$0.02"),
        (20_000, "EUR", "€0.02"),
        (20_000, "gbp", "£0.02"),
        (20_000, "BTC", "0.02 BTC"),
        (500, "btc", "0.0005 BTC"),
    ],
)
def test_format_money(micros: int, currency: str, text: str) -> None:
    """Two decimals for whole cents, as many as needed below a cent, symbol or code, sign first."""
    assert format_money(micros, currency) == text


@pytest.mark.parametrize("micros", [0, 1, 9, 10_000, 12_345, 999_999, 1_000_000, 7_654_321_012, 10**15 + 1])
def test_format_then_parse_round_trips(micros: int) -> None:
    """What format_money prints (without symbol and separators) parses back to the same micros."""
    text = format_money(micros, "XYZ").removesuffix(" XYZ").replace(",", "")
    assert to_micros(text) == micros


def test_micros_constant() -> None:
    """One currency unit is a million micros."""
    assert MICROS == 1_000_000 and to_micros("1") == MICROS
