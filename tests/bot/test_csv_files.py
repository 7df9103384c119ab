"""CSV files the bot writes: no cell runs as a spreadsheet formula, and every writer goes through one function."""

import ast
import csv
import io
from pathlib import Path

import pytest

from bot.batches.csv_files import csv_text

ROOT = Path(__file__).resolve().parents[2]
# The packages the bot is made of (tests and benchmarks write input files of their own).
PACKAGES = ("bot", "handlers", "storage", "taxonomy")


def cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=HYPERLINK(http://evil,x)", "'=HYPERLINK(http://evil,x)"),
        ("=1+1@example.com", "'=1+1@example.com"),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\n=1"),
        ("a\r=1", "a\n=1"),  # a bare carriage return would end the row and start one with "=1"
        ("a\r\nb", "a\nb"),
        ("-", "'-"),
        ("-1", "-1"),  # signed numbers are numbers to a spreadsheet, and labels like -1 must survive
        ("+0.5", "+0.5"),
        ("Kitchen = home", "Kitchen = home"),
        ("a@example.com", "a@example.com"),
        ("", ""),
    ],
)
def test_formula_like_cells_become_text(value: str, written: str) -> None:
    assert cells(csv_text([["head"], [value, 3, -2]])) == [["head"], [written, "3", "-2"]]


def test_every_csv_writer_goes_through_csv_text() -> None:
    """Only bot/batches/csv_files.py makes a csv writer: a new file the bot sends cannot skip the escaping."""
    writers = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                named = isinstance(node, ast.Attribute) and node.attr in ("writer", "DictWriter")
                imported = isinstance(node, ast.ImportFrom) and node.module == "csv"
                if (named and isinstance(node.value, ast.Name) and node.value.id == "csv") or imported:
                    writers.add(path.relative_to(ROOT).as_posix())
    assert writers == {"bot/batches/csv_files.py"}
