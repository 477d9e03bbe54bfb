"""Which format a document is: given, else magic bytes, content type, extension, content."""

from __future__ import annotations

import posixpath
from urllib.parse import urlsplit

_TYPES = {"application/pdf": "pdf", "application/json": "json", "text/json": "json",
          "text/csv": "csv", "application/csv": "csv", "text/tab-separated-values": "csv",
          "text/plain": "text"}
_EXTENSIONS = {".pdf": "pdf", ".json": "json", ".csv": "csv", ".tsv": "csv", ".txt": "text",
               ".text": "text", ".md": "text", ".log": "text"}


def _from_content_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    base = content_type.split(";", 1)[0].strip().lower()
    if base.endswith("+json"):
        return "json"
    return _TYPES.get(base)


def _from_name(name: str | None) -> str | None:
    if not name:
        return None
    path = urlsplit(name).path if "://" in name else name
    return _EXTENSIONS.get(posixpath.splitext(path.lower())[1])


def detect(data: bytes, content_type: str | None = None, name: str | None = None) -> str:
    """PDF by its magic bytes first (a mislabelled PDF is still a PDF); then a specific
    content type, the file extension, text/plain, and finally the content itself (JSON
    by its first character, CSV by a delimiter counted alike on every line)."""
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"%PDF-"):
        return "pdf"
    by_type = _from_content_type(content_type)
    if by_type not in (None, "text"):
        return by_type
    by_name = _from_name(name)
    if by_name:
        return by_name
    if by_type:
        return by_type
    if head[:1] in (b"{", b"["):
        return "json"
    return "csv" if _looks_tabular(data[:8192]) else "text"


def _looks_tabular(sample: bytes) -> bool:
    """At least two lines, each with the same (non-zero) count of one delimiter."""
    lines = [line for line in sample.splitlines()[:20] if line.strip()]
    if len(sample) == 8192 and len(lines) > 2:
        lines = lines[:-1]  # the last line may be cut
    if len(lines) < 2:
        return False
    for delimiter in (b",", b";", b"\t", b"|"):
        counts = {line.count(delimiter) for line in lines}
        if len(counts) == 1 and counts != {0}:
            return True
    return False
