"""Bulk CSV rows: read an uploaded file into numbered rows, pick the query column,
write the results CSV.

Pure (no Kafka, no HTTP): the bulk-job pipeline calls it on the upload and on the
download. Rules (README "Bulk CSV rules"):

* Encoding: UTF-8 (with or without BOM), UTF-16 (BOM, or the NUL pattern of
  ASCII text without one), else charset-normalizer's pick (cp1252 for Latin-1).
* Delimiter: `,` `;` tab `|`, chosen by csv.Sniffer on a sample when that choice
  splits the sample's rows into a consistent count of cells, else the candidate
  that does so best; a file with one column reads as comma-separated.
* Header: the first non-blank row, unless one of its cells looks like a value
  (an email, a URL or domain, an IP, a phone number) as most cells below it in
  its column do: then the file has no header and its columns are column_1..n.
* Rows: blank lines (and rows of empty cells) are skipped; a short row is padded
  with empty cells, empty trailing cells beyond the header are dropped. A row
  with more cells, a NUL, a stray quote or an unterminated quote at the end is
  malformed: it keeps its index and line number with the reason, and the rest
  of the file is read as usual.
* At most `max_rows` data rows: the reader stops at the first one past the cap
  (413) instead of parsing the whole file.
* Results: csv.writer, QUOTE_MINIMAL, CRLF; every cell that a spreadsheet would
  read as a formula is prefixed with an apostrophe (OWASP CSV injection).
"""

from __future__ import annotations

import codecs
import csv
import io
import ipaddress
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from steps.documents.csvdoc import DELIMITERS, _keys
from steps.documents.decode import _detected
from steps.documents.shape import DocumentError

MAX_ROWS = 10_000
_SAMPLE_BYTES = 256 * 1024  # encoding detection
_SNIFF_CHARS = 64 * 1024  # delimiter choice: this much text, at most _SNIFF_ROWS rows
_SNIFF_ROWS = 200
_SNIFFER_CHARS = 2 * 1024  # csv.Sniffer counts every character per line: a small sample
_CONSISTENT = 0.9  # share of sample rows with the usual cell count to trust a delimiter
_DETECT_VALUES = 50  # auto-detection looks at this many values per column
_CHUNK_ROWS = 500  # results_csv yields this many lines at a time


