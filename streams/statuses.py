"""Run and step statuses."""

PENDING = "pending"
RUNNING = "running"
PAUSED = "paused"
RETRYING = "retrying"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"

RUN_STATUSES = (PENDING, RUNNING, PAUSED, COMPLETED, FAILED, CANCELLED, RETRYING)
TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED})
WAITING = "waiting"  # a step status: a delay that has not elapsed yet
