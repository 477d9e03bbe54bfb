"""A webhook receiver on 127.0.0.1 for outbound-delivery tests (the `receiver` fixture)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from aiohttp import web

from dev.workers import free_port


class Receiver:
    """Records every POST; answers from a per-path script of statuses (then 200)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.got: list[tuple[str, dict[str, str], bytes]] = []
        self.script: dict[str, list[int]] = {}
        self.always: dict[str, int] = {}
        self.retry_after: dict[str, str] = {}

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.got.append((request.path, dict(request.headers), body))
        queued = self.script.get(request.path)
        status = queued.pop(0) if queued else self.always.get(request.path, 200)
        headers = {"retry-after": self.retry_after[request.path]} if (
            status >= 300 and request.path in self.retry_after) else None
        return web.Response(status=status, text="ok", headers=headers)

    def received(self, path: str) -> list[tuple[dict[str, str], bytes]]:
        return [(h, b) for p, h, b in self.got if p == path]


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    peer = Receiver()
    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", peer.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", peer.port).start()
    yield peer
    await runner.cleanup()
