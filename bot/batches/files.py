"""Product files: reading CSV, JSON or JSON Lines, and checking every row before anything is stored."""

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, TypeVar
from urllib.parse import urlparse

from bot.errors import ErrorCode, InvalidInput, Place, PlaceKind, Problem, ProblemCode
from bot.tasks.base import TaskContext, TaskType
from bot.tasks.reading import RowProblem, clip

# The product card, the same for every type; a type reads its own columns besides (TaskType.columns).
COLUMNS = ("item_id", "title", "description", "brand", "price", "image_url")
REQUIRED = ("item_id", "title")
LIMITS = {"item_id": 256, "title": 1000, "description": 5000, "brand": 256, "price": 64, "image_url": 2000}
# A cell a spreadsheet would execute when the results are opened again.
FORMULA = re.compile(r"[=@\t\r]|[+-][^\d\s.,]")
# Text that cannot be stored everywhere: SQLite keeps a NUL and PostgreSQL refuses it, neither takes
# half of a UTF-16 pair (a JSON "\ud800"), and other control characters (tab and line breaks aside)
# have no place in a product. Such a row is refused like any other bad row.
NOT_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
T = TypeVar("T")


class FileRefusal(ErrorCode):
    NOT_UTF8 = "file_not_utf8"  # {byte}
    EMPTY = "file_empty"
    NO_PRODUCTS = "file_no_products"
    MISSING_COLUMNS = "file_missing_columns"  # {missing, columns}: lists of column names
    EXTRA_CELLS = "file_extra_cells"  # {place}
    CELL_TOO_LONG = "file_cell_too_long"  # {place, limit, description_limit}
    JSON_INVALID = "file_json_invalid"  # {detail (the JSON reader's words), line, column}
    JSON_NOT_A_LIST = "file_json_not_a_list"
    JSON_LINE_INVALID = "file_json_line_invalid"  # {place, detail}
    NOT_AN_OBJECT = "file_not_an_object"  # {place}
    NOT_A_SINGLE_VALUE = "file_not_a_single_value"  # {place, key}
    ROWS_REJECTED = "file_rows_rejected"  # {rows}: the problems name each bad row


class CardProblem(ProblemCode):
    """What is wrong with a row's product card (the type's own columns are its type's to check)."""

    ITEM_ID_REPEATS = "item_id_repeats"  # {item_id, first: the Place of the row that has it}
    TOO_LONG = "column_too_long"  # {column, limit}
    FORMULA = "column_formula"  # {column, start: the first character}
    CONTROL_CHARACTER = "column_control_character"  # {column, codepoint}
    HALF_CHARACTER = "column_half_character"  # {column, codepoint}: half of a UTF-16 pair
    NOT_A_WEB_URL = "image_url_not_web"  # {url}
    FOREIGN_COLUMN = "column_of_another_type"  # {column, type, columns: the type's own}


@dataclass(frozen=True)
class Row:
    place: Place  # how the requester finds it in their file: line 4, item 3
    values: dict[str, str]


