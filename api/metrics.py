"""/metrics: Prometheus text format (prometheus-client's default registry)."""

from __future__ import annotations

import faust
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams import scrape_metrics
from streams.engine import Engine


def register(engine: Engine) -> None:
    @engine.app.page("/metrics")
    class Metrics(faust.web.View):
        async def get(self, request: web.Request) -> web.Response:
            scrape_metrics.refresh(engine)  # lag and recovery: read now, not kept up
            response = web.Response(body=generate_latest())
            response.headers["Content-Type"] = CONTENT_TYPE_LATEST
            return response
