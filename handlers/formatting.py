"""Money, numbers, percentages, dates and durations as the current language writes them (Babel's CLDR
data), so that "$1,234.50" reads "1.234,50 $" to a German worker and no figure is formatted by hand."""

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from babel.dates import format_skeleton, format_timedelta
from babel.numbers import format_currency, format_decimal, format_percent

from bot.money.amounts import as_decimal
from handlers import i18n
from handlers.i18n import gettext as _


def money(micros: int, currency: str) -> str:
    """An amount exactly as stored: at least the currency's usual decimals ("$0.02", "$1,234.50"),
    more when the amount has them ("$0.0005"); never rounded."""
    return format_currency(as_decimal(micros), currency.upper(), locale=i18n.locale(), decimal_quantization=False)


def number(value: float | Decimal) -> str:
    """A count or a size with the language's grouping ("131,072")."""
    return format_decimal(value, locale=i18n.locale())


def decimal(value: float, digits: int) -> str:
    """A measure with `digits` decimals ("1.5")."""
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=i18n.locale())


def percent(share: float) -> str:
    """A share in whole percent ("73%")."""
    return format_percent(share, locale=i18n.locale())


def percent_at_most(share: float) -> str:
    """A share in whole percent rounded down: an upper bound of 0.6994 must not read as the 70 % it falls
    short of."""
    return percent(math.floor(share * 100) / 100)


def moment(at: datetime) -> str:
    """A date and time in UTC, saying so ("Dec 6, 2026, 20:03 UTC")."""
    locale = i18n.locale()
    date = format_skeleton("yMMMd", at, tzinfo=UTC, locale=locale)
    time = format_skeleton("Hm", at, tzinfo=UTC, locale=locale)
    return _("{when} UTC").format(when=str(locale.datetime_formats["medium"]).format(time, date))


def duration(delta: timedelta) -> str:
    """About how long ("2 hours", "5 minutes"): for estimates, where one unit says enough."""
    return format_timedelta(max(delta, timedelta(minutes=1)), granularity="minute", locale=i18n.locale())
