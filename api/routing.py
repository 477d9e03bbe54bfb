"""Send a request about a run to the worker that owns the run's partition.

Faust's own table_route forwards without the body, so POSTs could not use it;
this forwards method, body and headers, and marks the request so the owner
never forwards it again (during a rebalance it answers from what it has).
"""

from __future__ import annotations

import httpx
from aiohttp import web
from httpx_aiohttp import AiohttpTransport
from yarl import URL

from streams.engine import Engine

FORWARDED = "x-hopflow-forwarded"
RUN_ID_HEADER = "x-hopflow-run-id"
_HOP_HEADERS = {"host", "content-length", "connection", "transfer-encoding"}
_client: httpx.AsyncClient | None = None


def _internal_client() -> httpx.AsyncClient:
    """Worker-to-worker client (not the guarded one: peers are our own workers)."""
    global _client
    if _client is None or _client.is_closed:
        limits = httpx.Limits(max_connections=500, max_keepalive_connections=500)
        _client = httpx.AsyncClient(timeout=httpx.Timeout(330.0, connect=5.0),
                                    transport=AiohttpTransport(limits=limits, trust_env=False))
    return _client


def owner_of(engine: Engine, run_id: str) -> URL | None:
    """The owner's base URL, or None when it is this worker (or unknown)."""
    try:
        dest = engine.app.router.key_store("runs", run_id)
    except KeyError:
        return None
    own = URL(engine.settings.canonical_url)
    if (dest.host, dest.port) == (own.host, own.port):
        return None
    return dest


def owns(engine: Engine, run_id: str) -> bool:
    return owner_of(engine, run_id) is None


async def forward(engine: Engine, request: web.Request, run_id: str,
                  body: bytes | None = None, content_type: str | None = None
                  ) -> web.Response | None:
    """The owner's response, or None when this worker should answer itself.

    `content_type`: the body's type when it is not the request's own (a multipart
    upload forwards as JSON holding the stored file's reference)."""
    if request.headers.get(FORWARDED):
        return None
    dest = owner_of(engine, run_id)
    if dest is None:
        return None
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
    headers[FORWARDED] = engine.settings.canonical_url
    headers[RUN_ID_HEADER] = run_id
    if content_type is not None:
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        headers["content-type"] = content_type
    if body is None:
        body = await request.read()
    url = str(dest.with_path(request.path).with_query(request.query_string))
    try:
        response = await _internal_client().request(request.method, url, headers=headers,
                                                     content=body)
    except httpx.HTTPError:
        return None  # owner unreachable (restarting): answer from here
    answer = web.Response(body=response.content, status=response.status_code,
                          content_type=response.headers.get("content-type", "application/json")
                          .split(";")[0])
    for name, value in response.headers.items():
        if name.lower().startswith("x-hopflow-") or name.lower() == "retry-after":
            answer.headers[name] = value
    return answer
