"""Server-Sent Events framing, shared by every streaming route (inline bulk, job progress).

One place for the frame (`event:` + one-line JSON `data:`), the headers that keep
proxies from buffering, the keep-alive comment, and how a handler tells its
client has gone while it writes nothing (so it stops working for no one).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

KEEPALIVE = b": keep-alive\n\n"
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
               "X-Accel-Buffering": "no"}  # proxies (nginx) must not hold events back


def sse(event: str, data: Any) -> bytes:
    """One Server-Sent Event; orjson writes no newline, so `data` is one line."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def client_gone(request: web.Request) -> bool:
    """Whether the client's connection is closed (or closing)."""
    transport = request.transport
    return transport is None or transport.is_closing()