class RowsError(ValueError):
    """A file that cannot become a bulk job: .status 400 or 413, .field file or column."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


@dataclass(frozen=True, slots=True)
class Row:
    index: int  # 0-based data row index (header excluded), in input order
    line: int  # 1-based line of the file where the record starts
    values: tuple[str, ...]  # the cells, padded to the header; () when malformed
    error: str | None  # why the row is malformed, else None


@dataclass(frozen=True, slots=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    encoding: str
    delimiter: str
    has_header: bool = True


# --- value shapes: the header rule and column auto-detection ---------------------------

_EMAIL = re.compile(r"[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s.,;<>\"]{2,}")
_DOMAIN = re.compile(
    r"(?:https?://)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]+)"
    r"\.?(?::\d{1,5})?(?:[/?#]\S*)?", re.IGNORECASE)
_PHONE = re.compile(r"\+?[\d\s().\-/]{7,24}")
_LETTER = re.compile(r"[^\W\d_]")


def _is_email(value: str) -> bool:
    return _EMAIL.fullmatch(value) is not None


def _is_domain(value: str) -> bool:
    return "@" not in value and _DOMAIN.fullmatch(value) is not None


def _is_ip(value: str) -> bool:
    if not (":" in value or value[:1].isdigit()):
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_phone(value: str) -> bool:
    if _PHONE.fullmatch(value) is None:
        return False
    digits = sum(c.isdigit() for c in value)
    return 7 <= digits <= 15 and not _is_ip(value)


def _is_company(value: str) -> bool:
    return (_LETTER.search(value) is not None and not _is_email(value)
            and not _is_domain(value) and not _is_ip(value))


_VALUE_SHAPES = (_is_email, _is_domain, _is_ip, _is_phone)


def _is_data_row(first: list[str], following: list[list[str]]) -> bool:
    """The header rule: the first row is data when one of its cells has a value's shape
    (email, URL or domain, IP, phone) that also fits most of the values below it in its
    column (all of them when the file has one row). So `first.name` over names, a
    domain-shaped header, stays a header, while `example.com` over domains does not."""
    for i, cell in enumerate(first):
        cell = cell.strip()
        if not cell:
            continue
        for shape in _VALUE_SHAPES:
            if not shape(cell):
                continue
            below = [r[i].strip() for r in following if i < len(r) and r[i].strip()]
            if not below or sum(map(shape, below)) * 2 > len(below):
                return True
    return False


def _sample_rows(sample: str, delimiter: str) -> list[list[str]]:
    """The sample's non-blank rows after the first (the header rule's evidence)."""
    if not sample.endswith("\n") and "\n" in sample:
        sample = sample[: sample.rfind("\n", 0, len(sample) - 1) + 1]
    rows: list[list[str]] = []
    try:
        for cells in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter):
            if any(c.strip() for c in cells):
                rows.append(cells)
                if len(rows) > _DETECT_VALUES:
                    break
    except csv.Error:
        pass
    return rows[1:]


_SHAPES = {
    "email": (_is_email,),
    "phone": (_is_phone,),
    "company": (_is_company,),
    "domain": (_is_domain,),
    "ip": (_is_ip,),
    "darkweb": (_is_email, _is_domain),
}

_EMAIL_NAMES = ("email", "emailaddress", "mail", "emails", "email_address", "e-mail")
_DOMAIN_NAMES = ("domain", "website", "url", "host", "site", "domainname", "hostname")
_NAMES: dict[str, tuple[str, ...]] = {
    "email": _EMAIL_NAMES,
    "phone": ("phone", "phonenumber", "mobile", "tel", "telephone", "cell", "mobilephone"),
    "company": ("company", "companyname", "organization", "organisation", "name"),
    "domain": _DOMAIN_NAMES,
    "ip": ("ip", "ipaddress", "address", "ipv4", "ipv6"),
    "darkweb": _EMAIL_NAMES + _DOMAIN_NAMES,
}


def _norm(name: str) -> str:
    """Header names compared without case, spaces, dashes or underscores: `E-Mail Address`
    matches `email_address`."""
    return re.sub(r"[^0-9a-z]", "", name.strip().lower())


# --- reading ---------------------------------------------------------------------------


def _encoding(data: bytes) -> str:
    """The codec for the whole file (UTF-16 and UTF-8 BOMs are consumed by the codec)."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if data.isascii() and b"\x00" not in data[:_SAMPLE_BYTES]:
        return "utf-8"
    sample = data[:_SAMPLE_BYTES]
    if b"\x00" in sample:
        head = sample[:4096]
        odd, even = head[1::2].count(0), head[0::2].count(0)
        if odd > len(head) // 4 and even < odd // 8:
            return "utf-16-le"
        if even > len(head) // 4 and odd < even // 8:
            return "utf-16-be"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    if sample.count(0) > len(sample) // 10:
        raise RowsError(400, "file", "the file is binary, not CSV text")
    try:
        return _detected(sample.replace(b"\x00", b""))
    except DocumentError as exc:
        raise RowsError(400, "file", str(exc)) from None


def _delimiter(sample: str) -> str:
    """Sniffer's pick when it splits the sample consistently, else the most consistent."""
    if not sample.endswith("\n") and "\n" in sample:
        sample = sample[: sample.rfind("\n", 0, len(sample) - 1) + 1]  # no cut last line
    scores: dict[str, tuple[float, int]] = {}
    for delimiter in DELIMITERS:
        counts = []
        reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
        try:
            for cells in reader:
                if any(c.strip() for c in cells):
                    counts.append(len(cells))
                    if len(counts) >= _SNIFF_ROWS:
                        break
        except csv.Error:
            pass
        if not counts:
            continue
        width, seen = Counter(counts).most_common(1)[0]
        if width > 1:
            scores[delimiter] = (seen / len(counts), width)
    try:
        sniffed = csv.Sniffer().sniff(sample[:_SNIFFER_CHARS], delimiters=DELIMITERS).delimiter
    except csv.Error:
        sniffed = None
    if sniffed in scores and scores[sniffed][0] >= _CONSISTENT:
        return sniffed
    if not scores:
        return ","
    best = max(scores, key=lambda d: scores[d])
    return best if scores[best][0] >= 0.5 else ","


