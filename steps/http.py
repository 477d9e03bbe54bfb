"""The one guarded HTTP client for every outbound call (SSRF rules live here only).

A step's URL comes from a tenant, so an outbound call must never become a way into
the operator's network. The rules (steps/netguard.py has the address table):

- https only, unless the operator sets HOPFLOW_ALLOW_HTTP=1;
- the address connected to is the address checked: the aiohttp connector underneath
  resolves names through `GuardedResolver`, which refuses a refused address *before*
  aiohttp connects, so there is no window between a check and a second DNS answer
  (DNS rebinding). TLS still verifies the URL's host name, which aiohttp keeps;
- IP-literal URLs never reach a resolver (aiohttp skips it), so `GuardedTransport`
  checks them on every request, redirect hops included;
- redirects are followed by hand, at most 5, each hop going through the same checks;
- the body is capped (HOPFLOW_OUTBOUND_MAX_BYTES, 5 MB) and the whole exchange,
  redirects and body included, by the caller's timeout;
- no cookie jar: one pooled client serves every tenant, so nothing is remembered.

httpx's API with aiohttp underneath, one pooled client per process: httpx's own
transport costs ~1-6 ms of CPU per request under concurrency (encode/httpx#3215),
aiohttp ~0.3 ms; the guard adds a cached table lookup per connection and per literal.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import aiohttp
import httpx
import orjson
from aiohttp.abc import AbstractResolver, ResolveResult
from httpx_aiohttp import AiohttpTransport

from steps.netguard import Policy, policy

SENSITIVE_HEADERS = ("authorization", "cookie", "x-api-key", "proxy-authorization")
DEFAULT_TIMEOUT = 10.0
_client: httpx.AsyncClient | None = None


class BlockedURL(ValueError):
    """A URL, redirect hop or resolved address the guard refuses to call (permanent)."""


class TooManyRedirects(BlockedURL):
    """More redirect hops than the guard follows."""


class ResponseTooLarge(ValueError):
    """The answer's body is over the size cap (permanent: asking again gets the same)."""


class OutboundTimeout(httpx.TimeoutException):
    """The whole exchange (redirects and body) took longer than the caller's timeout."""


