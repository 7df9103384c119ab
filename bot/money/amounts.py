"""Amounts are integers in micros (1/1,000,000 of the currency unit); this converts them (the text layer
writes them: handlers.formatting.money)."""

from decimal import Decimal, InvalidOperation

from bot.errors import ProblemCode, ValueProblem

MICRO_DIGITS = 6
MICROS = 10**MICRO_DIGITS
# Currency symbols a person may type before an amount ("$15"); they are read past, not checked.
TYPED_SYMBOLS = "$€£"
# The most anyone may type as an amount (/fund, /payout, /target): a billion units is far beyond any real
# funding or payout, and at 10^15 micros it leaves a 64-bit column (9.2 × 10^18) room for thousands of
# them summed in one balance; a bigger amount would overflow the database instead of being refused.
MAX_TYPED_AMOUNT = 1_000_000_000


class AmountProblem(ProblemCode):
    """An amount that cannot be read: {amount} as given."""

    NOT_AN_AMOUNT = "amount_not_an_amount"
    NEGATIVE = "amount_negative"
    TOO_LARGE = "amount_too_large"  # {amount, most}
    TOO_PRECISE = "amount_too_precise"


def to_micros(amount: Decimal | str | int, most: int | None = None) -> int:
    """Parse a currency amount ("0.02", Decimal) into micros, refusing negatives, sub-micro precision
    and, when given, more than `most` units (a ValueProblem: a ValueError that says which)."""
    given = str(amount)
    try:
        value = Decimal(given.strip())
    except InvalidOperation:
        raise ValueProblem(AmountProblem.NOT_AN_AMOUNT, amount=given) from None
    if not value.is_finite() or value < 0:
        raise ValueProblem(AmountProblem.NEGATIVE, amount=given)
    if most is not None and value > most:  # before the product, which "1e999999" would overflow
        raise ValueProblem(AmountProblem.TOO_LARGE, amount=given, most=most)
    micros = value * MICROS
    if micros != micros.to_integral_value():
        raise ValueProblem(AmountProblem.TOO_PRECISE, amount=given)
    return int(micros)


def typed_amount(text: str) -> int:
    """An amount a person typed (a command, a caption setting, a CLI flag), with or without a currency
    symbol ("$15", "15.50"), at most MAX_TYPED_AMOUNT units."""
    return to_micros(text.strip().lstrip(TYPED_SYMBOLS), most=MAX_TYPED_AMOUNT)


def as_decimal(micros: int) -> Decimal:
    """The exact amount in currency units, e.g. 1234500000 → 1234.5 (for records and files, not for people)."""
    return Decimal(micros).scaleb(-MICRO_DIGITS).normalize()