class _Dialect(csv.Dialect):
    delimiter = ","
    quotechar = '"'
    doublequote = True
    skipinitialspace = False
    lineterminator = "\r\n"
    quoting = csv.QUOTE_MINIMAL
    strict = True  # a stray quote or an unterminated one is an error, per record


def _reason(exc: csv.Error) -> str:
    reason = str(exc)
    if "unexpected end of data" in reason:
        return "an unterminated quote (the record runs to the end of the file)"
    if "expected after" in reason:
        return "a stray quote after a quoted cell"
    if "field limit" in reason:
        return f"a cell longer than {csv.field_size_limit():,} characters"
    return reason


def read_rows(data: bytes, *, max_rows: int = MAX_ROWS) -> Table:
    """The file as numbered rows; RowsError for an empty file or one over max_rows.

    One loop over csv.reader (C) on a lazily decoding stream: this is the bulk job's hot
    path, and the cap must stop it before the rest of a huge file is parsed. The reader
    goes on after a malformed record (csv resets its state at the next line)."""
    if not data.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise RowsError(400, "file", "the file is empty")
    encoding = _encoding(data)
    sample = data[:_SNIFF_CHARS * 2].decode(encoding, errors="ignore")[:_SNIFF_CHARS]
    delimiter = _delimiter(sample)
    stream = io.TextIOWrapper(io.BytesIO(data), encoding=encoding, errors="replace",
                              newline="")
    reader = csv.reader(stream, _Dialect, delimiter=delimiter)
    columns: tuple[str, ...] | None = None
    has_header = True
    width = 0
    rows: list[Row] = []
    append = rows.append
    while True:
        line = reader.line_num + 1
        error: str | None = None
        values: tuple[str, ...] = ()
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            error = _reason(exc)
            cells = None
        except UnicodeDecodeError as exc:
            raise RowsError(400, "file", f"the file does not decode as {exc.encoding}") from None
        if cells is not None:
            joined = cells[0] if len(cells) == 1 else "".join(cells)
            if not joined or joined.isspace():
                continue  # a blank line, or a row of empty cells
            if "\x00" in joined:
                error = "contains a NUL character"
        if columns is None:  # the first non-blank record: the header, or the first row
            if cells is None or error is not None:
                raise RowsError(400, "file", f"the first row (line {line}) is not readable: "
                                             f"{error}")
            has_header = not _is_data_row(cells, _sample_rows(sample, delimiter))
            if has_header:
                columns = tuple(_keys(cells))
                width = len(columns)
                continue
            columns = tuple(f"column_{i}" for i in range(1, len(cells) + 1))
            width = len(columns)
        if len(rows) >= max_rows:
            raise RowsError(413, "file", f"the file has more than {max_rows:,} rows "
                                         f"(the limit is {max_rows:,})")
        if error is None and cells is not None:
            n = len(cells)
            if n == width:
                values = tuple(cells)
            elif n < width:
                values = (*cells, *([""] * (width - n)))  # a spreadsheet dropped empty cells
            elif any(c.strip() for c in cells[width:]):
                error = f"has {n} cells, the header has {width}"
            else:
                values = tuple(cells[:width])  # trailing delimiters
        append(Row(len(rows), line, values, error))
    if columns is None:
        raise RowsError(400, "file", "the file is empty")
    if not rows:
        raise RowsError(400, "file", "the file has a header row but no data rows")
    return Table(columns, tuple(rows), encoding, delimiter, has_header)


# --- the query column ------------------------------------------------------------------


