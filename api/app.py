"""Register every view on the engine's web server, behind the authentication middleware."""

from __future__ import annotations

from api import (
    health,
    keys,
    metrics,
    run_queries,
    runs,
    templates,
    workflow_steps,
    workflows,
)
from api.auth import Authenticator, middleware
from streams.engine import Engine


def register(engine: Engine) -> None:
    authenticator = Authenticator(engine.settings, engine.registry)
    engine.app.web.web_app.middlewares.append(middleware(authenticator))
    health.register(engine)
    metrics.register(engine)
    keys.register(engine)
    # plain paths first: aiohttp takes the first match, and /api/workflows/{id} matches them
    run_queries.register(engine)
    templates.register(engine)
    workflows.register(engine)
    workflow_steps.register(engine)
    runs.register(engine)
