"""HTTP request metrics: count and time every request by route template, method, status.

The route label is the matched resource's template (`/api/workflows/{id}`), never the
path itself, so ids in paths do not make new series; a path no route matches is
`unmatched`. The middleware is the outermost one, so it sees the final status of every
answer: a view's response, an error the inner middlewares turned into JSON, an
HTTPException that escaped them (its status) or a crash (500).

It is on the start route's hot path, so children are bound once per (route, method,
status) and kept in a dict.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from streams import metrics

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
UNMATCHED = "unmatched"
# HTTP methods outside this list share one label (a client can send any token)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_of(request: web.Request) -> str:
    route = getattr(request.match_info, "route", None)
    resource = getattr(route, "resource", None)
    if resource is None:  # no route matched (404/405 from the router)
        return UNMATCHED
    return str(resource.canonical)


def middleware() -> Callable[..., Awaitable[web.StreamResponse]]:
    counters: dict[tuple[str, str, int], Any] = {}
    timers: dict[tuple[str, str], Any] = {}

    @web.middleware
    async def measure(request: web.Request, handler: Handler) -> web.StreamResponse:
        t0 = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except Exception as exc:  # an error class that carries its own status (ApiError)
            status = int(getattr(exc, "status", 500) or 500)
            raise
        finally:
            route = route_of(request)
            method = request.method if request.method in METHODS else "OTHER"
            key = (route, method, status)
            counter = counters.get(key)
            if counter is None:
                counter = counters[key] = metrics.HTTP_REQUESTS.labels(route, method,
                                                                       str(status))
            counter.inc()
            timer = timers.get(key[:2])
            if timer is None:
                timer = timers[key[:2]] = metrics.HTTP_DURATION.labels(route, method)
            timer.observe(time.perf_counter() - t0)

    return measure
