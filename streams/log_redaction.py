"""Keep decrypted secrets out of log lines written while a step runs with them.

A library logging on the step's behalf (httpx logs every request URL at INFO,
a traceback may quote a header) does not know what is secret. The executor
marks the plaintexts it decrypted for the current task (`using`); a record
factory installed once masks them in every record made meanwhile, message,
arguments and traceback alike. Outside a step the cost is one ContextVar read.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from steps.redact import redact_text

_ACTIVE: ContextVar[tuple[str, ...]] = ContextVar("hopflow_step_secrets", default=())
_installed = False


def install() -> None:
    """Wrap the log record factory (once per process)."""
    global _installed
    if _installed:
        return
    _installed = True
    base = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        secrets = _ACTIVE.get()
        if secrets:
            _mask(record, secrets)
        return record

    logging.setLogRecordFactory(factory)


def _mask(record: logging.LogRecord, secrets: tuple[str, ...]) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging reports it itself, unmasked args dropped
        message = str(record.msg)
    record.msg = redact_text(message, secrets)
    record.args = None
    if record.exc_info and record.exc_info[1] is not None:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        record.exc_text = redact_text(text, secrets)
    if record.stack_info:
        record.stack_info = redact_text(record.stack_info, secrets)


@contextmanager
def using(secrets: Sequence[str]) -> Iterator[None]:
    """Mask `secrets` in records logged by this task until the block ends."""
    if not secrets:
        yield
        return
    token = _ACTIVE.set(tuple(secrets))
    try:
        yield
    finally:
        _ACTIVE.reset(token)
