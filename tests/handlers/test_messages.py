"""The text layer's catalogue: words for every code the core can give, and how parameters fill them in."""

import html
import importlib
import pkgutil
import string
from collections.abc import Iterator
from enum import StrEnum

import pytest

import bot
import handlers
from bot.batches.files import CardProblem, FileRefusal
from bot.batches.lifecycle import BatchRefusal
from bot.batches.settings import BatchSettings, SettingProblem
from bot.errors import (
    DomainError,
    ErrorCode,
    InvalidInput,
    Place,
    PlaceKind,
    Problem,
    ProblemCode,
    Refusal,
    TaskUnavailable,
)
from bot.money.amounts import AmountProblem
from bot.money.ledger import FundsRefusal
from bot.quality.rules import StopReason
from bot.reasons import Reason, ReasonCode, Typed, dumps, loads
from bot.tasks.attributes import AttributesProblem
from bot.tasks.reading import RowProblem
from bot.wiring.config import ConfigProblem, ConfigRefusal, ConfigValue
from handlers import messages, texts
from handlers.i18n import Plural

LINE_3, LINE_4 = Place(PlaceKind.LINE, 3), Place(PlaceKind.LINE, 4)


def _modules(package: object) -> Iterator[str]:
    for found in pkgutil.walk_packages(package.__path__, package.__name__ + "."):  # type: ignore[attr-defined]
        yield found.name


def codes(base: type[StrEnum]) -> dict[str, type[StrEnum]]:
    """Every code of every enum derived from `base`, anywhere in bot/ and handlers/, by its value."""
    for name in [*_modules(bot), *_modules(handlers)]:
        importlib.import_module(name)
    found: dict[str, type[StrEnum]] = {}
    enums = list(base.__subclasses__())
    while enums:
        enum = enums.pop()
        enums += enum.__subclasses__()
        if not enum.__module__.startswith(("bot.", "handlers.")):
            continue  # a type defined in a test brings its own words (see tests/e2e/test_extra_type.py)
        for member in enum:
            assert member.value not in found, f"{member.value} is a code of {found[member.value]} and {enum}"
            found[member.value] = enum
    return found


@pytest.mark.parametrize(
    ("base", "catalogue"),
    [(ErrorCode, messages.ERRORS), (ProblemCode, messages.PROBLEMS), (ReasonCode, messages.REASONS)],
)
def test_every_code_has_words_and_every_template_a_code(base: type[StrEnum], catalogue: dict[str, str]) -> None:
    found = codes(base)
    assert len(found) > 5, "the codes are found where the core defines them"
    assert sorted(set(found) - set(catalogue)) == [], "codes without words"
    assert sorted(set(catalogue) - set(found)) == [], "words for no code"


def forms(template: str | Plural) -> list[str]:
    return [template.singular, template.plural] if isinstance(template, Plural) else [template]


@pytest.mark.parametrize(
    "template", [*messages.ERRORS.values(), *messages.PROBLEMS.values(), *messages.REASONS.values()]
)
def test_templates_name_plain_parameters(template: str | Plural) -> None:
    """A template reads parameters by name, never an attribute or an item of one: parameters are plain values.
    A template with plural forms names the count that chooses between them in both."""
    for form in forms(template):
        fields = {field for _, field, _, _ in string.Formatter().parse(form) if field is not None}
        for _, field, spec, _ in string.Formatter().parse(form):
            if field is not None:
                assert field.isidentifier(), (form, field)
                assert "{" not in (spec or ""), form
        if isinstance(template, Plural):
            assert template.count in fields, form


def test_a_refusal_and_its_parameters() -> None:
    error = DomainError(Refusal.TASK_UNAVAILABLE)
    assert messages.error_text(error) == "This task is no longer available."
    assert messages.error_text(TaskUnavailable()) == "This task is no longer available."
    assert str(error) == "task_unavailable", "the code, for logs"
    quizzes = DomainError(BatchRefusal.QUIZ_TOP_UP_RANGE, most=1000)
    assert messages.error_text(quizzes) == "Add between 1 and 1000 quizzes at a time."
    assert "1000" in str(quizzes)


def test_amounts_are_money_in_their_currency() -> None:
    error = DomainError(FundsRefusal.FOR_BATCH, needed_micros=12_500_000, short_micros=20_000, currency="USD")
    assert messages.error_text(error) == (
        "Not enough funds: this batch needs $12.50, $0.02 more than you have available."
    )


def test_a_place_in_a_sentence_and_at_its_start() -> None:
    assert messages.error_text(DomainError(FileRefusal.EXTRA_CELLS, place=LINE_4)) == (
        "Line 4 has more cells than the header row."
    )
    repeat = Problem.of(CardProblem.ITEM_ID_REPEATS, item_id="sku-1", first=Place(PlaceKind.ITEM, 2))
    assert messages.problem_text(repeat) == "item_id 'sku-1' repeats item 2"


