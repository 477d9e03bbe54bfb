"""Send a registry command and answer with the control agent's outcome.

The call returns once this worker's registry replica has the outcome row, so
a client that reads right after a write (on this worker) sees it.
"""

from __future__ import annotations

from typing import Any

from api.auth import Principal
from api.errors import ApiError
from streams import intake
from streams.engine import Engine

WRITE_TIMEOUT = 10.0


async def submit(engine: Engine, principal: Principal, op: str, payload: dict[str, Any],
                 *, tenant: str | None = None) -> dict[str, Any]:
    """The op's result; its refusal as an ApiError (status, message, field)."""
    command_id = await intake.send_control(engine, tenant or principal.tenant, op,
                                           principal.actor, payload)
    outcome = await engine.registry.outcome(command_id, WRITE_TIMEOUT)
    if outcome is None:
        raise ApiError(504, "the change was accepted but is not visible yet; retry the GET")
    if not outcome["ok"]:
        raise ApiError(outcome["status"], outcome["message"], field=outcome.get("field"))
    return outcome["result"]  # type: ignore[no-any-return]
