"""JSON errors with the right status; never a stack trace."""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web

from api.responses import json_response
from steps.base import Issue

log = logging.getLogger(__name__)

_CODES = {400: "invalid_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
          415: "unsupported_media_type", 422: "unprocessable", 429: "rate_limited",
          503: "unavailable", 504: "timeout"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, field: str | None = None,
                 issues: list[Issue] | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds: a Retry-After header (429, 503)
        self.status = status
        self.message = message
        self.field = field if field is not None else (issues[0].field if issues else None)
        self.issues = issues or []

    def response(self) -> web.Response:
        body: dict[str, Any] = {"status": self.status, "code": _CODES.get(self.status, "error"),
                                "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        if self.issues:
            body["issues"] = [{"field": i.field, "message": i.message} for i in self.issues]
        seconds = None if self.retry_after is None else max(1, math.ceil(self.retry_after))
        if seconds is not None:
            body["retryAfter"] = seconds
        response = json_response({"error": body}, status=self.status)
        if seconds is not None:
            response.headers["Retry-After"] = str(seconds)
        return response


Handler = Callable[..., Awaitable[web.StreamResponse]]


def json_errors(handler: Handler) -> Handler:
    """Map ApiError to its JSON body and anything unexpected to a plain 500."""

    @functools.wraps(handler)
    async def wrapper(*args: Any, **kwargs: Any) -> web.StreamResponse:
        try:
            return await handler(*args, **kwargs)
        except ApiError as exc:
            return exc.response()
        except Exception:
            log.exception("unhandled error in %s", handler.__qualname__)
            return ApiError(500, "internal error").response()

    return wrapper


@web.middleware
async def http_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own answers (no such path, method not allowed...) as JSON errors too."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = ApiError(exc.status, (exc.reason or "error").lower()).response()
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response


T = TypeVar("T")


async def renamed_fields(call: Awaitable[T], rename: Callable[[str | None], str | None]) -> T:
    """The call's answer; its errors with fields renamed (a reference shape's names)."""
    try:
        return await call
    except ApiError as exc:
        if exc.field is None and not exc.issues:
            raise
        issues = [Issue(rename(i.field) or i.field, i.message) for i in exc.issues]
        message = "; ".join(f"{i.field}: {i.message}" for i in issues) if issues \
            else exc.message
        raise ApiError(exc.status, message, field=rename(exc.field), issues=issues) from exc