def pick_column(table: Table, lookup_type: str, column: str | None) -> int:
    """The index of the column of queries: `column` by name, else a header named for the
    type, else the column whose first values mostly have the type's shape."""
    if column is not None and column.strip():
        wanted = column.strip().casefold()
        for i, name in enumerate(table.columns):
            if name.strip().casefold() == wanted:
                return i
        raise RowsError(400, "column", f"column {column.strip()!r} not found; the file has: "
                                       f"{', '.join(table.columns)}")
    if lookup_type not in _SHAPES:
        raise RowsError(400, "column", f"no column can be detected for type {lookup_type!r}")
    if table.has_header:
        normed = [_norm(name) for name in table.columns]
        for alias in _NAMES[lookup_type]:
            if _norm(alias) in normed:
                return normed.index(_norm(alias))
    shapes = _SHAPES[lookup_type]
    best, best_share = -1, 0.5
    for i in range(len(table.columns)):
        values = _first_values(table, i)
        if not values:
            continue
        share = sum(any(s(v) for s in shapes) for v in values) / len(values)
        if share > best_share:
            best, best_share = i, share
    if best < 0:
        raise RowsError(400, "column", f"no column looks like {lookup_type} values (the file "
                                       f"has: {', '.join(table.columns)}); name one with "
                                       "`column`")
    return best


def _first_values(table: Table, column: int) -> list[str]:
    values: list[str] = []
    for row in table.rows:
        value = query_of(row, column)
        if value is not None:
            values.append(value)
            if len(values) >= _DETECT_VALUES:
                break
    return values


def query_of(row: Row, column: int) -> str | None:
    """The trimmed cell, or None when the row is malformed or the cell missing or empty."""
    if row.error is not None or column >= len(row.values):
        return None
    return row.values[column].strip() or None


# --- writing the results ---------------------------------------------------------------

_FORMULA = frozenset("=+-@\t\r")
_SIGNED_NUMBER = re.compile(r"[+-][0-9][0-9 ().-]*")
_RISKY = _FORMULA | {" "}  # the first characters worth a closer look


def neutralise(cell: str) -> str:
    """OWASP CSV injection: a cell a spreadsheet would run as a formula gets an apostrophe.

    A signed number or phone number (`+49 30 1234`, `-12.5`: sign, digits, spaces, dots,
    dashes, parentheses only) can name no function or cell, so it is left as written:
    a phone lookup's results would otherwise all read `'+...`."""
    if cell and (cell[0] in _FORMULA or (cell[0] == " " and cell.lstrip(" ")[:1] in _FORMULA)):
        if _SIGNED_NUMBER.fullmatch(cell):
            return cell
        return "'" + cell
    return cell


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()


def _header(columns: Sequence[str], result_fields: Sequence[str]) -> list[str]:
    """Input columns, then result fields and `error`, renamed (`_2`) where they collide."""
    names = list(columns)
    for name in [*result_fields, "error"]:
        key, n = name, 2
        while key in names:
            key, n = f"{name}_{n}", n + 1
        names.append(key)
    return names


def results_csv(table: Table, result_fields: Sequence[str],
                results: Mapping[int, Mapping[str, Any] | None],
                errors: Mapping[int, str] | None = None) -> Iterator[str]:
    """CSV text chunks, header first: each input row (in input order) with the lookup's
    fields and an `error` cell (a malformed row: its line and reason)."""
    errors = errors or {}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([neutralise(c) for c in _header(table.columns, result_fields)])
    width = len(table.columns)
    blank = [""] * width
    fields = list(result_fields)
    empty = [""] * len(fields)
    for n, row in enumerate(table.rows, 1):
        # neutralise() inlined behind a first-character check: 10,000 rows x the columns
        cells = [c if not c or c[0] not in _RISKY else neutralise(c)
                 for c in row.values] if row.values else list(blank)
        result = results.get(row.index)
        if result:
            for field in fields:
                value = result.get(field)
                cell = value if type(value) is str else _cell(value)
                cells.append(cell if not cell or cell[0] not in _RISKY else neutralise(cell))
        else:
            cells.extend(empty)
        if row.error is not None:
            error = f"line {row.line}: {row.error}"
        else:
            error = errors.get(row.index) or ""
        cells.append(neutralise(error))
        writer.writerow(cells)
        if n % _CHUNK_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    rest = buffer.getvalue()
    if rest:
        yield rest
