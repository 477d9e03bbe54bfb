"""The web console: static files from `api/console/`, served by every worker at `/console`.

No build step and no separate server: the console is plain ES modules that call
the public API with the user's own credential, so it can do nothing the API
would not allow. These routes are public (api/auth.py PUBLIC_PREFIXES) because
the files hold no data; a strict Content-Security-Policy (no inline script or
style, same-origin only) limits what an injected string could ever do.
"""

from __future__ import annotations

from pathlib import Path

import faust
from aiohttp import web

from api.errors import ApiError, json_errors
from streams.engine import Engine

ROOT = Path(__file__).with_name("console")
INDEX = "index.html"
TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css",
         ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon"}
HEADERS = {
    # no build step, so no content hashes in names: revalidate rather than serve stale code
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "default-src 'self'; base-uri 'none'; form-action 'self'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def resolve(relative: str) -> Path:
    """The file under ROOT that `relative` names, or a 404: nothing outside the folder, no
    dot-files, only the types listed (a stray .py or .map is never served)."""
    parts = [p for p in relative.split("/") if p]
    if not parts:
        parts = [INDEX]
    if any(p.startswith(".") or "\\" in p for p in parts):
        raise ApiError(404, "no such console file")
    try:  # a NUL byte or an over-long name raises instead of answering "no such file"
        path = ROOT.joinpath(*parts).resolve()
        found = path.is_relative_to(ROOT.resolve()) and path.is_file()
    except (OSError, ValueError):
        found = False
    if not found or path.suffix not in TYPES:
        raise ApiError(404, "no such console file")
    return path


def file_response(path: Path) -> web.Response:
    kind = TYPES[path.suffix]
    charset = "utf-8" if kind.startswith("text/") or kind.endswith("+xml") else None
    return web.Response(body=path.read_bytes(), content_type=kind, charset=charset,
                        headers=HEADERS)


def register(engine: Engine) -> None:
    app = engine.app

    @app.page("/console")
    class Console(faust.web.View):
        @json_errors
        async def get(self, request: web.Request) -> web.Response:
            return file_response(resolve(INDEX))

    @app.page("/console/{path:.+}")
    class ConsoleFile(faust.web.View):
        @json_errors
        async def get(self, request: web.Request, path: str) -> web.Response:
            return file_response(resolve(path))
