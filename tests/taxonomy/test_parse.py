"""Parsers: the happy paths and every kind of malformed input, with exact line numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taxonomy import (
    Problem,
    RawNode,
    TaxonomyError,
    parse_bytes,
    parse_csv,
    parse_file,
    parse_google,
    parse_json,
    parse_text,
)


def problems_of(parser, text: str) -> list[str]:
    """Run a parser that must fail and return its problems as 'line N: message' strings."""
    with pytest.raises(TaxonomyError) as caught:
        parser(text)
    return [str(p) for p in caught.value.problems]


# --- TaxonomyError --------------------------------------------------------------------------


def test_error_report_lists_problems_in_line_order() -> None:
    error = TaxonomyError([Problem(9, "b"), Problem(None, "whole file"), Problem(2, "a")])
    assert str(error) == "the taxonomy has 3 problems:\nwhole file\nline 2: a\nline 9: b"
    assert isinstance(error, ValueError)


def test_error_report_is_cut_after_twenty_problems() -> None:
    error = TaxonomyError([Problem(n, "bad") for n in range(1, 26)])
    lines = str(error).splitlines()
    assert lines[0] == "the taxonomy has 25 problems:"
    assert lines[1] == "line 1: bad"
    assert lines[20] == "line 20: bad"
    assert lines[21] == "… and 5 more"
    assert len(lines) == 22
    assert len(error.problems) == 25


def test_error_report_singular() -> None:
    assert str(TaxonomyError([Problem(1, "x")])).startswith("the taxonomy has 1 problem:")


# --- Google text format ---------------------------------------------------------------------

GOOGLE = """\
# Google_Product_Taxonomy_Version: 2021-09-21
1 - Animals
3 - Animals > Pets

