"""How a worker's log lines look (text or JSON lines) and which ones count as errors.

Faust (mode) configures logging itself when the worker starts; `install` runs
right after that (Worker.on_setup_root_logger) on the root handlers it made, so
Faust's, aiokafka's and hopflow's lines all go through the same formatter and
filter. JSON is a small stdlib Formatter over orjson (already a dependency):
the handful of fixed fields plus the run context did not justify a new library.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

import orjson

from streams import log_context

FORMATS = ("text", "json")

# Lines a normal start-up (fresh or restarted broker, a rebalance) logs at ERROR or
# WARNING though nothing is wrong: the group coordinator or a partition leader is not
# elected yet, or a member rejoins. The client retries them by itself; they are kept at
# INFO so a real ERROR means an operator should look.
_TRANSIENT = re.compile(
    r"GroupCoordinatorNotAvailable|CoordinatorNotAvailable|NotCoordinator"
    r"|CoordinatorLoadInProgress|LeaderNotAvailable|NotLeaderForPartition"
    r"|Group Coordinator Request failed|RebalanceInProgress|UnknownMemberId"
    r"|NodeNotReady|NotEnoughReplicas(?!AfterAppend)|Topic .* not found in cluster metadata"
    r"|Heartbeat failed for group .* because it is rebalancing")
_LIBRARIES = ("aiokafka", "kafka", "faust", "mode")


# A coordinator or leader election takes seconds; the same lines for longer than this
# mean the cluster is really unhealthy (a broker down, an under-replicated offsets topic),
# so from then on they keep their level until they stop for as long.
PERSISTING_SECONDS = 60.0


class DemoteTransient(logging.Filter):
    """Rewrite known-benign library ERROR/WARNING lines to INFO (and drop them below the
    handler's level, since a handler filter runs after the level check), unless they have
    kept coming for PERSISTING_SECONDS: then the operator must see them."""

    def __init__(self, threshold: int, persisting: float = PERSISTING_SECONDS) -> None:
        super().__init__()
        self.threshold = threshold
        self.persisting = persisting
        self._since: float | None = None  # first transient line of the current streak
        self._last = 0.0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not record.name.startswith(_LIBRARIES):
            return True
        text = record.getMessage()
        if record.exc_info and record.exc_info[0] is not None:
            text += " " + record.exc_info[0].__name__
        if not _TRANSIENT.search(text):
            return True
        now = record.created
        if self._since is None or now - self._last > self.persisting:
            self._since = now  # a new streak (start-up, a rebalance)
        self._last = now
        if now - self._since > self.persisting:
            return True  # still failing after a minute: not transient, keep its level
        record.levelno, record.levelname = logging.INFO, "INFO"
        return self.threshold <= logging.INFO


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, message, the run context, traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": _message(record),
        }
        run = log_context.current()
        if run is not None:
            line["run_id"], line["step_id"], line["tenant"], line["workflow_id"] = run
        if record.exc_info and not record.exc_text:
            # streams/log_redaction.py sets exc_text (masked) when a step's secrets are active
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["traceback"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        try:
            return orjson.dumps(line, default=str).decode()
        except TypeError:  # a lone surrogate (bytes decoded with surrogateescape): escape it
            return orjson.dumps({k: v.encode("utf-8", "backslashreplace").decode()
                                 if isinstance(v, str) else v for k, v in line.items()},
                                default=str).decode()


def _message(record: logging.LogRecord) -> str:
    """The formatted message; a call whose args do not fit its format string (a bug in the
    caller) still gives a line, with the raw format and args, instead of no line at all."""
    try:
        return record.getMessage()
    except Exception:
        return f"{record.msg!s} (unformattable args: {record.args!r})"


class TextFormatter(logging.Formatter):
    """Faust's text lines, with `[run=... step=...]` appended on lines about a run."""

    def __init__(self, base: logging.Formatter | None) -> None:
        super().__init__()
        self.base = base or logging.Formatter("[%(asctime)s] [%(process)d] "
                                              "[%(levelname)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = self.base.format(record)
        run = log_context.current()
        if run is None:
            return text
        run_id, step_id, tenant, workflow_id = run
        tag = f" [run={run_id} tenant={tenant} workflow={workflow_id}"
        return text + tag + (f" step={step_id}]" if step_id else "]")


def install(log_format: str, level: int) -> None:
    """Put the formatter and the transient-line filter on every root handler."""
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {FORMATS}, got {log_format!r}")
    logging.captureWarnings(True)  # warnings.warn (aiokafka's SASL-in-clear) as log lines
    demote = DemoteTransient(level)
    for handler in logging.root.handlers:
        handler.addFilter(demote)
        handler.setFormatter(JsonFormatter() if log_format == "json"
                             else TextFormatter(handler.formatter))
