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

from bot.errors import InvalidInput
from bot.tasks.base import TaskContext, TaskType
from bot.tasks.reading import quoted

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


@dataclass(frozen=True)
class Row:
    where: str  # how the requester finds it in their file: "line 4" or "item 3"
    values: dict[str, str]


def read_rows(data: bytes, filename: str) -> list[Row]:
    """Decode a CSV, JSON or JSON Lines product file into rows of strings, or say what is wrong."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidInput(
            f"The file is not UTF-8 text (byte {error.start} cannot be read). "
            "Save it as UTF-8, e.g. “CSV UTF-8” in Excel."
        ) from None
    if not text.strip():
        raise InvalidInput("The file is empty.")
    kind = _file_kind(filename, text)
    rows = list(_csv_rows(text) if kind == "csv" else _json_rows(text) if kind == "json" else _jsonl_rows(text))
    if not rows:
        raise InvalidInput("The file has no products in it.")
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
        raise InvalidInput(
            f"The header row lacks the required column(s) {', '.join(missing)}. "
            f"Columns: {', '.join(COLUMNS)} and the task type's own (item_id and title are required)."
        )
    reader.fieldnames = header
    while True:
        first_line = reader.line_num + 1  # a quoted cell may span lines: name the row by where it starts
        record = _read_csv(lambda: next(reader, None), first_line)
        if record is None:
            return
        if None in record:
            raise InvalidInput(f"Line {first_line} has more cells than the header row.")
        yield Row(f"line {first_line}", {key: (value or "").strip() for key, value in record.items()})


def _read_csv(read: Callable[[], T], line: int) -> T:
    """What `read` reads from the CSV reader. On text, with the lenient default dialect, the csv module
    refuses only a cell above its field size limit: that is said in plain words, naming the line."""
    try:
        return read()
    except csv.Error:
        raise InvalidInput(
            f"Line {line} has a cell longer than {csv.field_size_limit():,} characters; "
            f"a product's description may have at most {LIMITS['description']:,}."
        ) from None


def _json_rows(text: str) -> Iterator[Row]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInput(
            f"The JSON is not valid: {error.msg} at line {error.lineno}, column {error.colno}."
        ) from None
    if not isinstance(document, list):
        raise InvalidInput('A JSON batch file must be a list of product objects: [{"item_id": …, "title": …}, …].')
    for position, record in enumerate(document, start=1):
        yield _object_row(f"item {position}", record)


def _jsonl_rows(text: str) -> Iterator[Row]:
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise InvalidInput(f"Line {line_number} is not valid JSON: {error.msg}.") from None
        yield _object_row(f"line {line_number}", record)


def _text(value: object) -> str:
    """A JSON value as the text a CSV cell would hold (true, not Python's True)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def _object_row(where: str, record: object) -> Row:
    if not isinstance(record, dict):
        raise InvalidInput(f"{where.capitalize()} is not an object with product fields.")
    values = {}
    for key, value in record.items():
        if isinstance(value, (dict, list)):
            raise InvalidInput(
                f"{where.capitalize()}: {quoted(str(key))} must be a single value, not a list or object."
            )
        values[str(key).strip()] = _text(value)
    return Row(where, values)


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
    problems: list[str] = []
    drafts: list[ItemDraft] = []
    first_seen: dict[str, str] = {}
    own = task_type.columns(context)
    for row in rows:
        row_problems = _row_problems(row, own, task_type.name, first_seen)
        reading = task_type.read_row(row.values, context)
        row_problems += reading.problems
        if row_problems:
            problems.append(f"{row.where.capitalize()}: " + "; ".join(row_problems))
        elif not problems:
            drafts.append(_draft(row.values, reading.payload, reading.gold))
    if problems:
        raise InvalidInput(
            f"The file was rejected: {len(problems)} row(s) have problems. Nothing was stored.", problems
        )
    return drafts


def _row_problems(row: Row, own: tuple[str, ...], type_name: str, first_seen: dict[str, str]) -> list[str]:
    values = row.values
    found = []
    for column in REQUIRED:
        if not values.get(column):
            found.append(f"{column} is empty")
    item_id = values.get("item_id", "")
    if item_id in first_seen:
        found.append(f"item_id {quoted(item_id)} repeats {first_seen[item_id]}")
    elif item_id:
        first_seen[item_id] = row.where
    for column, limit in LIMITS.items():
        if len(values.get(column, "")) > limit:
            found.append(f"{column} is longer than {limit} characters")
    for column in (*COLUMNS, *own):
        if FORMULA.match(values.get(column, "")):
            found.append(f"{column} starts with {values[column][0]!r}, which spreadsheets run as a formula")
        odd = NOT_TEXT.search(values.get(column, ""))
        if odd:
            what = "half of a character" if odd[0] >= "\ud800" else "a control character"
            found.append(f"{column} contains {what} (U+{ord(odd[0]):04X})")
    url = values.get("image_url", "")
    if url and not _is_web_url(url):
        found.append(f"image_url {quoted(url)} is not an http(s) address")
    for column in sorted(_foreign(values, own)):
        found.append(f"{column} is not read by type {type_name}; its columns: {', '.join(own) or 'none'}")
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
