"""A tiny local HTTP peer for the benchmark workflow and for tests.

The benchmarked workflow calls out twice per run (`/lookup`, `/sink`); this server
answers those calls in-process so the measurement includes real HTTP round trips
without depending on anything outside 127.0.0.1. It also counts and keeps the
requests it saw, so a benchmark (or a test) can check the steps really happened,
and it can be told to fail a path a few times to exercise retries.

Routes:
    POST /lookup   -> {"company": "acme", "email": <body.email>}
    POST /sink     -> {"ok": true}
    any other      -> 200 echo {"method", "path", "query", "body"}

Run standalone with `python -m bench.sink --port 8099` (binds 127.0.0.1 only).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

HOST = "127.0.0.1"  # loopback only: the peer must never be reachable from elsewhere


@dataclass(frozen=True)
class Received:
    """One request as the sink saw it (body is parsed JSON, raw text, or None)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


class Sink:
    """The peer server; `await start()` binds it and returns the port.

    Usable as `async with Sink() as sink:`. `counts` is keyed by path
    ("/lookup", "/sink", ...); `received` keeps the last `keep` requests.
    """

    def __init__(self, port: int = 0, keep: int = 1000) -> None:
        self._want_port = port
        self.port: int | None = None
        self.counts: Counter[str] = Counter()
        self.received: deque[Received] = deque(maxlen=keep)
        self._failures: dict[str, list[int]] = {}
        self._runner: web.AppRunner | None = None

    # --- lifecycle -----------------------------------------------------------------

    async def start(self) -> int:
        """Bind 127.0.0.1 (port 0 = any free port) and serve; returns the bound port."""
        if self._runner is not None:
            raise RuntimeError("sink already started")
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post("/lookup", self._lookup)
        app.router.add_post("/sink", self._sink)
        app.router.add_route("*", "/{tail:.*}", self._echo)
        # Binding our own socket is the public way to learn the port when asked for 0.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, self._want_port))
        except OSError:
            sock.close()
            raise
        runner = web.AppRunner(app, access_log=None)  # an access log would skew timings
        await runner.setup()
        try:
            await web.SockSite(runner, sock, backlog=1024).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = sock.getsockname()[1]
        return self.port

    async def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Sink:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- helpers for callers -------------------------------------------------------

    def url(self, path: str = "/") -> str:
        """Absolute URL of `path` on this sink, e.g. url("/lookup")."""
        if self.port is None:
            raise RuntimeError("sink not started")
        return f"http://{HOST}:{self.port}/{path.lstrip('/')}"

    def fail_next(self, path: str, times: int = 1, status: int = 503) -> None:
        """Answer the next `times` requests to `path` with `status` (to test retries)."""
        self._failures.setdefault(path, []).extend([status] * times)

    def reset(self) -> None:
        """Forget counts, kept requests and pending failures."""
        self.counts.clear()
        self.received.clear()
        self._failures.clear()

    # --- handlers ------------------------------------------------------------------

    async def _record(self, request: web.Request) -> tuple[Any, web.Response | None]:
        """Count and keep the request; return its body and an injected failure, if any."""
        raw = await request.read()
        body: Any = None
        if raw:
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                body = raw.decode("utf-8", "replace")
        path = request.path
        self.counts[path] += 1
        self.received.append(Received(request.method, path, dict(request.query),
                                      dict(request.headers), body))
        pending = self._failures.get(path)
        if pending:
            status = pending.pop(0)
            return body, _json({"error": "injected failure", "status": status}, status)
        return body, None

    async def _lookup(self, request: web.Request) -> web.Response:
        body, failure = await self._record(request)
        if failure is not None:
            return failure
        email = body.get("email") if isinstance(body, dict) else None
        return _json({"company": "acme", "email": email})

    async def _sink(self, request: web.Request) -> web.Response:
        _, failure = await self._record(request)
        return failure if failure is not None else _json({"ok": True})

    async def _echo(self, request: web.Request) -> web.Response:
        body, failure = await self._record(request)
        if failure is not None:
            return failure
        delay_ms = request.query.get("delay_ms")
        if delay_ms is not None:  # a slow peer keeps runs in flight (crash tests)
            await asyncio.sleep(min(float(delay_ms), 30_000) / 1000)
        return _json({"method": request.method, "path": request.path,
                      "query": dict(request.query), "body": body})


async def start_sink(port: int = 0) -> Sink:
    """Start a sink and return it; its bound port is `sink.port`."""
    sink = Sink(port)
    await sink.start()
    return sink


async def stop_sink(sink: Sink) -> None:
    """Stop a sink started with `start_sink`."""
    await sink.stop()


async def _serve_forever(port: int) -> None:
    async with Sink(port) as sink:
        print(f"sink listening on {sink.url('/')}", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    """Run the sink standalone until interrupted (handy for poking a worker by hand)."""
    parser = argparse.ArgumentParser(prog="python -m bench.sink",
                                     description="Local HTTP peer for hopflow's bench.")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free)")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(args.port))


if __name__ == "__main__":
    main()
