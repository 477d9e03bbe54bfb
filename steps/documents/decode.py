"""Bytes to text: UTF-8 when it is, else the encoding charset-normalizer detects."""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

from steps.documents.shape import DocumentError

_SAMPLE = 256 * 1024  # detection reads a sample; decoding then covers the whole document
_CHAOS_SLACK = 0.02
_LEGACY = re.compile(r"^(cp[4-9]\d\d|mac_\w+)$")  # DOS and old Mac code pages
WESTERN = "cp1252"


def _detected(sample: bytes) -> str:
    """charset-normalizer's pick, with a tie-break for short single-byte samples.

    Short Latin-1/Windows-1252 text decodes without "chaos" in many code pages, and the
    detector may then name a DOS one (cp775 for a German CSV). Among the equally clean
    candidates, DOS/Mac code pages go last and the Western one (cp1252, the usual
    spreadsheet export) is preferred; `encoding` in the config overrides all of this.
    """
    results = list(from_bytes(sample))
    if not results:
        raise DocumentError("unreadable encoding: the document is not text in any "
                            "encoding that could be detected")
    floor = min(m.chaos for m in results)
    clean = [m for m in results if m.chaos <= floor + _CHAOS_SLACK]
    clean.sort(key=lambda m: bool(_LEGACY.match(m.encoding)))  # stable: keeps the order
    for match in clean:
        if WESTERN in match.could_be_from_charset:
            return WESTERN  # same text as match.encoding, by the detector's own account
    return clean[0].encoding


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
    encoding = _detected(data[:_SAMPLE])
    try:
        return data.decode(encoding), encoding
    except UnicodeDecodeError as exc:
        raise DocumentError(f"unreadable encoding: detected {encoding}, "
                            f"but the document does not decode as it ({exc.reason})") from None
