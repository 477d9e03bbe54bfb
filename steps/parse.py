"""parse (reference 002): read a document (URL, inline content or stored file) into data.

An I/O step: a URL is fetched through the guarded client (a refused address is a
permanent failure), a file reference is read from the tenant's file store the
executor passes in `ctx.extras["files"]`. Parsing itself is CPU work, done in a
thread so the worker's event loop keeps serving other runs meanwhile.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from dataclasses import dataclass
from typing import Any

import httpx

from steps.base import ExecContext, Issue, Outcome, StepFailed, headers_issues, timeout_issues
from steps.documents import shape
from steps.documents.csvdoc import DELIMITERS, parse_csv
from steps.documents.decode import decode
from steps.documents.detect import detect
from steps.documents.pdfdoc import DEFAULT_MAX_PAGES, MAX_PAGES, parse_pdf
from steps.documents.shape import (
    FORMATS,
    MAX_INPUT_BYTES,
    MAX_ROWS,
    DocumentError,
    document,
)
from steps.documents.textdoc import cap_text, parse_json
from steps.files import FileError, read_bytes, reference_id
from steps.http import BlockedURL, ResponseTooLarge, check_url, guarded_request, redact_headers
from steps.templates import template_issues

name = "parse"
kind = "io"
TITLE = "Parse a document (CSV, JSON, text, PDF) from a URL, inline content or a stored file"
OUTPUT: dict[str, str] = shape.OUTPUT
SOURCES = ("url", "content", "content_base64", "file", "file_id")
DEFAULT_TIMEOUT = 30.0
MAX_TIMEOUT = 120.0
CONFIG: dict[str, str] = {
    "url": "string: an http(s) URL fetched through the outbound guard (one source of: url, "
           "content, content_base64, file, file_id)",
    "content": "string: the document's text inline",
    "content_base64": "string: the document's bytes, base64",
    "file": "object: a file reference {\"fileId\": ...}, usually \"{{input.file}}\"",
    "file_id": "string: a stored file's id (a UUID)",
    "format": f"string: one of {', '.join(FORMATS)}; detected when absent (magic bytes, "
              "content type, extension, first character)",
    "encoding": "string: the text encoding; detected when absent (UTF-8, else "
                "charset-normalizer)",
    "delimiter": f"string: CSV delimiter, one character; sniffed among {DELIMITERS!r} "
                 "when absent",
    "has_header": "boolean: CSV's first row names the columns (default true)",
    "max_rows": f"integer: CSV rows to return, 1..{MAX_ROWS} (default {MAX_ROWS})",
    "max_pages": f"integer: PDF pages to read, 1..{MAX_PAGES} (default {DEFAULT_MAX_PAGES})",
    "name": "string: the document's file name, a format hint for inline content",
    "headers": "object: request headers for url (string values; {{secrets.x}} allowed)",
    "timeout": f"number: seconds for the url fetch, (0, {MAX_TIMEOUT}] "
               f"(default {DEFAULT_TIMEOUT:g})",
}


def _bounded_int(config: dict[str, Any], key: str, high: int, where: str) -> list[Issue]:
    value = config.get(key)
    if value is None or (isinstance(value, str) and "{{" in value):
        return []
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        return [Issue(f"{where}.{key}", f"must be an integer in 1..{high}")]
    return []


def validate(config: dict[str, Any], where: str) -> list[Issue]:
    given = [key for key in SOURCES if key in config]
    if len(given) != 1:
        return [Issue(f"{where}.url", "give exactly one document source: url, content, "
                                      "content_base64, file (a {\"fileId\": ...} reference or "
                                      "\"{{input.file}}\") or file_id")]
    issues: list[Issue] = []
    source = given[0]
    value = config[source]
    if source == "url" and (not isinstance(value, str) or not value or (
            "{{" not in value and not value.startswith(("http://", "https://")))):
        issues.append(Issue(f"{where}.url", "must be an http:// or https:// URL"))
    elif source in ("content", "content_base64", "file_id") and not isinstance(value, str):
        issues.append(Issue(f"{where}.{source}", "must be a string"))
    elif source == "file" and not isinstance(value, dict | str):
        issues.append(Issue(f"{where}.file", "must be a file reference {\"fileId\": ...} or a "
                                             "template such as \"{{input.file}}\""))
    fmt = config.get("format")
    if fmt is not None and fmt not in FORMATS:
        issues.append(Issue(f"{where}.format", f"must be one of {', '.join(FORMATS)}"))
    delimiter = config.get("delimiter")
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1
                                  or delimiter in "\"\r\n"):
        issues.append(Issue(f"{where}.delimiter", "must be one character (not a quote or a "
                                                  "line break)"))
    for key in ("encoding", "name"):
        if key in config and not isinstance(config[key], str):
            issues.append(Issue(f"{where}.{key}", "must be a string"))
    if "has_header" in config and not isinstance(config["has_header"], bool):
        issues.append(Issue(f"{where}.has_header", "must be true or false"))
    issues += _bounded_int(config, "max_rows", MAX_ROWS, where)
    issues += _bounded_int(config, "max_pages", MAX_PAGES, where)
    issues += headers_issues(config, where)
    issues += timeout_issues(config, where, DEFAULT_TIMEOUT, MAX_TIMEOUT)
    issues += template_issues(config, where)
    return issues


@dataclass
class Loaded:
    """The document's bytes and what is known about them."""

    data: bytes
    source: dict[str, Any]
    content_type: str | None = None
    name: str | None = None


