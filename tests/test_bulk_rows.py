"""Bulk CSV rows (steps/documents/rows.py): reading uploads, picking the query column,
writing the results CSV. Pure functions, so plain table-driven tests."""

from __future__ import annotations

import codecs
import csv
import io
import types
from collections.abc import Iterator

import pytest

import steps.documents.rows as rows_module
from steps.documents.rows import (
    MAX_ROWS,
    Row,
    RowsError,
    Table,
    neutralise,
    pick_column,
    query_of,
    read_rows,
    results_csv,
)

TEXT = "name,city,email\nMüller,Köln,m@example.de\nCafé Noël,Zürich,c@example.ch\n"


def _values(table: Table) -> list[tuple[str, ...]]:
    return [row.values for row in table.rows]


def _raises(status: int, field: str, fn, *args, **kwargs) -> RowsError:
    with pytest.raises(RowsError) as caught:
        fn(*args, **kwargs)
    assert caught.value.status == status
    assert caught.value.field == field
    return caught.value


# --- encodings -------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "encoding"), [
    (TEXT.encode("utf-8"), "utf-8"),
    (codecs.BOM_UTF8 + TEXT.encode("utf-8"), "utf-8-sig"),
    (TEXT.encode("utf-16"), "utf-16"),  # with its BOM (little-endian here)
    (codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"), "utf-16"),
    (TEXT.encode("utf-16-le"), "utf-16-le"),  # no BOM: the NUL pattern of ASCII text
    (TEXT.encode("utf-16-be"), "utf-16-be"),
    (TEXT.encode("cp1252"), "cp1252"),
    (TEXT.encode("latin-1"), "cp1252"),  # same bytes for these letters
])
def test_encodings_are_detected_and_decoded(data: bytes, encoding: str) -> None:
    table = read_rows(data)
    assert table.encoding == encoding
    assert table.columns == ("name", "city", "email")  # a UTF-8 BOM is not in the first name
    assert _values(table) == [("Müller", "Köln", "m@example.de"),
                              ("Café Noël", "Zürich", "c@example.ch")]


def test_cp1252_specific_characters() -> None:
    data = "name;price\n“Quoted” Ltd;5 €\nŠkoda;10 €\n".encode("cp1252")
    table = read_rows(data)
    assert table.encoding == "cp1252"
    assert _values(table) == [("“Quoted” Ltd", "5 €"), ("Škoda", "10 €")]


def test_binary_file_is_refused() -> None:
    data = bytes(range(256)) * 40
    _raises(400, "file", read_rows, data)


# --- delimiters ------------------------------------------------------------------------

@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed(delimiter: str) -> None:
    others = ",;\t|".replace(delimiter, "")
    rows = [["email", "note", "amount"],
            ["a@example.com", f"uses {others[0]} inside", "1"],
            ["b@example.com", "plain", "2"],
            ["c@example.com", f"x{others[1]}y", "3"]]
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    table = read_rows(buffer.getvalue().encode())
    assert table.delimiter == delimiter
    assert table.columns == tuple(rows[0])
    assert [list(v) for v in _values(table)] == rows[1:]


def test_semicolon_file_with_decimal_commas() -> None:
    table = read_rows(b"name;amount\nfoo;1,5\nbar;2,25\nbaz;3\n")
    assert table.delimiter == ";"
    assert _values(table) == [("foo", "1,5"), ("bar", "2,25"), ("baz", "3")]


def test_single_column_reads_as_one_column() -> None:
    table = read_rows(b"email\na@example.com\nb@example.com\n")
    assert table.delimiter == ","
    assert table.columns == ("email",)
    assert _values(table) == [("a@example.com",), ("b@example.com",)]


def test_single_column_of_company_names_with_commas_in_quotes() -> None:
    table = read_rows(b'company\n"Acme, Inc."\nGlobex\n"Initech, LLC"\n')
    assert table.columns == ("company",)
    assert _values(table) == [("Acme, Inc.",), ("Globex",), ("Initech, LLC",)]


# --- quoting, newlines and line numbers ------------------------------------------------

