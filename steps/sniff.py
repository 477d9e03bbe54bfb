"""Content type from a file's first bytes, so a mislabelled upload is named for what it is.

Magic numbers of the common document and image formats first, then the name's
extension, then text vs binary by the bytes themselves.
"""

from __future__ import annotations

import mimetypes

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
)
DEFAULT = "application/octet-stream"


def content_type(head: bytes, name: str = "") -> str:
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    by_name = mimetypes.guess_type(name)[0] if name else None
    if by_name:
        return by_name
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not merely a character cut at the end
            return DEFAULT
    return "text/plain" if b"\x00" not in head else DEFAULT
