"""Run and step statuses."""

PENDING = "pending"
RUNNING = "running"
PAUSED = "paused"
RETRYING = "retrying"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
TERMINATED = "terminated"

RUN_STATUSES = (PENDING, RUNNING, PAUSED, RETRYING, COMPLETED, FAILED, CANCELLED, TERMINATED)
TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED, TERMINATED})
ACTIVE = (PENDING, RUNNING, RETRYING, PAUSED)
WAITING = "waiting"  # a step status: a delay that has not elapsed yet
REUSED = "reused"  # a step status: a re-run took this output from the earlier run, not run
