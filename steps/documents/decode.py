"""Bytes to text: UTF-8 when it is, else the encoding charset-normalizer detects."""

from __future__ import annotations

import codecs

from charset_normalizer import from_bytes

from steps.documents.shape import DocumentError

_SAMPLE = 256 * 1024  # detection reads a sample; decoding then covers the whole document


def decode(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """(text, encoding used). A given encoding is used as is; an unreadable one fails."""
    if encoding:
        try:
            codecs.lookup(encoding)
            return data.decode(encoding), encoding
        except LookupError:
            raise DocumentError(f"unknown encoding {encoding!r}") from None
        except UnicodeDecodeError as exc:
            raise DocumentError(f"the document is not valid {encoding}: {exc}") from None
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):].decode("utf-8", errors="replace"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if b"\x00" in data[:_SAMPLE] and not data.startswith((codecs.BOM_UTF16_LE,
                                                         codecs.BOM_UTF16_BE)):
        raise DocumentError("the document is binary, not text (NUL bytes and no UTF-16 mark)")
    best = from_bytes(data[:_SAMPLE]).best()
    if best is None:
        raise DocumentError("unreadable encoding: the document is not text in any "
                            "encoding that could be detected")
    try:
        return data.decode(best.encoding), best.encoding
    except UnicodeDecodeError as exc:
        raise DocumentError(f"unreadable encoding: detected {best.encoding}, "
                            f"but the document does not decode as it ({exc.reason})") from None
