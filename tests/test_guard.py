"""The guarded client against a real aiohttp peer on 127.0.0.1 (real sockets, no mocks).

With the allow-list off, every way to 127.0.0.1 is refused: the scheme, the literal
address, a name resolving to it (refused by the resolver, at connect), the IPv4-mapped
form, and a redirect from an allowed peer to the metadata address. With it on, calls
work and the redirect, size and time caps hold.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import AsyncIterator

import aiohttp
import httpx
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from steps import http, webhook
from steps.base import ExecContext, StepFailed
from steps.http import (
    BlockedURL,
    GuardedResolver,
    ResponseTooLarge,
    TooManyRedirects,
    guarded_request,
)

BIG = 6 * 1024 * 1024


class Peer:
    """A local server: /ok, /hops/{n} (n redirects), /to-metadata, /big, /big-declared, /slow."""

    def __init__(self) -> None:
        self.hits = 0
        self.port = 0
        app = web.Application()
        app.router.add_get("/ok", self.ok)
        app.router.add_get("/hops/{n}", self.hops)
        app.router.add_get("/to-metadata", self.to_metadata)
        app.router.add_get("/big", self.big)
        app.router.add_get("/big-declared", self.big_declared)
        app.router.add_get("/slow", self.slow)
        app.router.add_get("/set-cookie", self.set_cookie)
        self.runner = web.AppRunner(app, shutdown_timeout=0.2)

    async def start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def ok(self, request: web.Request) -> web.Response:
        self.hits += 1
        return web.json_response({"ok": True, "cookie": request.headers.get("cookie")})

    async def set_cookie(self, request: web.Request) -> web.Response:
        response = web.json_response({"set": True})
        response.set_cookie("sid", "tenant-a-session")
        return response

    async def hops(self, request: web.Request) -> web.Response:
        self.hits += 1
        n = int(request.match_info["n"])
        if n == 0:
            return web.json_response({"arrived": True})
        raise web.HTTPFound(f"/hops/{n - 1}")

    async def to_metadata(self, request: web.Request) -> web.Response:
        self.hits += 1
        raise web.HTTPFound("http://169.254.169.254/latest/meta-data")

    async def big(self, request: web.Request) -> web.StreamResponse:
        """No Content-Length: the cap must cut the stream itself."""
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        chunk = b"x" * 65536
        try:
            for _ in range(BIG // len(chunk)):
                await response.write(chunk)
        except (ConnectionResetError, ConnectionError):
            pass
        return response

    async def big_declared(self, request: web.Request) -> web.Response:
        return web.Response(body=b"y" * BIG)

    async def slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(3)
        return web.json_response({"late": True})


@pytest_asyncio.fixture
async def peer() -> AsyncIterator[Peer]:
    server = Peer()
    await server.start()
    yield server
    await server.runner.cleanup()


@pytest_asyncio.fixture(autouse=True)
async def fresh_client(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """Each test starts from the strict defaults with a new pool (no reused connection)."""
    for name in ("HOPFLOW_ALLOW_HTTP", "HOPFLOW_OUTBOUND_ALLOW", "HOPFLOW_OUTBOUND_MAX_BYTES"):
        monkeypatch.delenv(name, raising=False)
    await http.close_client()
    yield
    await http.close_client()


def allow_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOPFLOW_OUTBOUND_ALLOW", "127.0.0.1/32")
    monkeypatch.setenv("HOPFLOW_ALLOW_HTTP", "1")


# --- allow-list off: each refusal ---------------------------------------------------------

async def test_plain_http_to_loopback_refused_for_scheme(peer: Peer) -> None:
    with pytest.raises(BlockedURL, match="only https URLs"):
        await guarded_request("GET", f"http://127.0.0.1:{peer.port}/ok")
    assert peer.hits == 0


async def test_loopback_literal_refused_for_address(peer: Peer,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOPFLOW_ALLOW_HTTP", "1")  # the scheme passes; the address does not
    for url in (f"http://127.0.0.1:{peer.port}/ok", f"https://127.0.0.1:{peer.port}/ok"):
        with pytest.raises(BlockedURL, match=re.escape("127.0.0.1 is loopback")):
            await guarded_request("GET", url)
    assert peer.hits == 0


async def test_name_resolving_to_loopback_refused_at_connect(
        peer: Peer, monkeypatch: pytest.MonkeyPatch) -> None:
    # check_url has nothing to object to: a https URL with a host name ...
    http.check_url(f"https://localhost:{peer.port}/ok")
    # ... the resolver the connector uses refuses the address it would connect to
    refusal = re.escape("localhost resolves to 127.0.0.1, which is loopback")
    with pytest.raises(BlockedURL, match=refusal):
        await guarded_request("GET", f"https://localhost:{peer.port}/ok")
    monkeypatch.setenv("HOPFLOW_ALLOW_HTTP", "1")
    with pytest.raises(BlockedURL, match=re.escape("localhost resolves to 127.0.0.1")):
        await guarded_request("GET", f"http://localhost:{peer.port}/ok")
    assert peer.hits == 0


async def test_ipv4_mapped_loopback_refused(peer: Peer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOPFLOW_ALLOW_HTTP", "1")
    with pytest.raises(BlockedURL, match="IPv4-mapped loopback"):
        await guarded_request("GET", f"http://[::ffff:127.0.0.1]:{peer.port}/ok")
    with pytest.raises(BlockedURL, match="not a canonical IP"):  # 127.0.0.1 in decimal
        await guarded_request("GET", f"http://2130706433:{peer.port}/ok")
    assert peer.hits == 0


async def test_redirect_to_metadata_refused_at_the_hop(peer: Peer,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    allow_local(monkeypatch)  # 127.0.0.1 only: the peer is reachable, the metadata IP is not
    started = time.monotonic()
    with pytest.raises(BlockedURL, match=re.escape("169.254.169.254 is cloud metadata")):
        await guarded_request("GET", f"http://127.0.0.1:{peer.port}/to-metadata", timeout=5)
    assert peer.hits == 1
    assert time.monotonic() - started < 1, "refused before any connection attempt"


async def test_other_schemes_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    allow_local(monkeypatch)
    for url in ("ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://127.0.0.1/"):
        with pytest.raises(BlockedURL):
            http.check_url(url)
        with pytest.raises((BlockedURL, httpx.UnsupportedProtocol)):
            await guarded_request("GET", url)


# --- allow-list on: the call works, and the caps hold -------------------------------------

async def test_allowed_call_works(peer: Peer, monkeypatch: pytest.MonkeyPatch) -> None:
    allow_local(monkeypatch)
    response = await guarded_request("GET", f"http://127.0.0.1:{peer.port}/ok")
    assert response.status_code == 200 and response.redirects == 0
    assert response.json() == {"ok": True, "cookie": None}


async def test_allowed_by_name(peer: Peer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOPFLOW_OUTBOUND_ALLOW", "localhost")
    monkeypatch.setenv("HOPFLOW_ALLOW_HTTP", "1")
    response = await guarded_request("GET", f"http://localhost:{peer.port}/ok")
    assert response.status_code == 200
    with pytest.raises(BlockedURL, match="loopback"):  # the name is allowed, not the address
        await guarded_request("GET", f"http://127.0.0.1:{peer.port}/ok")


async def test_five_redirects_followed_sixth_refused(peer: Peer,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    allow_local(monkeypatch)
    response = await guarded_request("GET", f"http://127.0.0.1:{peer.port}/hops/5")
    assert response.json() == {"arrived": True} and response.redirects == 5
    assert response.url.endswith("/hops/0")
    peer.hits = 0
    with pytest.raises(TooManyRedirects, match="more than 5 redirects"):
        await guarded_request("GET", f"http://127.0.0.1:{peer.port}/hops/6")
    assert peer.hits == 6, "the sixth redirect is not followed"


async def test_oversize_body_refused(peer: Peer, monkeypatch: pytest.MonkeyPatch) -> None:
    allow_local(monkeypatch)
    with pytest.raises(ResponseTooLarge, match="more than 5242880 bytes"):
        await guarded_request("GET", f"http://127.0.0.1:{peer.port}/big")
    with pytest.raises(ResponseTooLarge, match="answered 6291456 bytes; the cap is 5242880"):
        await guarded_request("GET", f"http://127.0.0.1:{peer.port}/big-declared")
    monkeypatch.setenv("HOPFLOW_OUTBOUND_MAX_BYTES", str(BIG))
    response = await guarded_request("GET", f"http://127.0.0.1:{peer.port}/big-declared")
    assert len(response.content) == BIG


async def test_slow_peer_times_out(peer: Peer, monkeypatch: pytest.MonkeyPatch) -> None:
    allow_local(monkeypatch)
    started = time.monotonic()
    with pytest.raises(httpx.TimeoutException):
        await guarded_request("GET", f"http://127.0.0.1:{peer.port}/slow", timeout=0.5)
    assert time.monotonic() - started < 2


async def test_no_cookies_kept_between_calls(peer: Peer, monkeypatch: pytest.MonkeyPatch) -> None:
    """One client serves every tenant: a cookie set for one must not ride along for another."""
    allow_local(monkeypatch)
    base = f"http://127.0.0.1:{peer.port}"
    set_it = await guarded_request("GET", f"{base}/set-cookie")
    assert "tenant-a-session" in set_it.headers["set-cookie"]
    later = await guarded_request("GET", f"{base}/ok")
    assert later.json()["cookie"] is None
    assert len(http.guarded_client().cookies.jar) == 0


async def test_webhook_step_fails_permanently_on_refusal(peer: Peer) -> None:
    """A refusal is not retried: asking again would be refused again."""
    ctx = ExecContext("r", "t", "s", 1)
    for url in (f"https://localhost:{peer.port}/ok", f"http://127.0.0.1:{peer.port}/ok"):
        with pytest.raises(StepFailed) as caught:
            await webhook.execute({"url": url, "method": "GET"}, ctx)
        assert not caught.value.retryable and caught.value.request["url"] == url
    assert peer.hits == 0


class FixedAnswers(AbstractResolver):
    """A DNS stand-in answering one name with fixed addresses (like a rebinding server)."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        return [{"hostname": host, "host": a, "port": port, "family": socket.AF_INET,
                 "proto": 0, "flags": 0} for a in self.answers]

    async def close(self) -> None:
        return None


async def test_resolver_keeps_only_allowed_addresses(peer: Peer,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The connector connects to what the guarded resolver returns, and only that."""
    allow_local(monkeypatch)
    url = f"http://rebind.test:{peer.port}/ok"
    mixed = GuardedResolver(FixedAnswers(["10.0.0.1", "169.254.169.254", "127.0.0.1"]))
    async with (aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=mixed)) as session,
                session.get(url) as response):  # only 127.0.0.1 was left to connect to
        assert response.status == 200
    private = GuardedResolver(FixedAnswers(["10.0.0.1", "169.254.169.254"]))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=private)) as session:
        with pytest.raises(BlockedURL, match=re.escape("rebind.test resolves to 10.0.0.1")):
            await session.get(url)
    assert peer.hits == 1
