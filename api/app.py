"""Register every view on the engine's web server, behind the authentication middleware."""

from __future__ import annotations

from api import (
    aliases,
    bulk_inline,
    bulk_jobs,
    console,
    credentials,
    events,
    files,
    health,
    http_metrics,
    ingest,
    integrations,
    keys,
    metrics,
    openapi,
    rerun,
    resume,
    run_queries,
    runs,
    schedules,
    secrets,
    step_types,
    templates,
    test_runs,
    usage,
    webhooks,
    workflow_steps,
    workflows,
)
from api.auth import Authenticator, middleware
from api.errors import http_errors
from streams.engine import Engine


def register(engine: Engine) -> None:
    authenticator = Authenticator(engine.settings, engine.registry)
    # outermost: it sees the final status of every answer, errors included
    engine.app.web.web_app.middlewares.insert(0, http_metrics.middleware())
    engine.app.web.web_app.middlewares.append(middleware(authenticator))
    engine.app.web.web_app.middlewares.append(http_errors)  # JSON 404/405 for unknown routes
    health.register(engine)
    metrics.register(engine)
    openapi.register(engine)
    console.register(engine)  # /console: the web console's static files
    keys.register(engine)
    # plain paths first: aiohttp takes the first match, and /api/workflows/{id} matches them
    ingest.register(engine)  # /api/workflows/ingest/{token} before /api/workflows/{id}/...
    run_queries.register(engine)
    rerun.register(engine)  # /api/workflows/runs/{id}/rerun
    events.register(engine)  # /api/events, /api/workflows/event-types
    usage.register(engine)
    bulk_jobs.register(engine)  # /api/bulk-jobs...
    bulk_inline.register(engine)  # /api/bulk-lookup and siblings (inline bulk, SSE)
    templates.register(engine)
    step_types.register(engine)
    secrets.register(engine)
    credentials.register(engine)  # with its /api/v4/workflows/credentials alias
    integrations.register(engine)
    webhooks.register(engine)
    workflows.register(engine)
    workflow_steps.register(engine)
    schedules.register(engine)
    runs.register(engine)
    files.register(engine)  # /api/files, /api/workflows/{id}/upload
    test_runs.register(engine)
    resume.register(engine)
    aliases.register(engine)  # 002 and 004 paths onto the handlers above
