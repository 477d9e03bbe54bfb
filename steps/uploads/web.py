"""One outbound call of an HTTP upload API (Azure Blob, Box, Dropbox), failures classified.

Every call goes through the guarded client (steps/http.py) and fails through
steps/errors.py, so a 5xx, a 429 with Retry-After, a timeout or a lost
connection is transient and retried by the run, and any other 4xx is permanent.
The caller says how to describe a >= 400 answer (`detail`): a vendor's error
code, never its whole body, which might echo a signature or a token.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from steps.base import StepFailed
from steps.errors import http_failure, request_failure
from steps.http import BlockedURL, Fetched, ResponseTooLarge, guarded_request


def base_url(env: str, default: str) -> str:
    """A vendor's base URL, overridable per deployment (a compatible gateway, a test peer)."""
    return os.environ.get(env, "").strip().rstrip("/") or default


class Deadline:
    """The step's one timeout, shared by the several calls an upload may take."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def left(self, what: str, request: dict[str, Any]) -> float:
        remaining = self._end - time.monotonic()
        if remaining <= 0:
            raise StepFailed(f"timed out uploading to {what} (timeout {self.seconds:g}s)",
                             retryable=True, request=request)
        return remaining


async def call(what: str, method: str, url: str, *, deadline: Deadline,
               request: dict[str, Any], headers: dict[str, str] | None = None,
               content: bytes | None = None, ok: tuple[int, ...] = (200, 201),
               detail: Callable[[Fetched], str] | None = None,
               passthrough: tuple[int, ...] = ()) -> Fetched:
    """The answer when its status is in `ok` or `passthrough` (a status the caller
    handles itself, e.g. Box's 409 name in use), else StepFailed.

    A status outside `ok` below 400 is an unexpected answer: transient (a proxy's
    hiccup more likely than a vendor changing its API)."""
    try:
        response = await guarded_request(method, url, headers=headers, content=content,
                                         timeout=deadline.left(what, request))
    except (BlockedURL, ResponseTooLarge, httpx.HTTPError) as exc:
        raise request_failure(what, exc, request=request) from None
    if response.status_code in passthrough:
        return response
    if response.status_code >= 400:
        failure = http_failure(what, response.status_code, response.headers, request=request)
        extra = detail(response) if detail is not None else ""
        if not extra:
            raise failure
        raise StepFailed(f"{failure}: {extra}", retryable=failure.retryable,
                         retry_after=failure.retry_after, request=request)
    if response.status_code not in ok:
        raise StepFailed(f"{what} answered HTTP {response.status_code}, not "
                         f"{'/'.join(map(str, ok))}", retryable=True, request=request)
    return response


def multipart(parts: list[tuple[str, str | None, str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body from (field, file name or None, content type, bytes).

    Written by hand because the guarded client takes a body of bytes; the order of
    the parts is kept (Box wants `attributes` before `file`)."""
    boundary = f"hopflow-{uuid.uuid4().hex}"
    out = bytearray()
    for field_name, filename, content_type, data in parts:
        disposition = f'form-data; name="{_quoted(field_name)}"'
        if filename is not None:
            disposition += f'; filename="{_quoted(filename)}"'
        out += (f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
                f"Content-Type: {content_type}\r\n\r\n").encode()
        out += data
        out += b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def _quoted(value: str) -> str:
    """A form-data parameter value: quotes and line breaks escaped as browsers do (WHATWG)."""
    return value.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")
