"""The one outbound HTTP client every step uses, with its guard rails.

Every outbound call goes through `guarded_client()` so the rules (schemes,
optional block of private networks, timeouts, connection limits) live in one
place. Private networks are allowed unless HOPFLOW_BLOCK_PRIVATE_NETWORKS=1,
because local development and the test peers run on 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from urllib.parse import urlsplit

import httpx
from httpx_aiohttp import AiohttpTransport

SENSITIVE_HEADERS = ("authorization", "cookie", "x-api-key", "proxy-authorization")
_client: httpx.AsyncClient | None = None


class BlockedURL(ValueError):
    """A URL the guard refuses to call."""


def _private(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False  # the request itself will fail with a clear error
    for info in infos:
        addr = ipaddress.ip_address(info[4][0])
        if addr.is_private or addr.is_loopback or addr.is_link_local or addr.is_reserved:
            return True
    return False


def check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise BlockedURL(f"only http and https URLs may be called, not {parts.scheme or 'none'!r}")
    if not parts.hostname:
        raise BlockedURL("URL has no host")
    if os.environ.get("HOPFLOW_BLOCK_PRIVATE_NETWORKS") == "1" and _private(parts.hostname):
        raise BlockedURL(f"host {parts.hostname} resolves to a private network")


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    """Headers as they may be logged: credentials replaced by a mask."""
    out = {}
    for key, value in headers.items():
        low = key.lower()
        hidden = low in SENSITIVE_HEADERS or "token" in low or "secret" in low
        out[key] = "••••••" if hidden else value
    return out


def guarded_client() -> httpx.AsyncClient:
    """The process-wide client (connection pooling across steps)."""
    global _client
    if _client is None or _client.is_closed:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
        # httpx's API with aiohttp underneath: httpx's own transport costs ~1-6 ms
        # of CPU per request under concurrency (encode/httpx#3215), aiohttp ~0.3 ms.
        _client = httpx.AsyncClient(
            transport=AiohttpTransport(limits=limits, trust_env=False),
            follow_redirects=False,
            headers={"user-agent": "hopflow/0.1"},
        )
    return _client


async def close_client() -> None:
    global _client
    if _client is not None:
        await _client.aclose()
        _client = None
