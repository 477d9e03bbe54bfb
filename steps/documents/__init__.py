"""Documents: bytes in, one parsed-document shape out (CSV, JSON, plain text, PDF text).

`parse` (steps/parse.py) fetches the bytes; the modules here turn them into the
output shape built by `shape.document`. Nothing here does I/O.
"""
