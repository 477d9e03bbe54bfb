"""The plan's send caps as a step sees them: one `reserve` call right before sending.

The worker's executor puts `ctx.extras["reserve"]` (an async
`reserve(channel, units, recipients)`) on steps that send; it asks the
tenant's control agent, the one writer of the tenant's counters, so the daily
count is exact across workers. It raises StepFailed (permanent) when the
plan's recipients-per-message or daily cap would be passed. Outside a worker
(a step run alone) there is no reserve and nothing is counted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from steps.base import ExecContext

Reserve = Callable[[str, int, int], Awaitable[None]]
CHANNELS = ("email", "sms")


async def reserve(ctx: ExecContext, channel: str, units: int, recipients: int) -> None:
    """Count `units` sends of `channel` against today's cap; refuse over the plan's caps."""
    fn: Reserve | None = ctx.extras.get("reserve")
    if fn is not None:
        await fn(channel, units, recipients)
