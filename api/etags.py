"""Conditional GETs for lists a client polls (the console's live run list).

The ETag is a hash of the body the request would get, so it changes exactly
when something the client sees changes (a new run, a status, an end time) and
never for a change it cannot see. The query still runs (it is one indexed read
of one page); a match saves the transfer and the client's re-render, which is
what polling every few seconds costs. `Cache-Control: no-cache` makes a browser
revalidate each time instead of reusing a stale page.
"""

from __future__ import annotations

import hashlib

from aiohttp import web


def etag_of(body: bytes) -> str:
    """A strong validator: the quoted first 32 hex digits of the body's SHA-256."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def matches(header: str | None, etag: str) -> bool:
    """If-None-Match semantics (RFC 9110 13.1.2): a list, weak comparison, or `*`."""
    if not header:
        return False
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


def conditional(request: web.Request, response: web.Response) -> web.Response:
    """The response with its ETag, or an empty 304 when the client already has that body."""
    if response.status != 200 or not isinstance(response.body, bytes):
        return response
    etag = etag_of(response.body)
    if matches(request.headers.get("If-None-Match"), etag):
        return web.Response(status=304, headers={"ETag": etag, "Cache-Control": "no-cache"})
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "no-cache"
    return response
