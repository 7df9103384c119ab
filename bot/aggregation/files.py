"""Crowd answers, known answers and labels as CSV files, for `crowdshelf aggregate` and the benchmarks.

Answers: a header item,worker,answer (question,worker,answer is read too, as public truth-inference
data sets name them, and so is the raw answers file the bot sends with /results); gold: item,answer
(or question,truth); labels: item,label,confidence,answers.
A missing column, an empty cell or a gold item with two answers is an InvalidInput naming the line.
"""

import csv
import io
from collections.abc import Mapping

from bot.aggregation.methods import Answer, Label
from bot.batches.csv_files import csv_text
from bot.errors import ErrorCode, InvalidInput


class CsvRefusal(ErrorCode):
    """{file}: "answers" or "gold", the file's role."""

    MISSING_COLUMN = "csv_missing_column"  # {file, missing: each a list of accepted names, expected: a header}
    EMPTY_CELL = "csv_empty_cell"  # {file, line, row: the row's cells}
    TWO_GOLD_ANSWERS = "csv_two_gold_answers"  # {line, item, first, second}


def read_answers_csv(text: str, question: str | None = None) -> list[Answer]:
    """Answers from CSV text with a header item,worker,answer (or question,worker,answer), or the raw
    answers file the bot sends with /results as it is (item_id,worker,answer_id,…,accepted,…). With
    `question`, that column of a raw answers file with a column per question; a row without an answer
    to it (a question asked only after some answers) is left out."""
    answer = ("answer", "answer_id") if question is None else (question.lower(),)
    wanted = (("item", "item_id", "question"), ("worker",), answer, ("accepted",))
    rows, columns = _csv_rows(text, wanted, "answers", optional=1)
    if question is not None:
        rows = [(line, row) for line, row in rows if _cell(row, columns[2])]
    picked = _pick(rows, columns[:3], "answers")
    if len(columns) == 4:  # the bot's labels leave out what quality control rejected, and so does this
        picked = [cells for cells, (_, row) in zip(picked, rows, strict=True) if _cell(row, columns[3]) != "no"]
    return [Answer(item, worker, label) for item, worker, label in picked]


def read_gold_csv(text: str) -> dict[str, str]:
    """Known answers from CSV text with a header item,answer (or question,truth)."""
    rows, columns = _csv_rows(text, (("item", "question"), ("answer", "truth")), "gold")
    gold: dict[str, str] = {}
    for (line, _), (item, label) in zip(rows, _pick(rows, columns, "gold"), strict=True):
        if gold.get(item, label) != label:
            raise InvalidInput(CsvRefusal.TWO_GOLD_ANSWERS, line=line, item=item, first=gold[item], second=label)
        gold[item] = label
    return gold


def labels_csv(labels: Mapping[str, Label]) -> str:
    """CSV text with a header item,label,confidence,answers; confidence with six decimals."""
    lines = [(label.item, label.label, f"{label.confidence:.6f}", label.answers) for label in labels.values()]
    return csv_text([("item", "label", "confidence", "answers"), *lines])


def _csv_rows(
    text: str, wanted: tuple[tuple[str, ...], ...], kind: str, optional: int = 0
) -> tuple[list[tuple[int, list[str]]], list[int]]:
    """Rows of a CSV (with their line numbers) and the index of each wanted column that is there.

    Each entry of ``wanted`` lists the accepted names of one column, e.g. ("item", "question"); the
    last ``optional`` ones may be absent (the indexes then stop before them); any other missing
    column is an InvalidInput naming what was expected.
    """
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip().lower() for name in next(reader, [])]
    columns: list[int] = []
    missing: list[list[str]] = []
    for position, names in enumerate(wanted):
        found = [header.index(name) for name in names if name in header]
        if found:
            columns.append(found[0])
        elif position < len(wanted) - optional:
            missing.append(list(names))
        else:
            break
    if missing:
        expected = ",".join(names[0] for names in wanted[: len(wanted) - optional])
        raise InvalidInput(CsvRefusal.MISSING_COLUMN, file=kind, missing=missing, expected=expected)
    rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    return rows, columns


def _cell(row: list[str], column: int) -> str:
    return row[column].strip() if column < len(row) else ""


def _pick(rows: list[tuple[int, list[str]]], columns: list[int], kind: str) -> list[tuple[str, ...]]:
    """The wanted cells of each row, stripped; a short row or an empty cell is an InvalidInput with its line."""
    picked = []
    for line, row in rows:
        cells = tuple(_cell(row, column) for column in columns)
        if not all(cells):
            raise InvalidInput(CsvRefusal.EMPTY_CELL, file=kind, line=line, row=",".join(row))
        picked.append(cells)
    return picked
