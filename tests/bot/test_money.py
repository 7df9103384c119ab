"""Money: parsing amounts into integer micros and formatting micros for people."""

from decimal import Decimal

import pytest

from bot.errors import Problem, ValueProblem
from bot.money.amounts import MAX_TYPED_AMOUNT, MICROS, AmountProblem, as_decimal, to_micros, typed_amount
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


@pytest.mark.parametrize("micros", [0, 1, 999_999, 1_000_000, 10_000_000, 1_234_500_000, 10**15 + 1])
def test_as_decimal_is_exact(micros: int) -> None:
    """The amount in units, read back into the same micros, and written without an exponent."""
    assert to_micros(as_decimal(micros)) == micros
    assert "E" not in f"{as_decimal(micros):f}"


def test_micros_constant() -> None:
    """One currency unit is a million micros."""
    assert MICROS == 1_000_000 and to_micros("1") == MICROS
