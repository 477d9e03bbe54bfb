"""Fix 5 of streams/faust_fixes.py: a skipped message is sought until it comes, never gapped.

Our committed topics have a record at every offset between the log start and
the end, so only an offset that retention deleted may be recorded as a gap.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import pytest
from intervaltree import IntervalTree

from streams import faust_fixes

TP = ("demo.step-dispatch", 3)


class FakeConsumer:
    """The attributes `_stalled` reads, with seeks and the log start recorded."""

    def __init__(self, log_start: int) -> None:
        self._hopflow_stalled: dict[Any, Any] = {}
        self._hopflow_seeks: set[Any] = set()
        self._gap: dict[Any, IntervalTree] = defaultdict(IntervalTree)
        self.app = SimpleNamespace(rebalancing=False)
        self.log_start = log_start
        self.seeks: list[int] = []

    def assignment(self) -> set[Any]:
        return {TP}

    async def seek(self, tp: Any, offset: int) -> None:
        self.seeks.append(offset)

    async def earliest_offsets(self, *tps: Any) -> dict[Any, int]:
        return {tp: self.log_start for tp in tps}


async def _stall_for(consumer: FakeConsumer, seconds: int, monkeypatch: pytest.MonkeyPatch,
                     expected: int = 39) -> None:
    """Call the stall check once a simulated second, as commits do."""
    for now in range(seconds + 1):
        monkeypatch.setattr(faust_fixes.time, "monotonic", lambda now=now: float(now))
        faust_fixes._stalled(consumer, TP, expected)
        await asyncio.sleep(0)
        await asyncio.sleep(0)


async def test_an_existing_message_is_sought_again_and_never_gapped(
        monkeypatch: pytest.MonkeyPatch) -> None:
    consumer = FakeConsumer(log_start=0)
    await _stall_for(consumer, 20, monkeypatch)
    assert consumer.seeks[:3] == [39, 39, 39] and len(consumer.seeks) >= 8
    assert not consumer._gap[TP]  # before, the third check recorded 39 as a gap


async def test_an_offset_deleted_by_retention_becomes_a_gap(
        monkeypatch: pytest.MonkeyPatch) -> None:
    consumer = FakeConsumer(log_start=50)
    await _stall_for(consumer, 8, monkeypatch)
    assert sorted((i.begin, i.end) for i in consumer._gap[TP]) == [(39, 50)]


async def test_no_seek_during_a_rebalance(monkeypatch: pytest.MonkeyPatch) -> None:
    consumer = FakeConsumer(log_start=0)
    consumer.app.rebalancing = True
    await _stall_for(consumer, 10, monkeypatch)
    assert consumer.seeks == []
