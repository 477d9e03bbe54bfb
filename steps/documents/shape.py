"""The parsed document: one shape for every format, capped to fit a run's state.

A run keeps every step's output in its state (a Kafka record, 1 MB by default)
twice (the outputs map and the step's history entry), so the content a parse
returns is held to OUTPUT_BUDGET bytes of JSON; what does not fit is dropped and
`truncated` says so.
"""

from __future__ import annotations

from typing import Any

FORMATS = ("csv", "json", "text", "pdf")
MAX_ROWS = 10_000
OUTPUT_BUDGET = 256 * 1024  # bytes of JSON for rows / data / text (+ pages)
MAX_INPUT_BYTES = 10 * 1024 * 1024  # inline content and stored files

OUTPUT: dict[str, str] = {
    "format": "csv, json, text or pdf",
    "size": "bytes of the document read",
    "encoding": "the text encoding used (detected unless given); null for PDF",
    "columns": "CSV: the header's column names (null without a header row)",
    "rows": "CSV: one object per row keyed by column (lists of cells without a header)",
    "row_count": "CSV: rows returned",
    "data": "JSON: the parsed value",
    "text": "text and PDF: the text (PDF: page texts joined by blank lines)",
    "pages": "PDF: one text per page read",
    "page_count": "PDF: pages in the document (also those not read)",
    "meta": "PDF: title, author, subject, creator, producer (null when absent)",
    "truncated": "true when rows, pages or text were cut to the caps",
    "source": "where the bytes came from: {kind: url|content|file, url|fileId|name}",
}


def document(fmt: str, size: int, **fields: Any) -> dict[str, Any]:
    """Every OUTPUT key present (null when the format has none), so paths never vary."""
    out: dict[str, Any] = dict.fromkeys(OUTPUT)
    out.update(format=fmt, size=size, truncated=False)
    out.update(fields)
    return out


class DocumentError(ValueError):
    """A document that cannot be read as its format (permanent: the same bytes fail again)."""
