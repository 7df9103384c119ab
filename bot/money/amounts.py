"""Amounts are integers in micros (1/1,000,000 of the currency unit); this converts and formats them."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

MICROS = 1_000_000
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}
# The most anyone may type as an amount (/fund, /payout, /target): a billion units is far beyond any real
# funding or payout, and at 10^15 micros it leaves a 64-bit column (9.2 × 10^18) room for thousands of
# them summed in one balance; a bigger amount would overflow the database instead of being refused.
MAX_TYPED_AMOUNT = 1_000_000_000


def to_micros(amount: Decimal | str | int, most: int | None = None) -> int:
    """Parse a currency amount ("0.02", Decimal) into micros, refusing negatives, sub-micro precision
    and, when given, more than `most` units."""
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation:
        raise ValueError(f"{amount!r} is not an amount of money") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{amount!r} is not a non-negative amount of money")
    if most is not None and value > most:  # before the product, which "1e999999" would overflow
        raise ValueError(f"{amount!r} is more than {most:,}, the largest amount accepted")
    micros = value * MICROS
    if micros != micros.to_integral_value():
        raise ValueError(f"{amount!r} has more than 6 decimal places")
    return int(micros)


def typed_amount(text: str) -> int:
    """An amount a person typed (a command, a caption setting, a CLI flag), with or without a currency
    symbol ("$15", "15.50"), at most MAX_TYPED_AMOUNT units."""
    return to_micros(text.strip().lstrip("".join(SYMBOLS.values())), most=MAX_TYPED_AMOUNT)


def format_money(micros: int, currency: str = "USD") -> str:
    """ "$0.02", "$1,234.50" or "0.0005 BTC": two decimals unless the amount needs more."""
    sign = "-" if micros < 0 else ""
    value = Decimal(abs(micros)) / MICROS
    cents = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    text = f"{cents:,}" if cents == value else f"{value.normalize():,f}"
    symbol = SYMBOLS.get(currency.upper())
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency.upper()}"