3237 - Animals > Pets > Dogs
8 - Home
"""


def test_google_parses_ids_parents_names_and_lines() -> None:
    assert parse_google(GOOGLE) == [
        RawNode(1, None, "Animals", 2),
        RawNode(3, 1, "Pets", 3),
        RawNode(3237, 3, "Dogs", 5),
        RawNode(8, None, "Home", 6),
    ]


def test_google_order_in_file_does_not_matter() -> None:
    text = "5 - A > B > C\n4 - A > B\n3 - A\n"
    assert parse_google(text) == [
        RawNode(5, 4, "C", 1),
        RawNode(4, 3, "B", 2),
        RawNode(3, None, "A", 3),
    ]


def test_google_accepts_crlf_bom_and_extra_spaces() -> None:
    text = "\ufeff1 -  Home \r\n2 - Home  >   Garden\r\n"
    assert parse_google(text) == [RawNode(1, None, "Home", 1), RawNode(2, 1, "Garden", 2)]


def test_google_malformed_line() -> None:
    assert problems_of(parse_google, "1 - A\nA > B\n") == ["line 2: expected 'ID - Category > Subcategory'"]


def test_google_non_integer_id() -> None:
    assert problems_of(parse_google, "1 - A\nx7 - A > B\n-3 - C\n") == [
        "line 2: id 'x7' is not a whole number",
        "line 3: id '-3' is not a whole number",
    ]


@pytest.mark.parametrize("path", ["A >  > B", "A >", " > B", ">"])
def test_google_empty_segment(path: str) -> None:
    assert problems_of(parse_google, f"1 - A\n2 - {path}\n") == ["line 2: empty category name in the path"]


def test_google_duplicate_id() -> None:
    text = "1 - A\n2 - A > B\n3 - A > C\n2 - A > D\n"
    assert problems_of(parse_google, text) == ["line 4: duplicate id 2 (first defined on line 2)"]


def test_google_duplicate_path() -> None:
    text = "1 - A\n2 - A > B\n3 - A > B\n"
    assert problems_of(parse_google, text) == ["line 3: duplicate path 'A > B' (first defined on line 2)"]


def test_google_orphan() -> None:
    text = "1 - A\n2 - A > B > C\n3 - X > Y\n"
    assert problems_of(parse_google, text) == [
        "line 2: parent category 'A > B' is not defined",
        "line 3: parent category 'X' is not defined",
    ]


def test_google_bad_id_does_not_orphan_children() -> None:
    # The parent's line is wrong, but its children should not be blamed for it.
    assert problems_of(parse_google, "one - A\n2 - A > B\n") == ["line 1: id 'one' is not a whole number"]


def test_google_collects_every_problem_at_once() -> None:
    text = "1 - A\nbroken\nz - A > B\n1 - A > C\n4 - A > C\n5 - A >\n6 - Q > R\n"
    assert problems_of(parse_google, text) == [
        "line 2: expected 'ID - Category > Subcategory'",
        "line 3: id 'z' is not a whole number",
        "line 4: duplicate id 1 (first defined on line 1)",
        "line 5: duplicate path 'A > C' (first defined on line 4)",
        "line 6: empty category name in the path",
        "line 7: parent category 'Q' is not defined",
    ]


@pytest.mark.parametrize("text", ["", "\n\n", "# only a header\n"])
def test_google_without_categories(text: str) -> None:
    assert problems_of(parse_google, text) == ["no categories found"]


# --- CSV ------------------------------------------------------------------------------------


def test_csv_columns_in_any_order_with_extras() -> None:
    text = 'name,notes,parent_id,id\nAnimals,,,1\n"Dogs, large",big ones,1,2\n'
    assert parse_csv(text) == [RawNode(1, None, "Animals", 2), RawNode(2, 1, "Dogs, large", 3)]


def test_csv_header_is_case_and_space_insensitive_and_blank_lines_skipped() -> None:
    text = "\ufeff ID , Parent_ID ,Name\r\n\r\n1,,A\r\n2, 1 , B \r\n"
    assert parse_csv(text) == [RawNode(1, None, "A", 3), RawNode(2, 1, "B", 4)]


def test_csv_line_numbers_follow_multiline_fields() -> None:
    text = 'id,parent_id,name\n1,,"two\nlines"\nx,,C\n'
    assert problems_of(parse_csv, text) == ["line 4: id 'x' is not a whole number"]


def test_csv_missing_column() -> None:
    assert problems_of(parse_csv, "id,name\n1,A\n") == ["line 1: missing column 'parent_id' in the header"]


def test_csv_missing_columns_each_named() -> None:
    assert problems_of(parse_csv, "identifier\n1\n") == [
        "line 1: missing column 'id' in the header",
        "line 1: missing column 'parent_id' in the header",
        "line 1: missing column 'name' in the header",
    ]


def test_csv_bad_values_reported_per_line() -> None:
    text = "id,parent_id,name\n1,,A\nabc,,B\n3,one,C\n4,1,\n,1,E\n6,1\n7,1,G\n"
    assert problems_of(parse_csv, text) == [
        "line 3: id 'abc' is not a whole number",
        "line 4: parent_id 'one' is not a whole number",
        "line 5: empty name",
        "line 6: missing id",
        "line 7: empty name",
    ]


@pytest.mark.parametrize("text", ["", "\n", "id,parent_id,name\n"])
def test_csv_without_categories(text: str) -> None:
    assert len(problems_of(parse_csv, text)) == 1


def test_csv_leaves_structure_checks_to_the_tree() -> None:
    # Duplicate ids and unknown parents are the tree's business, not the parser's.
    nodes = parse_csv("id,parent_id,name\n1,9,A\n1,,B\n")
    assert [n.id for n in nodes] == [1, 1]


# --- JSON -----------------------------------------------------------------------------------

JSON = """\
[
  {"name": "Animals", "id": 10, "children": [
    {"name": "Dogs"},
    {
      "name": "Cats",
      "id": 4,
      "children": [{"name": "Kittens", "note": {"x": "}"}}]
    }
  ]},
  {"name": "Home"}
]
"""


def test_json_nested_objects_with_fresh_ids_and_lines() -> None:
    assert parse_json(JSON) == [
        RawNode(10, None, "Animals", 2),
        RawNode(11, 10, "Dogs", 3),
        RawNode(4, 10, "Cats", 4),
        RawNode(12, 4, "Kittens", 7),
        RawNode(13, None, "Home", 10),
    ]


def test_json_fresh_ids_are_deterministic() -> None:
    assert parse_json(JSON) == parse_json(JSON)


def test_json_single_root_object_and_no_ids() -> None:
    text = json.dumps({"name": "A", "children": [{"name": "B"}, {"name": "C", "children": []}]})
    assert parse_json(text) == [
        RawNode(1, None, "A", 1),
        RawNode(2, 1, "B", 1),
        RawNode(3, 1, "C", 1),
    ]


def test_json_invalid_syntax_reports_line_and_column() -> None:
    assert problems_of(parse_json, '[\n  {"name": "A",}\n]') == [
        "line 2: invalid JSON: Expecting property name enclosed in double quotes (column 16)"
    ]


def test_json_top_level_must_be_object_or_list() -> None:
    assert problems_of(parse_json, '"Animals"') == ["line 1: expected an object or a list of objects at the top level"]


def test_json_name_problems() -> None:
    text = '[\n{"id": 1},\n{"name": "  "},\n{"name": 5}\n]'
    assert problems_of(parse_json, text) == [
        "line 2: missing 'name'",
        "line 3: empty name",
        "line 4: 'name' must be text, got 5",
    ]


@pytest.mark.parametrize("bad_id", ['"5"', "1.5", "true", "-1", "[1]"])
def test_json_non_integer_id(bad_id: str) -> None:
    problems = problems_of(parse_json, f'[{{"name": "A"}},\n{{"name": "B", "id": {bad_id}}}]')
    assert problems == [f"line 2: id {json.dumps(json.loads(bad_id))} is not a whole number"]


def test_json_children_must_be_a_list_of_objects() -> None:
    text = '{"name": "A", "children": [\n  {"name": "B", "children": {"name": "C"}},\n  "D"\n]}'
    assert problems_of(parse_json, text) == [
        'line 1: expected a category object, got "D"',
        "line 2: 'children' must be a list",
    ]


def test_json_collects_every_problem_at_once() -> None:
    text = '[{"name": ""},\n {"name": "B", "id": "x", "children": [\n  {"children": 3}]}]'
    assert problems_of(parse_json, text) == [
        "line 1: empty name",
        'line 2: id "x" is not a whole number',
        "line 3: missing 'name'",
        "line 3: 'children' must be a list",
    ]


@pytest.mark.parametrize("text", ["[]", "\ufeff[]"])
def test_json_without_categories(text: str) -> None:
    assert problems_of(parse_json, text) == ["no categories found"]


# --- Choosing the format, bytes and files ---------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "# header\n1 - A\n2 - A > B\n",
        "id,parent_id,name\n1,,A\n2,1,B\n",
        '\n[{"name": "A", "id": 1,\n"children": [{"name": "B"}]}]',
    ],
)
def test_parse_text_sniffs_the_format(text: str) -> None:
    # Each text puts A on line 2 and B on line 3.
    assert parse_text(text) == [RawNode(1, None, "A", 2), RawNode(2, 1, "B", 3)]


def test_parse_text_with_explicit_format() -> None:
    assert parse_text("1 - A, B\n", "google") == [RawNode(1, None, "A, B", 1)]
    with pytest.raises(ValueError, match="unknown taxonomy format"):
        parse_text("1 - A\n", "yaml")


@pytest.mark.parametrize(
    ("filename", "content"),
    [
        ("tree.txt", "1 - A\n2 - A > B\n"),
        ("tree.csv", "id,parent_id,name\n1,,A\n2,1,B\n"),
        ("tree.json", '[{"name": "A", "id": 1, "children": [{"name": "B"}]}]'),
        ("tree.data", "id,parent_id,name\n1,,A\n2,1,B\n"),
        ("tree", '{"name": "A", "id": 1, "children": [{"name": "B"}]}'),
    ],
)
def test_parse_file_by_extension_or_content(tmp_path: Path, filename: str, content: str) -> None:
    file = tmp_path / filename
    file.write_text(content, encoding="utf-8")
    assert [(n.id, n.parent_id, n.name) for n in parse_file(file)] == [(1, None, "A"), (2, 1, "B")]


def test_parse_file_extension_wins_over_content(tmp_path: Path) -> None:
    # A .csv file that looks like Google text is still read as CSV, and fails as one.
    file = tmp_path / "tree.csv"
    file.write_text("1 - A\n", encoding="utf-8")
    with pytest.raises(TaxonomyError, match="missing column"):
        parse_file(str(file))


def test_non_utf8_file_is_a_taxonomy_error(tmp_path: Path) -> None:
    file = tmp_path / "tree.txt"
    file.write_bytes("1 - A\n2 - A > Caf\u00e9\n".encode("latin-1"))
    with pytest.raises(TaxonomyError) as caught:
        parse_file(file)
    assert [str(p) for p in caught.value.problems] == ["line 2: not UTF-8 text (byte 0xe9 at offset 17)"]


def test_parse_bytes_accepts_utf8_with_bom() -> None:
    data = "\ufeff1 - Caf\u00e9\n".encode("utf-8")
    assert parse_bytes(data) == [RawNode(1, None, "Caf\u00e9", 1)]
