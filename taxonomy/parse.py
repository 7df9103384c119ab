"""Parsers that turn taxonomy files (Google text, CSV, JSON) into flat raw nodes.

Every parser reports all problems it finds at once, so an author can fix a file in one pass.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "Problem",
    "RawNode",
    "TaxonomyError",
    "parse_bytes",
    "parse_csv",
    "parse_file",
    "parse_google",
    "parse_json",
    "parse_text",
]

# Enough to act on without flooding a chat message or a terminal.
_REPORT_LIMIT = 20

_CSV_COLUMNS = ("id", "parent_id", "name")


@dataclass(frozen=True)
class RawNode:
    """One category as read from a file, before the tree is checked.

    `line` is the 1-based line where the category is defined; for JSON it is the
    line of the `{` that opens the category's object.
    """

    id: int
    parent_id: int | None
    name: str
    line: int


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input; `line` is None when it concerns the whole file."""

    line: int | None
    message: str

    def __str__(self) -> str:
        return self.message if self.line is None else f"line {self.line}: {self.message}"


class TaxonomyError(ValueError):
    """A taxonomy could not be read; `problems` lists everything that was found wrong."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        # File-wide problems first, then in file order, so the report reads top to bottom.
        ordered = sorted(problems, key=lambda p: (p.line is not None, p.line or 0))
        super().__init__(ordered)
        self.problems: list[Problem] = ordered

    def __str__(self) -> str:
        count = len(self.problems)
        lines = [f"the taxonomy has {count} problem{'' if count == 1 else 's'}:"]
        lines += [str(p) for p in self.problems[:_REPORT_LIMIT]]
        if count > _REPORT_LIMIT:
            lines.append(f"… and {count - _REPORT_LIMIT} more")
        return "\n".join(lines)


def _strip_bom(text: str) -> str:
    # Spreadsheet programs like to start UTF-8 exports with a byte-order mark.
    return text[1:] if text.startswith("\ufeff") else text


def _parse_id(text: str) -> int | None:
    """A non-negative whole number written in plain digits, else None."""
    text = text.strip()
    # isdigit() alone would accept superscripts and other scripts' digits.
    return int(text) if text.isascii() and text.isdigit() else None


def _lines(text: str) -> list[str]:
    # Split on "\n" only, like editors count lines; str.splitlines() would also
    # break on characters such as U+2028 that may legitimately appear in names.
    return [line.rstrip("\r") for line in _strip_bom(text).split("\n")]


def _content_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, stripped line) for lines that are neither blank nor `#` comments."""
    for number, line in enumerate(_lines(text), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            yield number, stripped


def _duplicate(what: str, first_line: int) -> str:
    return f"duplicate {what} (first defined on line {first_line})"


def _show(path: tuple[str, ...]) -> str:
    return " > ".join(path)


def _raise_if(problems: list[Problem], nodes: list[RawNode]) -> list[RawNode]:
    if not problems and not nodes:
        problems.append(Problem(None, "no categories found"))
    if problems:
        raise TaxonomyError(problems)
    return nodes


# --- Google text format -------------------------------------------------------------------


def parse_google(text: str) -> list[RawNode]:
    """Parse `ID - A > B > C` lines; blank lines and lines starting with `#` are skipped."""
    problems: list[Problem] = []
    id_lines: dict[int, int] = {}
    path_lines: dict[tuple[str, ...], int] = {}
    path_ids: dict[tuple[str, ...], int] = {}
    entries: list[tuple[int, int, tuple[str, ...]]] = []  # (line, id, path) of good lines

    for number, line in _content_lines(text):
        id_text, sep, path_text = line.partition(" - ")
        if not sep:
            problems.append(Problem(number, "expected 'ID - Category > Subcategory'"))
            continue
        node_id = _parse_id(id_text)
        path = tuple([segment.strip() for segment in path_text.split(">")])
        found = len(problems)
        if node_id is None:
            problems.append(Problem(number, f"id {id_text.strip()!r} is not a whole number"))
        elif node_id in id_lines:
            problems.append(Problem(number, _duplicate(f"id {node_id}", id_lines[node_id])))
        else:
            id_lines[node_id] = number
        if not all(path):
            problems.append(Problem(number, "empty category name in the path"))
        elif path in path_lines:
            problems.append(Problem(number, _duplicate(f"path '{_show(path)}'", path_lines[path])))
        else:
            # Registered even when the id is bad, so this line's children are not
            # reported as orphans on top of its own mistake.
            path_lines[path] = number
        if len(problems) == found and node_id is not None:
            path_ids[path] = node_id
            entries.append((number, node_id, path))

    nodes: list[RawNode] = []
    for number, node_id, path in entries:
        parent_path = path[:-1]
        if parent_path and parent_path not in path_lines:
            message = f"parent category '{_show(parent_path)}' is not defined"
            problems.append(Problem(number, message))
            continue
        nodes.append(RawNode(node_id, path_ids.get(parent_path), path[-1], number))
    return _raise_if(problems, nodes)


# --- CSV ------------------------------------------------------------------------------------


def parse_csv(text: str) -> list[RawNode]:
    """Parse a CSV with a header naming `id`, `parent_id` and `name` (any order, extras ignored)."""
    reader = csv.reader(io.StringIO(_strip_bom(text), newline=""))
    problems: list[Problem] = []
    nodes: list[RawNode] = []
    columns: dict[str, int] | None = None
    last_line = 0
    try:
        for row in reader:
            # A row may span several lines when a quoted field holds a newline.
            number, last_line = last_line + 1, reader.line_num
            if not any(field.strip() for field in row):
                continue
            if columns is None:
                columns = _csv_columns(row, number, problems)
                if problems:
                    break
                continue
            node = _csv_row(row, columns, number, problems)
            if node is not None:
                nodes.append(node)
    except csv.Error as error:
        problems.append(Problem(reader.line_num, f"unreadable CSV: {error}"))
    if columns is None and not problems:
        problems.append(Problem(None, "empty file: expected a header line 'id,parent_id,name'"))
    return _raise_if(problems, nodes)


def _csv_columns(header: list[str], number: int, problems: list[Problem]) -> dict[str, int]:
    positions: dict[str, int] = {}
    for index, title in enumerate(header):
        positions.setdefault(title.strip().lower(), index)
    for column in _CSV_COLUMNS:
        if column not in positions:
            problems.append(Problem(number, f"missing column '{column}' in the header"))
    return positions


def _csv_row(row: list[str], columns: dict[str, int], number: int, problems: list[Problem]) -> RawNode | None:
    def field(column: str) -> str:
        index = columns[column]
        return row[index].strip() if index < len(row) else ""

    found = len(problems)
    id_text, parent_text, name = field("id"), field("parent_id"), field("name")
    node_id = _parse_id(id_text)
    if not id_text:
        problems.append(Problem(number, "missing id"))
    elif node_id is None:
        problems.append(Problem(number, f"id {id_text!r} is not a whole number"))
    parent_id = _parse_id(parent_text) if parent_text else None
    if parent_text and parent_id is None:
        problems.append(Problem(number, f"parent_id {parent_text!r} is not a whole number"))
    if not name:
        problems.append(Problem(number, "empty name"))
    if len(problems) > found or node_id is None:
        return None
    return RawNode(node_id, parent_id, name, number)


# --- JSON -----------------------------------------------------------------------------------


class _JsonObject(dict[str, Any]):
    """A decoded JSON object that remembers the line of its opening brace."""

    line: int = 0


def _object_start_lines(text: str) -> list[int]:
    """Start line of every object in `text`, listed in the order the objects close.

    json calls its object hook once per object, exactly when the closing brace is
    read, so the n-th call belongs to the n-th entry of this list.
    """
    starts: list[int] = []
    open_lines: list[int] = []
    line = 1
    # Strings are matched whole so braces and newlines inside them are skipped.
    for match in re.finditer(r'"(?:[^"\\]|\\.)*"|[{}\n]', text):
        token = match.group()
        if token == "\n":
            line += 1
        elif token == "{":
            open_lines.append(line)
        elif token == "}" and open_lines:
            starts.append(open_lines.pop())
    return starts


def _load_json(text: str) -> Any:
    starts = iter(_object_start_lines(text))

    def hook(pairs: list[tuple[str, Any]]) -> _JsonObject:
        obj = _JsonObject(pairs)
        obj.line = next(starts, 0)
        return obj

    return json.loads(text, object_pairs_hook=hook)


def parse_json(text: str) -> list[RawNode]:
    """Parse nested `{"name": ..., "id"?: ..., "children"?: [...]}` objects (one or a list).

    Categories without an id get fresh ones, counting up from the largest explicit id
    in document order, so the same file always yields the same ids.
    """
    text = _strip_bom(text)
    try:
        data = _load_json(text)
    except json.JSONDecodeError as error:
        raise TaxonomyError([Problem(error.lineno, f"invalid JSON: {error.msg} (column {error.colno})")]) from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        message = "expected an object or a list of objects at the top level"
        raise TaxonomyError([Problem(1, message)])

    problems: list[Problem] = []
    # (line, parent index, name, explicit id) in document order; ids are filled in below.
    entries: list[tuple[int, int | None, str, int | None]] = []
    # (value, parent index, parent line); popped in document order.
    stack: list[tuple[Any, int | None, int | None]] = [(item, None, None) for item in data[::-1]]
    while stack:
        obj, parent, parent_line = stack.pop()
        if not isinstance(obj, _JsonObject):
            kind = _json_kind(obj)
            problems.append(Problem(parent_line, f"expected a category object, got {kind}"))
            continue
        entries.append((obj.line, parent, _json_name(obj, problems), _json_id(obj, problems)))
        children = obj.get("children")
        if children is None:
            continue
        if not isinstance(children, list):
            problems.append(Problem(obj.line, "'children' must be a list"))
            continue
        index = len(entries) - 1
        stack.extend((child, index, obj.line) for child in reversed(children))

    next_id = max((e[3] for e in entries if e[3] is not None), default=0) + 1
    ids: list[int] = []
    for _, _, _, explicit in entries:
        if explicit is None:
            explicit, next_id = next_id, next_id + 1
        ids.append(explicit)
    nodes = [
        RawNode(ids[i], None if parent is None else ids[parent], name, line)
        for i, (line, parent, name, _) in enumerate(entries)
    ]
    return _raise_if(problems, nodes)


def _json_name(obj: _JsonObject, problems: list[Problem]) -> str:
    name = obj.get("name")
    if name is None:
        problems.append(Problem(obj.line, "missing 'name'"))
        return ""
    if not isinstance(name, str):
        problems.append(Problem(obj.line, f"'name' must be text, got {_json_kind(name)}"))
        return ""
    if not name.strip():
        problems.append(Problem(obj.line, "empty name"))
    return name.strip()


def _json_id(obj: _JsonObject, problems: list[Problem]) -> int | None:
    node_id = obj.get("id")
    if node_id is None:  # absent or null: a fresh id is given later
        return None
    # bool is a subclass of int, but `true` is surely not meant as id 1.
    if isinstance(node_id, int) and not isinstance(node_id, bool) and node_id >= 0:
        return node_id
    problems.append(Problem(obj.line, f"id {json.dumps(node_id)} is not a whole number"))
    return None


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return json.dumps(value)


# --- Choosing a format ----------------------------------------------------------------------

_PARSERS = {"google": parse_google, "csv": parse_csv, "json": parse_json}
_EXTENSIONS = {".txt": "google", ".csv": "csv", ".json": "json"}


def _sniff(text: str) -> str:
    """Guess the format from the first meaningful line."""
    for _, line in _content_lines(text):
        if line[0] in "[{":
            return "json"
        if re.match(r"\d+ - ", line):
            return "google"
        return "csv" if "," in line else "google"
    return "google"


def parse_text(text: str, fmt: str | None = None) -> list[RawNode]:
    """Parse `text` as "google", "csv" or "json"; None guesses from the content."""
    fmt = fmt or _sniff(text)
    if fmt not in _PARSERS:
        raise ValueError(f"unknown taxonomy format {fmt!r}; expected one of {sorted(_PARSERS)}")
    return _PARSERS[fmt](text)


def parse_bytes(data: bytes, fmt: str | None = None) -> list[RawNode]:
    """Decode UTF-8 (with or without a byte-order mark) and parse, e.g. an uploaded file."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        where = f"byte 0x{data[error.start]:02x} at offset {error.start}"
        raise TaxonomyError([Problem(line, f"not UTF-8 text ({where})")]) from None
    return parse_text(text, fmt)


def parse_file(path: str | os.PathLike[str]) -> list[RawNode]:
    """Parse a file, choosing the format by extension (.txt, .csv, .json) or by its content."""
    file = Path(path)
    return parse_bytes(file.read_bytes(), _EXTENSIONS.get(file.suffix.lower()))