def test_a_rows_problems_share_its_line() -> None:
    """Problems of one row are one line; problems that belong to no row are a line each."""
    empty = Problem.of(RowProblem.EMPTY, column="title")
    problems = [
        empty.at(LINE_3),
        Problem.of(RowProblem.EMPTY, column="item_id").at(LINE_3),
        empty.at(LINE_4),
        empty,
        empty,
    ]
    assert messages.problem_lines(problems) == [
        "Line 3: title is empty; item_id is empty",
        "Line 4: title is empty",
        "title is empty",
        "title is empty",
    ]


def test_nested_problems_and_lists() -> None:
    amount = Problem.of(AmountProblem.TOO_LARGE, amount="1e30", most=1_000_000_000)
    setting = Problem.of(SettingProblem.INVALID, key="reward", problem=amount)
    assert messages.problem_text(setting) == "reward '1e30' is more than 1,000,000,000, the largest amount accepted"
    drivers = Problem.of(ConfigValue.UNKNOWN_BACKEND, drivers=["sqlite+aiosqlite://", "postgresql+asyncpg://"])
    assert messages.problem_text(drivers) == "must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
    values = [f"value {n}" for n in range(30)]
    listed = messages.problem_text(
        Problem.of(AttributesProblem.GOLD_NOT_A_VALUE, column="gold_a", value="x", key="a", values=values)
    )
    assert listed.startswith("gold_a 'x' is not a value of a; use one of: value 0, value 1, ")
    assert listed.endswith("…") and len(listed.split("use one of: ")[1]) == 200


def test_the_bots_settings_are_one_line() -> None:
    level = Problem.of(ConfigValue.NOT_A_LOG_LEVEL, levels=["DEBUG", "INFO"])
    error = InvalidInput(
        ConfigRefusal.INVALID,
        [
            Problem.of(ConfigProblem.INVALID, key="LOG_LEVEL", problem=level),
            Problem.of(ConfigProblem.INVALID, key="LOG_LEVEL", problem=level),
        ],
    )
    assert messages.one_line(error) == (
        "crowdshelf: configuration: LOG_LEVEL must be one of DEBUG, INFO; LOG_LEVEL must be one of DEBUG, INFO"
    )


def test_plain_lists_twenty_problem_lines_then_how_many_more() -> None:
    rows = [Problem.of(RowProblem.EMPTY, column="title").at(Place(PlaceKind.LINE, n)) for n in range(2, 27)]
    lines = messages.plain(InvalidInput(FileRefusal.ROWS_REJECTED, rows, rows=25)).splitlines()
    assert lines[0] == "The file was rejected: 25 rows have problems. Nothing was stored."
    assert lines[1:21] == [f"Line {n}: title is empty" for n in range(2, 22)]
    assert lines[21:] == ["… and 5 more"]


def test_refused_fits_one_message_with_whole_problems_and_escapes() -> None:
    """As many whole problem lines as fit in 4,096 UTF-16 units, then how many more; markup is escaped."""
    long = "<b>" + "x" * 5000
    rows = [
        Problem.of(CardProblem.ITEM_ID_REPEATS, item_id=long, first=LINE_3).at(Place(PlaceKind.LINE, n))
        for n in range(4, 30)
    ]
    said = texts.refused(InvalidInput(FileRefusal.ROWS_REJECTED, rows, rows=26))
    assert texts.utf16_len(html.unescape(said)) <= texts.TEXT_LIMIT
    assert "<b>" not in said and "&lt;b&gt;" in said
    lines = said.splitlines()
    shown = len(lines) - 2  # the summary, the problems, the "more" line
    assert shown >= 3 and lines[-1] == f"… and {26 - shown} more problems"
    assert texts.refused(TaskUnavailable()) == "This task is no longer available."


def test_a_reason_is_stored_as_json_and_worded_when_shown() -> None:
    held = Reason.of(StopReason.TOO_FAST, strikes=3, window=10, seconds=2.06)
    removed = Reason.of(StopReason.CONFIRMED, reason=held)
    stored = dumps(removed, 512)
    assert '"code":"confirmed_by_admin"' in stored and loads(stored) == removed
    assert messages.reason_text(loads(stored)) == "3 of their last 10 answers took under 2.1 s; confirmed by an admin"
    assert messages.reason_text(Reason.typed("copying <answers>")) == "copying <answers>"


def test_a_persons_long_words_are_cut_to_fit_the_column() -> None:
    words = 'he said "no" \\ ' * 100
    stored = dumps(Reason.typed(words), 512)
    assert len(stored) <= 512
    kept = loads(stored)
    assert kept.code == Typed.TEXT and words.startswith(kept.params["text"]) and len(kept.params["text"]) > 390


def test_every_batch_setting_is_explained() -> None:
    """The command line's help for each setting comes from the text layer: none may be missing."""
    assert sorted(messages.SETTING_HELP) == sorted(BatchSettings.keys())
