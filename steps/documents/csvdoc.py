"""CSV: dialect sniffed (or given), a header row turned into keys, rows capped."""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson

from steps.documents.shape import MAX_ROWS, OUTPUT_BUDGET, DocumentError

DELIMITERS = ",;\t|"
_SNIFF_CHARS = 64 * 1024


def _dialect(text: str, delimiter: str | None) -> type[csv.Dialect] | csv.Dialect:
    if delimiter:
        class Given(csv.excel):
            pass
        Given.delimiter = delimiter
        return Given
    sample = text[:_SNIFF_CHARS]
    if "\n" in sample[:-1]:  # a cut last line would confuse the sniffer
        sample = sample[: sample.rfind("\n", 0, len(sample) - 1) + 1] or sample
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS)
    except csv.Error:
        return csv.excel  # one column, or nothing to tell: plain commas


def _keys(header: list[str]) -> list[str]:
    """Column names, blank and repeated ones made unique (`column_3`, `total_2`)."""
    keys: list[str] = []
    for i, raw in enumerate(header, 1):
        key = raw.strip() or f"column_{i}"
        base, n = key, 2
        while key in keys:
            key, n = f"{base}_{n}", n + 1
        keys.append(key)
    return keys


def parse_csv(text: str, *, delimiter: str | None = None, has_header: bool = True,
              max_rows: int = MAX_ROWS) -> dict[str, Any]:
    """{columns, rows, row_count, truncated, delimiter}; rows beyond the caps are dropped."""
    dialect = _dialect(text, delimiter)
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    columns: list[str] | None = None
    rows: list[Any] = []
    used = 0
    truncated = False
    try:
        for cells in reader:
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue  # blank line
            if has_header and columns is None:
                columns = _keys(cells)
                continue
            if len(rows) >= max_rows:
                truncated = True
                break
            row: Any = cells
            if columns is not None:
                row = dict(zip(columns, cells, strict=False))
                for key in columns[len(cells):]:
                    row[key] = None
                if len(cells) > len(columns):
                    row["_extra"] = cells[len(columns):]
            used += len(orjson.dumps(row)) + 1
            if used > OUTPUT_BUDGET:
                truncated = True
                break
            rows.append(row)
    except csv.Error as exc:
        raise DocumentError(f"not readable as CSV (line {reader.line_num}): {exc}") from None
    return {"columns": columns, "rows": rows, "row_count": len(rows), "truncated": truncated,
            "delimiter": dialect.delimiter}
