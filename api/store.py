"""Reads of the history store from HTTP views: 503 with a clear message when it is down."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from api.errors import ApiError
from history import StoreUnavailable
from history.database import Tx
from streams.engine import Engine

T = TypeVar("T")


# How long a query waits for a starting worker's store to be migrated.
STARTING_WAIT_SECONDS = 5.0


async def read(engine: Engine, fn: Callable[[Tx], T]) -> T:
    migrated = engine.projector.migrated
    if not migrated.is_set():
        try:
            await asyncio.wait_for(migrated.wait(), STARTING_WAIT_SECONDS)
        except TimeoutError:
            raise ApiError(503, "the history store is starting (or unreachable); runs keep "
                                "flowing, retry later") from None
    try:
        return await engine.history.read(fn)
    except StoreUnavailable as exc:
        raise ApiError(503, "the history store is unavailable; runs keep flowing and history "
                            "catches up when it is back, retry later") from exc
