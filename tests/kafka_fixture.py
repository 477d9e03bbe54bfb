"""pytest plugin: one real Kafka broker per test session (``kafka_broker`` fixture).

Enable with ``pytest_plugins = ["tests.kafka_fixture"]`` in conftest.py, or
``-p tests.kafka_fixture`` on the command line.

* Port: ``HOPFLOW_TEST_KAFKA_PORT`` pins it (default 19092; the controller uses port + 1).
  Several sessions may run at once on one machine (other developers, CI jobs): each
  *claims* its port with an flock on ``<home>/kafka/test-broker-<port>.lock``.  Without the
  env var a session whose default port is claimed or busy moves on to 19094, 19096, ...;
  with it, that is an error.
* Data: a fresh tmp_path_factory dir per session, so every session starts with an empty
  cluster.  Jars come from the shared cache (``$HOPFLOW_HOME``, see ``dev.kafka``).
* Crashed sessions: the lock file records the broker's data dir and pid.  The kernel drops
  the flock when a session dies, so a later session that gets the lock and finds a record
  knows the broker is orphaned and *stops* it (``stop()`` checks it is Kafka running that
  data dir, so nothing else is killed) before starting a fresh one.  Reusing it was
  rejected: its topics would leak into the new session and pytest may delete its dir.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from dev.kafka import BrokerError, BrokerSettings, default_home, port_free, start, stop


def _write_record(fh: IO[str], record: dict[str, Any] | None) -> None:
    fh.seek(0)
    fh.truncate()
    if record:
        fh.write(json.dumps(record))
    fh.flush()


def _stop_orphan(fh: IO[str], port: int) -> None:
    """Stop the broker a crashed session left behind (we hold its lock, so it is orphaned)."""
    fh.seek(0)
    try:
        record = json.loads(fh.read() or "{}")
        data_dir, pid = Path(record["data_dir"]), record.get("pid")
    except (ValueError, KeyError, TypeError):
        return
    recreated = not data_dir.exists()  # pytest may have removed the old tmp dir by now
    try:
        if pid is not None and not (data_dir / "broker.pid").exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            (data_dir / "broker.pid").write_text(f"{pid}\n")
        if (data_dir / "broker.pid").exists():
            stop(BrokerSettings(port=port, data_dir=data_dir))
    finally:
        if recreated:
            shutil.rmtree(data_dir, ignore_errors=True)
        _write_record(fh, None)


@contextlib.contextmanager
def claim_port(
    first: int, data_dir: Path, *, strict: bool, tries: int = 10
) -> Iterator[tuple[BrokerSettings, IO[str]]]:
    """Claim a broker port pair for this session; stop whatever broker ran there at exit.

    Yields the settings and the open lock file (``_write_record`` it to note the pid).
    ``strict``: only ``first`` is acceptable; otherwise try first, first + 2, ...
    """
    locks = default_home() / "kafka"
    locks.mkdir(parents=True, exist_ok=True)
    for port in [first] if strict else range(first, first + 2 * tries, 2):
        fh = open(locks / f"test-broker-{port}.lock", "a+")  # noqa: SIM115 - held for the session
        try:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if strict:
                    raise BrokerError(
                        f"port {port} is claimed by another live test session"
                    ) from None
                continue
            _stop_orphan(fh, port)
            if not (port_free(port) and port_free(port + 1)):
                if strict:
                    raise BrokerError(f"port {port} or {port + 1} on 127.0.0.1 is in use")
                continue
            settings = BrokerSettings(port=port, data_dir=data_dir)
            _write_record(fh, {"data_dir": str(settings.data)})
            try:
                yield settings, fh
            finally:
                stop(settings)
                _write_record(fh, None)
            return
        finally:
            fh.close()  # releases the flock
    raise BrokerError(f"no free broker port pair among {first}..{first + 2 * tries - 2}")


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerSettings]:
    """A running single-node broker for the whole session; use ``.bootstrap`` to connect."""
    pinned = os.environ.get("HOPFLOW_TEST_KAFKA_PORT")
    data_dir = tmp_path_factory.mktemp("kafka")
    try:
        with claim_port(int(pinned or 19092), data_dir, strict=bool(pinned)) as (settings, fh):
            state = start(settings)
            _write_record(fh, {"data_dir": str(settings.data), "pid": state.pid})
            yield settings
    except BrokerError as exc:
        raise BrokerError(f"{exc}\n(HOPFLOW_TEST_KAFKA_PORT selects the port)") from exc
