"""Record schemas: Avro for internal topics and tables, JSON Schema for workflow definitions."""

from schemas.avro import AvroCodec, DecodeError, codec

__all__ = ["AvroCodec", "DecodeError", "codec"]
