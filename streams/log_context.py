"""Which run (and step) the current task works on, for every log line it writes.

A ContextVar, set where a run's work happens (run agent per command, executor
per step, launch) and reset after, so any log call inside, hopflow's or a
library's (httpx, aiokafka), can be tagged with run_id, step_id, tenant and
workflow_id by the JSON formatter (hopflow/logs.py). Setting it is one
ContextVar.set on the hot path; nothing is formatted unless a record is emitted.
"""

from __future__ import annotations

from contextvars import ContextVar, Token

# (run_id, step_id, tenant, workflow_id); None outside a run's work. run_id is None for
# a run that was refused before it existed (the line is still about that workflow).
RunContext = tuple["str | None", "str | None", "str | None", "str | None"]
_RUN: ContextVar[RunContext | None] = ContextVar("hopflow_run", default=None)


def bind(run_id: str | None, tenant: str | None, workflow_id: str | None,
         step_id: str | None = None) -> Token[RunContext | None]:
    """Tag this task's log lines with the run until `reset(token)`."""
    return _RUN.set((run_id, step_id, tenant, workflow_id))


def reset(token: Token[RunContext | None]) -> None:
    _RUN.reset(token)


def current() -> RunContext | None:
    return _RUN.get()