def test_quoted_newlines_quotes_and_line_numbers() -> None:
    data = (b'email,note\r\n'
            b'a@example.com,"two\r\nlines"\r\n'
            b'\r\n'
            b'b@example.com,"say ""hi"""\r\n'
            b'c@example.com,"three\nline\nnote"\n'
            b'd@example.com,end\n')
    table = read_rows(data)
    assert [(r.index, r.line) for r in table.rows] == [(0, 2), (1, 5), (2, 6), (3, 9)]
    assert _values(table) == [("a@example.com", "two\r\nlines"),
                              ("b@example.com", 'say "hi"'),
                              ("c@example.com", "three\nline\nnote"),
                              ("d@example.com", "end")]
    assert all(r.error is None for r in table.rows)


def test_blank_lines_and_empty_rows_are_skipped() -> None:
    table = read_rows(b"\n\nemail,name\n\n,\n  \na@example.com,A\n\n\n,,\nb@example.com,B\n\n")
    assert table.columns == ("email", "name")
    assert [(r.index, r.line) for r in table.rows] == [(0, 7), (1, 11)]


def test_old_mac_line_ends() -> None:
    table = read_rows(b"email\ra@example.com\rb@example.com\r")
    assert _values(table) == [("a@example.com",), ("b@example.com",)]
    assert table.has_header and [r.line for r in table.rows] == [2, 3]


# --- malformed rows --------------------------------------------------------------------

@pytest.mark.parametrize(("line", "reason"), [
    ("a@example.com,A,extra,more", "has 4 cells, the header has 2"),
    ("a@example.com,A\x00B", "NUL"),
    ('a@example.com,"A"B', "stray quote"),
])
def test_malformed_row_is_reported_and_the_rest_is_read(line: str, reason: str) -> None:
    data = f"email,name\nx@example.com,X\n{line}\ny@example.com,Y\n".encode()
    table = read_rows(data)
    assert len(table.rows) == 3
    bad = table.rows[1]
    assert (bad.index, bad.line, bad.values) == (1, 3, ())
    assert bad.error is not None and reason in bad.error
    assert table.rows[0].values == ("x@example.com", "X")
    assert (table.rows[2].line, table.rows[2].values) == (4, ("y@example.com", "Y"))
    assert query_of(bad, 0) is None


def test_unterminated_quote_at_the_end() -> None:
    table = read_rows(b'email,name\nx@example.com,X\ny@example.com,"Y\nz@example.com,Z\n')
    assert [r.error is None for r in table.rows] == [True, False]
    bad = table.rows[1]
    assert bad.line == 3
    assert "unterminated quote" in (bad.error or "")


def test_short_rows_are_padded_and_empty_trailing_cells_dropped() -> None:
    table = read_rows(b"email,name,city\na@example.com\nb@example.com,B,C,,\n")
    assert _values(table) == [("a@example.com", "", ""), ("b@example.com", "B", "C")]
    assert all(r.error is None for r in table.rows)


def test_unreadable_header_is_a_file_error() -> None:
    error = _raises(400, "file", read_rows, b'"email\nnever closed')
    assert "line 1" in str(error)


# --- empty files and caps --------------------------------------------------------------

@pytest.mark.parametrize("data", [b"", b"\n\n\r\n", codecs.BOM_UTF8, codecs.BOM_UTF16_LE,
                                  b"  \t\n", b"email\n", b"email,name\n\n,\n"])
def test_empty_file_or_no_data_row_is_400(data: bytes) -> None:
    _raises(400, "file", read_rows, data)


def _emails(n: int, header: bool = True) -> bytes:
    lines = ["email"] if header else []
    lines += [f"user{i}@example.com" for i in range(n)]
    return ("\n".join(lines) + "\n").encode()


def test_cap_of_10000_rows_is_allowed() -> None:
    table = read_rows(_emails(MAX_ROWS))
    assert MAX_ROWS == 10_000
    assert len(table.rows) == 10_000
    assert table.rows[-1].index == 9_999 and table.rows[-1].line == 10_001


@pytest.mark.parametrize("header", [True, False])
def test_10001_rows_is_413_naming_the_cap(header: bool) -> None:
    error = _raises(413, "file", read_rows, _emails(MAX_ROWS + 1, header))
    assert "10,000" in str(error)


