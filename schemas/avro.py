"""Avro encoding of internal records, with a one-byte format marker.

Records are schemaless Avro (fastavro) behind a marker byte, so a reader can
tell a hopflow record from stray bytes and a future format from this one.
"""

from __future__ import annotations

import io
import json
from functools import cache
from pathlib import Path
from typing import Any

import fastavro

_HERE = Path(__file__).parent
_MARKER = b"\x01"


class DecodeError(ValueError):
    """A record that cannot be read with its topic's schema."""


class AvroCodec:
    """Encode and decode one record type."""

    def __init__(self, name: str) -> None:
        self.name = name
        raw = json.loads((_HERE / f"{name}.avsc").read_text())
        self.schema = fastavro.parse_schema(raw)

    def encode(self, record: dict[str, Any]) -> bytes:
        buf = io.BytesIO()
        buf.write(_MARKER)
        fastavro.schemaless_writer(buf, self.schema, record)
        return buf.getvalue()

    def decode(self, data: bytes | None) -> dict[str, Any]:
        if not data or data[:1] != _MARKER:
            raise DecodeError(f"not a {self.name} record (missing format marker)")
        try:
            return fastavro.schemaless_reader(io.BytesIO(data[1:]), self.schema)  # type: ignore[return-value]
        except Exception as exc:  # fastavro raises several types on bad bytes
            raise DecodeError(f"not a valid {self.name} record: {exc}") from exc


@cache
def codec(name: str) -> AvroCodec:
    """The shared codec for a schema file name (without .avsc)."""
    return AvroCodec(name)
