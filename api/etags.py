"""Conditional GETs for lists a client polls (the console's live run list).

The ETag is a hash of the body the request would get and of what asked for it
(the tenant, the path and the query: the filters and paging), so it changes
exactly when something the client sees changes (a new run, a status, an end
time), and an ETag from one filter or tenant never matches another's page,
even when both bodies happen to be equal (two empty lists). The query still
runs (it is one indexed read of one page); a match saves the transfer and the
client's re-render, which is what polling every few seconds costs.
`Cache-Control: no-cache` makes a browser revalidate each time instead of reusing
a stale page.
"""

from __future__ import annotations

import hashlib

from aiohttp import web

from api.requests import tenant_of


def etag_of(body: bytes, scope: str = "") -> str:
    """A strong validator: the quoted first 32 hex digits of SHA-256 of scope and body."""
    digest = hashlib.sha256(scope.encode("utf-8", "surrogateescape") + b"\0" + body)
    return '"' + digest.hexdigest()[:32] + '"'


def scope_of(request: web.Request) -> str:
    """Who asked for which page: the tenant, the path and the query string."""
    return f"{tenant_of(request)}\n{request.path_qs}"


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
    etag = etag_of(response.body, scope_of(request))
    if matches(request.headers.get("If-None-Match"), etag):
        return web.Response(status=304, headers={"ETag": etag, "Cache-Control": "no-cache"})
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "no-cache"
    return response