def test_blank_lines_do_not_count_towards_the_cap() -> None:
    data = b"email\n" + b"a@example.com\n\n\n" * 3
    assert len(read_rows(data, max_rows=3).rows) == 3
    _raises(413, "file", read_rows, data + b"b@example.com\n", max_rows=3)


def test_cap_stops_reading_instead_of_parsing_the_whole_file(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the cap the reader stops: of a million lines, it reads the header and
    max_rows + 1 rows, not the rest."""
    read: list[str] = []

    def counting_stream(*args: object, **kwargs: object) -> Iterator[str]:
        for line in io.TextIOWrapper(*args, **kwargs):  # type: ignore[arg-type]
            read.append(line)
            yield line

    fake_io = types.SimpleNamespace(BytesIO=io.BytesIO, StringIO=io.StringIO,
                                    TextIOWrapper=counting_stream)
    monkeypatch.setattr(rows_module, "io", fake_io)
    _raises(413, "file", read_rows, _emails(1_000_000), max_rows=10)
    assert len(read) == 12  # the header, 10 rows, the one over


# --- the header rule -------------------------------------------------------------------

@pytest.mark.parametrize("first", [
    "a@example.com", "+1 (415) 555-0100", "example.com", "https://www.example.org/x",
    "8.8.8.8", "2001:db8::1",
])
def test_first_row_of_values_means_no_header(first: str) -> None:
    table = read_rows(f"{first},x\n{first},y\n".encode())
    assert not table.has_header
    assert table.columns == ("column_1", "column_2")
    assert [r.line for r in table.rows] == [1, 2]
    assert table.rows[0].values == (first, "x")


@pytest.mark.parametrize("header", ["email", "Phone Number", "domain,ip", "Company Name",
                                    "E-Mail Address;Name", "first name,last name"])
def test_names_make_a_header(header: str) -> None:
    delimiter = ";" if ";" in header else ","
    width = header.count(delimiter) + 1
    data = f"{header}\n{delimiter.join(['v'] * width)}\n".encode()
    table = read_rows(data)
    assert table.has_header
    assert table.columns == tuple(header.split(delimiter))


def test_blank_and_repeated_header_names_are_made_unique() -> None:
    table = read_rows(b"email,,email\na@example.com,b,c\n")
    assert table.columns == ("email", "column_2", "email_2")


# --- picking the column ----------------------------------------------------------------

def _table(header: str, *rows: str) -> Table:
    return read_rows(("\n".join([header, *rows]) + "\n").encode())


def test_column_by_name_is_case_insensitive_and_trimmed() -> None:
    table = _table("Name, Work Email ,phone", "A,a@example.com,1")
    assert pick_column(table, "email", "  work email") == 1
    assert pick_column(table, "phone", "PHONE") == 2


def test_missing_column_names_the_columns() -> None:
    table = _table("a,b,c", "1,2,3")
    error = _raises(400, "column", pick_column, table, "email", "x")
    assert str(error) == "column 'x' not found; the file has: a, b, c"


@pytest.mark.parametrize(("lookup_type", "header", "expected"), [
    ("email", "name,Email", 1), ("email", "name,e-mail", 1), ("email", "Email_Address,x", 0),
    ("email", "x,mail", 1), ("phone", "name,phone", 1), ("phone", "Phone Number,x", 0),
    ("phone", "x,mobile", 1), ("phone", "tel,x", 0),
    ("company", "id,company", 1), ("company", "company_name,x", 0),
    ("company", "organization,x", 0), ("company", "name,company", 1),  # company beats name
    ("company", "x,name", 1), ("domain", "domain,x", 0), ("domain", "x,Website", 1),
    ("domain", "url,x", 0), ("domain", "x,host", 1), ("ip", "ip,x", 0),
    ("ip", "x,IP Address", 1), ("ip", "x,address", 1), ("darkweb", "x,email", 1),
    ("darkweb", "domain,x", 0),
])
def test_column_auto_detected_by_header_name(lookup_type: str, header: str,
                                             expected: int) -> None:
    assert pick_column(_table(header, "v,w"), lookup_type, None) == expected


@pytest.mark.parametrize(("lookup_type", "values", "expected"), [
    ("email", ["a@example.com", "b@example.org", "not one"], 1),
    ("phone", ["+1 415 555 0100", "(020) 7946 0958", "+49 30 123456"], 1),
    ("domain", ["example.com", "https://www.example.org/about", "sub.example.co.uk"], 1),
    ("ip", ["8.8.8.8", "2001:db8::1", "10.0.0.1"], 1),
    ("darkweb", ["a@example.com", "example.org", "b@example.net"], 1),
    ("company", ["Acme Inc", "Globex", "Initech"], 0),
])
def test_column_auto_detected_by_content(lookup_type: str, values: list[str],
                                         expected: int) -> None:
    # headers named for no type; the other column holds numbers (and, for company, the
    # text column is the first one)
    if expected == 1:
        table = _table("ref,contact", *[f"{i},\"{v}\"" for i, v in enumerate(values)])
    else:
        table = _table("label,ref", *[f'"{v}",{i}' for i, v in enumerate(values)])
    assert pick_column(table, lookup_type, None) == expected


def test_headerless_file_is_detected_by_content() -> None:
    table = read_rows(b"1,a@example.com\n2,b@example.com\n")
    assert not table.has_header
    assert pick_column(table, "email", None) == 1
    assert pick_column(table, "email", "column_2") == 1


def test_detection_looks_past_malformed_and_empty_cells() -> None:
    table = _table("ref,contact", "1,", '2,a@example.com,x,y', "3,b@example.com",
                   "4,c@example.com")
    assert pick_column(table, "email", None) == 1


@pytest.mark.parametrize("lookup_type", ["email", "phone", "domain", "ip", "darkweb"])
def test_no_detectable_column_is_400(lookup_type: str) -> None:
    table = _table("label,ref", "hello,world", "foo,bar")
    error = _raises(400, "column", pick_column, table, lookup_type, None)
    assert "label, ref" in str(error)


def test_unknown_type_without_column_is_400() -> None:
    _raises(400, "column", pick_column, _table("a", "b"), "fax", None)


def test_query_of() -> None:
    row = Row(0, 2, ("  a@example.com ", "", "   "), None)
    assert query_of(row, 0) == "a@example.com"
    assert query_of(row, 1) is None
    assert query_of(row, 2) is None
    assert query_of(row, 3) is None
    assert query_of(Row(1, 3, (), "has 3 cells, the header has 1"), 0) is None


# --- results CSV -----------------------------------------------------------------------

@pytest.mark.parametrize(("cell", "expected"), [
    ("=1+1", "'=1+1"), ("+1", "+1"), ("-12.5", "-12.5"), ("+1+1", "'+1+1"),
    ("-A1", "'-A1"), ("+ 1", "'+ 1"), ("-1)*cmd", "'-1)*cmd"),
    ("-1+1", "'-1+1"), ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
    (" =cmd|' /C calc'!A0", "' =cmd|' /C calc'!A0"), ("   @x", "'   @x"),
    ("\t=1", "'\t=1"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("+49 30 123456", "+49 30 123456"),
    ("+1 (415) 555-0100", "+1 (415) 555-0100"),
    ("plain", "plain"), ("a=b", "a=b"), ("1-2", "1-2"), ("", ""), ("   ", "   "),
    ("x@example.com", "x@example.com"), ("'=already", "'=already"),
])
def test_formula_neutralisation(cell: str, expected: str) -> None:
    assert neutralise(cell) == expected


def _read(chunks: list[str]) -> list[list[str]]:
    return list(csv.reader(io.StringIO("".join(chunks), newline="")))


def test_results_csv_shape_order_errors_and_neutralisation() -> None:
    table = read_rows(b'email,note\n'
                      b'a@example.com,=HYPERLINK("x")\n'
                      b'b@example.com,ok,extra\n'
                      b'c@example.com,"multi\nline"\n'
                      b'd@example.com,-\n')
    results = {
        0: {"valid": True, "tags": ["x", "y"], "meta": {"k": 1}, "score": 0.5, "formula": "@x"},
        2: {"valid": False, "tags": [], "meta": None, "score": None, "formula": ""},
    }
    chunks = list(results_csv(table, ["valid", "tags", "meta", "score", "formula"], results,
                              {3: "provider timed out"}))
    text = "".join(chunks)
    assert not text.startswith("\ufeff")
    assert text.count("\r\n") == 5 and text.endswith("\r\n")  # header + 4 rows
    assert _read(chunks) == [
        ["email", "note", "valid", "tags", "meta", "score", "formula", "error"],
        ["a@example.com", "'=HYPERLINK(\"x\")", "true", '["x","y"]', '{"k":1}', "0.5", "'@x",
         ""],
        ["", "", "", "", "", "", "", "line 3: has 3 cells, the header has 2"],
        ["c@example.com", "multi\nline", "false", "[]", "", "", "", ""],
        ["d@example.com", "'-", "", "", "", "", "", "provider timed out"],
    ]


def test_results_csv_header_collisions_and_formula_headers() -> None:
    table = read_rows(b"email,valid,error,=x\na@example.com,1,2,3\n")
    rows = _read(list(results_csv(table, ["valid", "email"], {0: {"valid": True,
                                                                  "email": "n"}})))
    assert rows[0] == ["email", "valid", "error", "'=x", "valid_2", "email_2", "error_2"]
    assert rows[1] == ["a@example.com", "1", "2", "3", "true", "n", ""]


def test_results_csv_streams_in_chunks_in_input_order() -> None:
    table = read_rows(_emails(1_234))
    results = {i: {"n": i} for i in range(0, 1_234, 2)}
    chunks = list(results_csv(table, ["n"], results))
    assert len(chunks) > 2
    rows = _read(chunks)
    assert len(rows) == 1_235
    assert rows[1] == ["user0@example.com", "0", ""]
    assert rows[2] == ["user1@example.com", "", ""]
    assert rows[-1] == ["user1233@example.com", "", ""]


def test_round_trip() -> None:
    """The results CSV reads back with read_rows: same columns and cells (a neutralised
    cell keeps its apostrophe, so nothing a spreadsheet runs survives the trip)."""
    source = ('email;name;note\n'
              'a@example.com;Müller;"line one\nline two"\n'
              'b@example.com;"Say ""hi""";=1+2\n'
              'c@example.com;Zoë;plain, with comma\n').encode("cp1252")
    table = read_rows(source)
    fields = ["valid", "domain"]
    results = {r.index: {"valid": True, "domain": "example.com"} for r in table.rows}
    back = read_rows("".join(results_csv(table, fields, results)).encode("utf-8"))
    assert back.encoding == "utf-8" and back.delimiter == ","
    assert back.columns == ("email", "name", "note", "valid", "domain", "error")
    assert _values(back) == [
        ("a@example.com", "Müller", "line one\nline two", "true", "example.com", ""),
        ("b@example.com", 'Say "hi"', "'=1+2", "true", "example.com", ""),
        ("c@example.com", "Zoë", "plain, with comma", "true", "example.com", ""),
    ]
    assert [r.line for r in back.rows] == [2, 4, 5]
    assert pick_column(back, "email", None) == 0


def test_oversized_cell_is_a_malformed_row() -> None:
    table = read_rows(b"email,note\na@example.com," + b"y" * 200_000 + b"\nb@example.com,ok\n")
    assert [r.line for r in table.rows] == [2, 3]
    assert "longer than 131,072 characters" in (table.rows[0].error or "")
    assert table.rows[1].values == ("b@example.com", "ok")


@pytest.mark.parametrize(("data", "has_header"), [
    (b"first.name,last.name\nJohn,Smith\nJane,Doe\n", True),  # domain-shaped header names
    (b"contact.email\na@example.com\nb@example.com\n", True),
    (b"example.com\nexample.org\nsub.example.net\n", False),
    (b"a@example.com\n", False),  # one row: its shape alone decides
    (b"8.8.8.8,dns\n1.1.1.1,dns\n", False),
    (b"id,1234567\nx,y\n", True),  # a number over text is a header cell
])
def test_header_rule_compares_the_first_row_with_the_rows_below(data: bytes,
                                                                 has_header: bool) -> None:
    assert read_rows(data).has_header is has_header
