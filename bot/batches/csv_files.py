"""CSV files the bot writes (results, statements, payout uploads, labels), all through `csv_text`.

People open these files in a spreadsheet, and a cell such as "=HYPERLINK(…)" or "@SUM(…)" would run
there as a formula. The text in them comes from requesters, workers and files, so every cell is made
safe in this one place.
"""

import csv
import io
import re
from collections.abc import Iterable

# What spreadsheets read as the start of a formula (OWASP's list for CSV injection; a carriage return
# has become a line feed by then).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\n")
# A signed number ("-1", "+0.5") is a number in any spreadsheet, not a formula: it is left as it is.
_SIGNED_NUMBER = re.compile(r"[+-]\d+(?:[.,]\d+)?")


def csv_text(rows: Iterable[Iterable[object]]) -> str:
    """The rows (a header row is a row like any other) as CSV text, every cell made safe to open."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows([_safe_cell(cell) for cell in row] for row in rows)
    return out.getvalue()


def _safe_cell(value: object) -> object:
    if not isinstance(value, str):
        return value
    # The writer quotes a cell with a line feed but not one with a bare carriage return, which a
    # spreadsheet takes as the end of the row: the rest of the cell would start a row, unescaped.
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    # A leading apostrophe makes a spreadsheet take the cell as text.
    if value.startswith(_FORMULA_START) and not _SIGNED_NUMBER.fullmatch(value):
        return "'" + value
    return value