def _literal_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The host as an IP when aiohttp would treat it as one (and so skip the resolver).

    aiohttp's own test is "contains ':' or is digits and dots"; anything passing that
    test must parse as an address here, or it could reach a connect unchecked.
    """
    if ":" not in host and not host.replace(".", "").isdigit():
        return None
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError as exc:
        raise BlockedURL(f"host {host!r} is not a canonical IP address") from exc


def _check(scheme: str, host: str, pol: Policy) -> None:
    if scheme != "https" and not (scheme == "http" and pol.allow_http):
        allowed = "http and https" if pol.allow_http else "https"
        raise BlockedURL(f"only {allowed} URLs may be called, not {scheme or 'none'!r}")
    if not host:
        raise BlockedURL("URL has no host")
    ip = _literal_ip(host)
    if ip is not None:
        why = pol.refusal(host, ip)
        if why:
            raise BlockedURL(f"address {host} is {why}; outbound calls may not reach it")


def check_url(url: str) -> None:
    """Refuse a URL early, with a clear message (the connect-time check still runs)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise BlockedURL(f"not a valid URL: {exc}") from exc
    _check(parsed.scheme, parsed.host, policy())


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    """Headers as they may be logged: credentials replaced by a mask."""
    out = {}
    for key, value in headers.items():
        low = key.lower()
        hidden = low in SENSITIVE_HEADERS or "token" in low or "secret" in low
        out[key] = "••••••" if hidden else value
    return out


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, keeping only the addresses an outbound call may reach.

    The connector connects only to what this returns, so the checked address is the
    connected one (no second lookup to rebind). Refused addresses are dropped (a name
    with both ::1 and an allowed 127.0.0.1 still works in tests); when none is left, the
    name is refused with the first reason.
    """

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner if inner is not None else aiohttp.DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        pol = policy()
        kept: list[ResolveResult] = []
        refused: list[str] = []
        for result in results:
            why = pol.refusal(host, result["host"])
            if why:
                refused.append(f"{result['host']}, which is {why}")
            else:
                kept.append(result)
        if not kept and refused:
            raise BlockedURL(f"{host} resolves to {refused[0]}; outbound calls may not reach it")
        return kept

    async def close(self) -> None:
        await self._inner.close()


class GuardedTransport(AiohttpTransport):
    """Checks scheme and IP literals on every request (redirect hops included)."""

    def __init__(self, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False, client=self._session)

    def _session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(), ssl=self.ssl_context,
            limit=self.limits.max_connections or 0,
            keepalive_timeout=self.limits.keepalive_expiry)
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                     trust_env=False)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        _check(request.url.scheme, request.url.host, policy())
        return await super().handle_async_request(request)


def guarded_client() -> httpx.AsyncClient:
    """The process-wide client (connection pooling across steps); never follows redirects.

    Prefer `guarded_request`, which adds redirects, the body cap and the total timeout.
    """
    global _client
    if _client is None or _client.is_closed:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
        _client = httpx.AsyncClient(
            transport=GuardedTransport(limits),
            follow_redirects=False,
            trust_env=False,  # no proxy or netrc from the environment: only this transport
            headers={"user-agent": "hopflow/0.1"},
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),  # keeps none
        )
    return _client


async def close_client() -> None:
    global _client
    if _client is not None:
        await _client.aclose()
        _client = None


@dataclass(frozen=True)
class Fetched:
    """A complete answer: the last hop's status and headers, the capped body."""

    status_code: int
    headers: httpx.Headers
    content: bytes
    url: str
    encoding: str
    redirects: int

    @property
    def text(self) -> str:
        return self.content.decode(self.encoding or "utf-8", errors="replace")

    def json(self) -> Any:
        return orjson.loads(self.content)


async def _read_capped(response: httpx.Response, cap: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise ResponseTooLarge(f"{response.url} answered {declared} bytes; the cap is {cap}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > cap:
            raise ResponseTooLarge(f"{response.url} answered more than {cap} bytes "
                                   "(the cap); the body was cut off and refused")
        chunks.append(chunk)
    return b"".join(chunks)


async def guarded_request(method: str, url: str, *, headers: dict[str, str] | None = None,
                          content: bytes | None = None, params: Any = None,
                          auth: httpx.Auth | None = None, timeout: float = DEFAULT_TIMEOUT,
                          max_bytes: int | None = None) -> Fetched:
    """One outbound exchange under every guard rule; redirects followed hop by hop.

    Raises BlockedURL (incl. TooManyRedirects), ResponseTooLarge, OutboundTimeout, or
    httpx.HTTPError for connection failures.
    """
    pol = policy()
    cap = pol.max_bytes if max_bytes is None else max_bytes
    client = guarded_client()
    request = client.build_request(method, url, headers=headers, content=content,
                                   params=params, timeout=timeout)
    hops = 0
    try:
        async with asyncio.timeout(timeout):
            while True:
                response = await client.send(request, auth=auth if hops == 0 else None,
                                             stream=True)
                try:
                    next_request = response.next_request
                    if next_request is None:
                        body = await _read_capped(response, cap)
                        return Fetched(response.status_code, response.headers, body,
                                       str(response.url), response.encoding or "utf-8", hops)
                finally:
                    await response.aclose()
                if hops >= pol.max_redirects:
                    raise TooManyRedirects(f"more than {pol.max_redirects} redirects "
                                           f"(the next one to {next_request.url}); refused")
                hops += 1
                request = next_request
    except TimeoutError as exc:
        raise OutboundTimeout(f"no complete answer from {url} within {timeout:g}s") from exc
