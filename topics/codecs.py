"""Faust codecs for the catalog's keys and table values.

Topics carry raw bytes (agents decode them so a bad record can be
dead-lettered with its reason); tables store Avro through these codecs.
"""

from __future__ import annotations

from typing import Any

from faust.serializers import codecs

from schemas import codec as avro_codec
from schemas.registry import decode_entry, encode_entry


class Utf8(codecs.Codec):
    """Keys as str in Python, UTF-8 on the wire (Faust's `raw` would hand back bytes)."""

    def _dumps(self, obj: Any) -> bytes:
        return obj.encode() if isinstance(obj, str) else bytes(obj)

    def _loads(self, s: bytes) -> Any:
        return s.decode()


class Avro(codecs.Codec):
    """A table value codec for one Avro schema."""

    def __init__(self, schema: str, **kwargs: Any) -> None:
        super().__init__(schema=schema, **kwargs)
        self._codec = avro_codec(schema)

    def _dumps(self, obj: Any) -> bytes:
        return self._codec.encode(obj)

    def _loads(self, s: bytes) -> Any:
        return self._codec.decode(s)


class RegistryEntry(codecs.Codec):
    """Registry rows: Avro envelope, JSON body (decoded to a dict in Python)."""

    def _dumps(self, obj: Any) -> bytes:
        return encode_entry(obj)

    def _loads(self, s: bytes) -> Any:
        return decode_entry(s)


UTF8 = Utf8()
codecs.register("utf8", UTF8)