async def _fetch(config: dict[str, Any]) -> Loaded:
    url = str(config["url"])
    headers = {str(k): str(v) for k, v in (config.get("headers") or {}).items()}
    request = {"method": "GET", "url": url, "headers": redact_headers(headers)}
    try:
        check_url(url)
        response = await guarded_request("GET", url, headers=headers,
                                         timeout=float(config.get("timeout", DEFAULT_TIMEOUT)))
    except (BlockedURL, ResponseTooLarge) as exc:  # refusals: asking again changes nothing
        raise StepFailed(str(exc), request=request) from exc
    except httpx.TimeoutException as exc:
        raise StepFailed(f"timed out fetching {url}", retryable=True, request=request) from exc
    except httpx.HTTPError as exc:
        raise StepFailed(f"could not fetch {url}: {exc}", retryable=True,
                         request=request) from exc
    if response.status_code >= 400:
        code = response.status_code
        raise StepFailed(f"{url} answered HTTP {code}", request=request,
                         retryable=code >= 500 or code in (408, 425, 429),
                         output={"status": code, "body": response.text[:2000]})
    return Loaded(response.content, {"kind": "url", "url": url},
                  response.headers.get("content-type"), url)


async def _stored(config: dict[str, Any], ctx: ExecContext) -> Loaded:
    ref = config.get("file", config.get("file_id"))
    if ref is None or ref == "":
        raise StepFailed("no file to parse: the file reference is empty (is the input's "
                         "file missing?)")
    store = ctx.extras.get("files")
    if store is None:
        raise StepFailed("this worker has no file store")
    try:
        meta, data = await read_bytes(store, ctx.tenant, reference_id(ref),
                                      max_bytes=MAX_INPUT_BYTES)
    except FileError as exc:
        raise StepFailed(str(exc), request={"file": ref}) from exc
    return Loaded(data, {"kind": "file", "fileId": meta.file_id, "name": meta.name},
                  meta.content_type, meta.name)


def _inline(config: dict[str, Any]) -> Loaded:
    name = config.get("name")
    if "content" in config:
        data = str(config["content"]).encode()
    else:
        try:
            data = base64.b64decode(str(config["content_base64"]), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise StepFailed(f"content_base64 is not base64: {exc}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise StepFailed(f"the content is {len(data)} bytes; the cap is {MAX_INPUT_BYTES}")
    return Loaded(data, {"kind": "content", "name": name}, None, name)


def parse_bytes(loaded: Loaded, config: dict[str, Any]) -> dict[str, Any]:
    """The document shape (steps/documents/shape.py) for these bytes; DocumentError if bad."""
    fmt = config.get("format") or detect(loaded.data, loaded.content_type, loaded.name)
    size = len(loaded.data)
    if fmt == "pdf":
        pdf = parse_pdf(loaded.data, max_pages=int(config.get("max_pages", DEFAULT_MAX_PAGES)))
        return document("pdf", size, **pdf)
    text, encoding = decode(loaded.data, config.get("encoding"))
    if fmt == "csv":
        table = parse_csv(text, delimiter=config.get("delimiter"),
                          has_header=config.get("has_header", True),
                          max_rows=int(config.get("max_rows", MAX_ROWS)))
        table.pop("delimiter")
        return document("csv", size, encoding=encoding, **table)
    if fmt == "json":
        return document("json", size, encoding=encoding, **parse_json(text))
    capped, truncated = cap_text(text)
    return document("text", size, encoding=encoding, text=capped, truncated=truncated)


async def execute(config: dict[str, Any], ctx: ExecContext) -> Outcome:
    if "url" in config:
        loaded = await _fetch(config)
    elif "file" in config or "file_id" in config:
        loaded = await _stored(config, ctx)
    else:
        loaded = _inline(config)
    try:
        output = await asyncio.to_thread(parse_bytes, loaded, config)
    except DocumentError as exc:
        raise StepFailed(str(exc), request=loaded.source) from exc
    output["source"] = loaded.source
    return Outcome(output=output, request=loaded.source)