def read_rows(data: bytes, filename: str) -> list[Row]:
    """Decode a CSV, JSON or JSON Lines product file into rows of strings, or say what is wrong."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidInput(FileRefusal.NOT_UTF8, byte=error.start) from None
    if not text.strip():
        raise InvalidInput(FileRefusal.EMPTY)
    kind = _file_kind(filename, text)
    rows = list(_csv_rows(text) if kind == "csv" else _json_rows(text) if kind == "json" else _jsonl_rows(text))
    if not rows:
        raise InvalidInput(FileRefusal.NO_PRODUCTS)
    return rows


def _file_kind(filename: str, text: str) -> str:
    suffix = PurePath(filename).suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix in (".csv", ".json"):
        return suffix[1:]
    start = text.lstrip()[:1]
    return "json" if start == "[" else "jsonl" if start == "{" else "csv"


def _csv_rows(text: str) -> Iterator[Row]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip() for name in _read_csv(lambda: reader.fieldnames, 1) or []]
    missing = [column for column in REQUIRED if column not in header]
    if missing:
        raise InvalidInput(FileRefusal.MISSING_COLUMNS, missing=missing, columns=list(COLUMNS))
    reader.fieldnames = header
    while True:
        first_line = reader.line_num + 1  # a quoted cell may span lines: name the row by where it starts
        record = _read_csv(lambda: next(reader, None), first_line)
        if record is None:
            return
        if None in record:
            raise InvalidInput(FileRefusal.EXTRA_CELLS, place=Place(PlaceKind.LINE, first_line))
        yield Row(Place(PlaceKind.LINE, first_line), {key: (value or "").strip() for key, value in record.items()})


def _read_csv(read: Callable[[], T], line: int) -> T:
    """What `read` reads from the CSV reader. On text, with the lenient default dialect, the csv module
    refuses only a cell above its field size limit: that is said in plain words, naming the line."""
    try:
        return read()
    except csv.Error:
        raise InvalidInput(
            FileRefusal.CELL_TOO_LONG,
            place=Place(PlaceKind.LINE, line),
            limit=csv.field_size_limit(),
            description_limit=LIMITS["description"],
        ) from None


def _json_rows(text: str) -> Iterator[Row]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInput(FileRefusal.JSON_INVALID, detail=error.msg, line=error.lineno, column=error.colno) from None
    if not isinstance(document, list):
        raise InvalidInput(FileRefusal.JSON_NOT_A_LIST)
    for position, record in enumerate(document, start=1):
        yield _object_row(Place(PlaceKind.ITEM, position), record)


def _jsonl_rows(text: str) -> Iterator[Row]:
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            place = Place(PlaceKind.LINE, line_number)
            raise InvalidInput(FileRefusal.JSON_LINE_INVALID, place=place, detail=error.msg) from None
        yield _object_row(Place(PlaceKind.LINE, line_number), record)


def _text(value: object) -> str:
    """A JSON value as the text a CSV cell would hold (true, not Python's True)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def _object_row(place: Place, record: object) -> Row:
    if not isinstance(record, dict):
        raise InvalidInput(FileRefusal.NOT_AN_OBJECT, place=place)
    values = {}
    for key, value in record.items():
        if isinstance(value, (dict, list)):
            raise InvalidInput(FileRefusal.NOT_A_SINGLE_VALUE, place=place, key=clip(str(key)))
        values[str(key).strip()] = _text(value)
    return Row(place, values)


@dataclass(frozen=True)
class ItemDraft:
    external_id: str
    title: str
    description: str
    brand: str
    price: str
    image_url: str
    payload: dict[str, Any]
    gold: dict[str, str] | None


def validate_rows(rows: list[Row], task_type: TaskType, context: TaskContext) -> list[ItemDraft]:
    """Every row checked, the card here and the rest by its type; any problem rejects the whole file,
    naming each bad row."""
    problems: list[Problem] = []
    rejected = 0  # rows with problems
    drafts: list[ItemDraft] = []
    first_seen: dict[str, Place] = {}
    own = task_type.columns(context)
    for row in rows:
        row_problems = _row_problems(row, own, task_type.name, first_seen)
        reading = task_type.read_row(row.values, context)
        row_problems += reading.problems
        if row_problems:
            rejected += 1
            problems += (problem.at(row.place) for problem in row_problems)
        elif not problems:
            drafts.append(_draft(row.values, reading.payload, reading.gold))
    if problems:
        raise InvalidInput(FileRefusal.ROWS_REJECTED, problems, rows=rejected)
    return drafts


def _row_problems(row: Row, own: tuple[str, ...], type_name: str, first_seen: dict[str, Place]) -> list[Problem]:
    values = row.values
    found = []
    for column in REQUIRED:
        if not values.get(column):
            found.append(Problem.of(RowProblem.EMPTY, column=column))
    item_id = values.get("item_id", "")
    if item_id in first_seen:
        found.append(Problem.of(CardProblem.ITEM_ID_REPEATS, item_id=clip(item_id), first=first_seen[item_id]))
    elif item_id:
        first_seen[item_id] = row.place
    for column, limit in LIMITS.items():
        if len(values.get(column, "")) > limit:
            found.append(Problem.of(CardProblem.TOO_LONG, column=column, limit=limit))
    for column in (*COLUMNS, *own):
        if FORMULA.match(values.get(column, "")):
            found.append(Problem.of(CardProblem.FORMULA, column=column, start=values[column][0]))
        odd = NOT_TEXT.search(values.get(column, ""))
        if odd:
            what = CardProblem.HALF_CHARACTER if odd[0] >= "\ud800" else CardProblem.CONTROL_CHARACTER
            found.append(Problem.of(what, column=column, codepoint=ord(odd[0])))
    url = values.get("image_url", "")
    if url and not _is_web_url(url):
        found.append(Problem.of(CardProblem.NOT_A_WEB_URL, url=clip(url)))
    for column in sorted(_foreign(values, own)):
        found.append(Problem.of(CardProblem.FOREIGN_COLUMN, column=column, type=type_name, columns=list(own)))
    return found


def _foreign(values: dict[str, str], own: tuple[str, ...]) -> set[str]:
    """Filled columns another type reads but this one does not: gold that would silently not be gold."""
    theirs = {"proposed_category", "gold_answer", "gold_category"} | {c for c in values if c.startswith("gold_")}
    return {column for column in theirs - set(own) if values.get(column)}


def _is_web_url(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc) and " " not in url


def _draft(values: dict[str, str], payload: dict[str, Any], gold: dict[str, str] | None) -> ItemDraft:
    return ItemDraft(
        external_id=values["item_id"],
        title=values["title"],
        description=values.get("description", ""),
        brand=values.get("brand", ""),
        price=values.get("price", ""),
        image_url=values.get("image_url", ""),
        payload=payload,
        gold=gold,
    )
