"""Reads of the history store from HTTP views: 503 with a clear message when it is down."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from api.errors import ApiError
from history import StoreUnavailable
from history.database import Tx
from streams.engine import Engine

T = TypeVar("T")


async def read(engine: Engine, fn: Callable[[Tx], T]) -> T:
    try:
        return await engine.history.read(fn)
    except StoreUnavailable as exc:
        raise ApiError(503, "the history store is unavailable; runs keep flowing and history "
                            "catches up when it is back, retry later") from exc
