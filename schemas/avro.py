"""Avro encoding of internal records, with a one-byte format marker.

Records are schemaless Avro (fastavro) behind a marker byte, so a reader can
tell a hopflow record from stray bytes and a future format from this one.

Schemaless records carry no schema, so a field is added only at the END of a
top-level record, with a default: a record written before it ends early
(EOFError with today's schema), and is read again with the schema it was
written with (today's minus trailing defaulted fields) resolved to today's,
which fills in the defaults. Only a record that fails pays for the retry.
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
        self._older = _older_schemas(raw)

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
        except EOFError as exc:
            return self._decode_older(data, exc)
        except Exception as exc:  # fastavro raises several types on bad bytes
            raise DecodeError(f"not a valid {self.name} record: {exc}") from exc

    def _decode_older(self, data: bytes, first: Exception) -> dict[str, Any]:
        """A record written before trailing defaulted fields were added (module doc)."""
        for writer in self._older:
            buf = io.BytesIO(data[1:])
            try:
                record = fastavro.schemaless_reader(buf, writer, self.schema)
            except Exception:  # try the next older shape
                continue
            if buf.tell() == len(data) - 1:  # the whole record, nothing left over
                return record  # type: ignore[return-value]
        raise DecodeError(f"not a valid {self.name} record: {first}") from first


def _older_schemas(raw: dict[str, Any]) -> list[Any]:
    """The schema without its last 1, 2, ... fields, while those fields have defaults."""
    fields = list(raw.get("fields", []))
    older = []
    while fields and "default" in fields[-1]:
        fields.pop()
        older.append(fastavro.parse_schema({**raw, "fields": list(fields)}))
    return older


@cache
def codec(name: str) -> AvroCodec:
    """The shared codec for a schema file name (without .avsc)."""
    return AvroCodec(name)
