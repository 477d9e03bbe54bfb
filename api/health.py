"""/healthz: 200 once topics exist, tables are recovered and the replica caught up.

The history store is reported but does not gate readiness: runs flow without it."""

from __future__ import annotations

import faust
from aiohttp import web

from api.responses import json_response
from streams.engine import Engine


def register(engine: Engine) -> None:
    @engine.app.page("/healthz")
    class Health(faust.web.View):
        async def get(self, request: web.Request) -> web.Response:
            ready = engine.ready
            return json_response({"status": "ok" if ready else "starting",
                                  "app": engine.settings.app_id,
                                  "history": engine.projector.status()},
                                 status=200 if ready else 503)
