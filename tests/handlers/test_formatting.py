"""Figures as the reader's language writes them, by Babel: money exact to the micro, grouped numbers,
whole percentages, dates in UTC, durations and plural forms."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from babel.numbers import parse_decimal
from hypothesis import given
from hypothesis import strategies as st

from bot.money.amounts import to_micros
from handlers import formatting, i18n


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
        (1_500_000, "JPY", "¥1.5"),  # a yen has no decimals, but a micro-amount keeps its own
    ],
)
def test_money_in_english(micros: int, currency: str, text: str) -> None:
    """The currency's decimals for whole cents, as many as needed below a cent, never rounded."""
    assert formatting.money(micros, currency) == text


@pytest.mark.parametrize(
    ("micros", "text"),
    [(1_234_500_000, "1.234,50\xa0€"), (500, "0,0005\xa0€"), (-2_500_000, "-2,50\xa0€")],
)
def test_money_in_german(german: str, micros: int, text: str) -> None:
    with i18n.speaking(german):
        assert formatting.money(micros, "EUR") == text


@given(st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from(["en", "de"]))
def test_money_reads_back_to_the_same_micros(micros: int, language: str) -> None:
    """Whatever the amount and the language's separators, the figure shown is the amount stored."""
    with i18n.speaking(language):
        text = formatting.money(micros, "EUR")
    figure = text.replace("€", "").replace("\xa0", "").strip()
    assert to_micros(abs(parse_decimal(figure, locale=language))) == abs(micros)


def test_numbers_are_grouped_the_language_s_way(german: str) -> None:
    assert formatting.number(131_072) == "131,072"
    assert formatting.decimal(2.25, 1) == "2.2"  # half to even, as Babel rounds
    with i18n.speaking(german):
        assert formatting.number(131_072) == "131.072"
        assert formatting.decimal(1.5, 1) == "1,5"


def test_percentages_are_whole(german: str) -> None:
    assert formatting.percent(0.734) == "73%"
    assert formatting.percent(1) == "100%"
    with i18n.speaking(german):
        assert formatting.percent(0.734) == "73\xa0%"


def test_an_upper_bound_is_rounded_down() -> None:
    """0.6994 falls short of 70 %: said as 69 %, not rounded up to the mark it misses."""
    assert formatting.percent_at_most(0.6994) == "69%"
    assert formatting.percent(0.6994) == "70%"
    assert formatting.percent_at_most(0.7) == "70%"


def test_a_moment_is_in_utc_and_says_so(german: str) -> None:
    at = datetime(2026, 12, 6, 20, 3, tzinfo=UTC)
    assert formatting.moment(at) == "Dec 6, 2026, 20:03 UTC"
    # a time given in another zone is shown in UTC all the same
    assert formatting.moment(at.astimezone(timezone(timedelta(hours=2)))) == "Dec 6, 2026, 20:03 UTC"
    with i18n.speaking(german):
        assert formatting.moment(at) == "6. Dez. 2026, 20:03 UTC"


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=20), "1 minute"),
        (timedelta(minutes=5), "5 minutes"),
        (timedelta(hours=2), "2 hours"),
        (timedelta(days=3), "3 days"),
    ],
)
def test_durations_are_said_in_one_unit(delta: timedelta, text: str) -> None:
    assert formatting.duration(delta) == text


def test_plural_forms_follow_the_count(german: str) -> None:
    assert [i18n.ngettext("{count} minute", "{count} minutes", n).format(count=n) for n in (1, 2)] == [
        "1 minute",
        "2 minutes",
    ]
    with i18n.speaking(german):
        assert [i18n.ngettext("{count} minute", "{count} minutes", n).format(count=n) for n in (0, 1, 2)] == [
            "0 Minuten",
            "1 Minute",
            "2 Minuten",
        ]


def test_decimal_money_is_not_a_float() -> None:
    """A micro-amount a float would blur (0.1 + 0.2) is shown as stored."""
    assert formatting.money(to_micros(Decimal("0.300001")), "USD") == "$0.300001"
