"""PDF text with pypdf: page texts (capped in pages and bytes), page count, metadata."""

from __future__ import annotations

import io
import logging
from typing import Any

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from steps.documents.shape import OUTPUT_BUDGET, DocumentError

DEFAULT_MAX_PAGES = 100
MAX_PAGES = 500
_META = ("title", "author", "subject", "creator", "producer")
logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings on odd files are noise here


def _meta(reader: PdfReader) -> dict[str, str | None]:
    try:
        info = reader.metadata
    except PyPdfError:
        info = None
    out: dict[str, str | None] = {}
    for key in _META:
        value = getattr(info, key, None) if info is not None else None
        out[key] = str(value)[:1000] if value else None
    return out


def parse_pdf(data: bytes, *, max_pages: int = DEFAULT_MAX_PAGES) -> dict[str, Any]:
    """{text, pages, page_count, meta, truncated}.

    The text is returned twice (joined and per page), so each copy gets half the budget.
    """
    if not data.lstrip()[:5] == b"%PDF-":
        raise DocumentError("not a PDF: the document does not start with %PDF-")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError("the PDF is encrypted with a password")
        count = len(reader.pages)
        pages: list[str] = []
        used = 0
        truncated = count > max_pages
        for page in reader.pages[:max_pages]:
            text = (page.extract_text() or "").rstrip()
            size = len(text.encode())
            if used + size > OUTPUT_BUDGET // 2:
                room = OUTPUT_BUDGET // 2 - used
                pages.append(text.encode()[:max(room, 0)].decode(errors="ignore"))
                truncated = True
                break
            used += size
            pages.append(text)
    except DocumentError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DocumentError(f"not a readable PDF: {type(exc).__name__}: {exc}") from None
    return {"text": "\n\n".join(pages), "pages": pages, "page_count": count,
            "meta": _meta(reader), "truncated": truncated}
