"""One connection API over sqlite3 and psycopg 3, run on threads off the event loop.

Both drivers are DB-API, so queries are written once, with `?` placeholders
(psycopg gets `%s`). Writes go through one thread and one connection (a
single writer keeps SQLite simple and PostgreSQL transactions short);
reads use a small pool of threads with a connection each.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")
READ_THREADS = 2
STATEMENT_TIMEOUT_MS = 10_000


class StoreUnavailable(RuntimeError):
    """The store did not answer (down, unreachable, locked): callers answer 503 and retry."""


class Cursor(Protocol):
    rowcount: int

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def fetchone(self) -> Any: ...


class Tx:
    """A transaction handle: `?` placeholders on either driver."""

    def __init__(self, cursor: Any, dialect: str) -> None:
        self._cursor = cursor
        self.dialect = dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        self._cursor.execute(_sql(sql, self.dialect), params)
        return int(self._cursor.rowcount)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._cursor.execute(_sql(sql, self.dialect), params)
        return [tuple(r) for r in self._cursor.fetchall()]

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        self._cursor.execute(_sql(sql, self.dialect), params)
        row = self._cursor.fetchone()
        return None if row is None else tuple(row)

    def script(self, sql: str) -> None:
        """Several statements separated by `;` (migrations)."""
        for statement in (s.strip() for s in sql.split(";")):
            if statement:
                self._cursor.execute(statement)


@lru_cache(maxsize=512)
def _sql(sql: str, dialect: str) -> str:
    return sql if dialect == "sqlite" else re.sub(r"\?", "%s", sql)


class Database:
    """A store URL (`sqlite:///path` or `postgresql://...`) and its threads."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = "sqlite" if url.startswith("sqlite:") else "postgresql"
        if self.dialect == "postgresql" and not url.startswith(("postgresql://", "postgres://")):
            raise ValueError(f"history store URL must be sqlite:///path or postgresql://..., "
                             f"not {url!r}")
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="history-write")
        self._readers = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="history-read")
        self._local = threading.local()
        self.available = True

    @property
    def display(self) -> str:
        """The URL without a password, for logs and /healthz."""
        parts = urlsplit(self.url)
        if parts.password:
            return self.url.replace(f":{parts.password}@", ":***@")
        return self.url

    def _connect(self, readonly: bool) -> Any:
        if self.dialect == "sqlite":
            path = Path(self.url.removeprefix("sqlite:///").removeprefix("sqlite://"))
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, isolation_level=None, timeout=10.0,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=OFF")
            return conn
        import psycopg  # only deployments with PostgreSQL need the driver loaded

        options = f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"
        return psycopg.connect(self.url, connect_timeout=5, options=options,
                               autocommit=True)

    def _conn(self, readonly: bool) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect(readonly)
            self._local.conn = conn
        return conn

    def _drop_conn(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    @contextlib.contextmanager
    def _transaction(self, readonly: bool) -> Iterator[Tx]:
        conn = self._conn(readonly)
        cursor = conn.cursor()
        cursor.execute("BEGIN IMMEDIATE" if self.dialect == "sqlite" and not readonly
                       else "BEGIN")
        try:
            yield Tx(cursor, self.dialect)
        except BaseException:
            with contextlib.suppress(Exception):
                cursor.execute("ROLLBACK")
            raise
        cursor.execute("COMMIT")

    def _call(self, fn: Callable[[Tx], T], readonly: bool) -> T:
        try:
            with self._transaction(readonly) as tx:
                result = fn(tx)
            self.available = True
            return result
        except Exception as exc:
            if _is_unavailable(exc):
                self._drop_conn()
                self.available = False
                raise StoreUnavailable(f"history store {self.display} unavailable: "
                                       f"{type(exc).__name__}: {exc}") from exc
            raise

    async def write(self, fn: Callable[[Tx], T]) -> T:
        """fn(tx) in one transaction on the writer thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, self._call, fn, False)

    async def read(self, fn: Callable[[Tx], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._call, fn, True)

    def write_now(self, fn: Callable[[Tx], T]) -> T:
        """Synchronous write (start-up, scripts): same transaction rules."""
        return self._writer.submit(self._call, fn, False).result()

    def close(self) -> None:
        self._writer.submit(self._drop_conn).result()
        for pool in (self._writer, self._readers):
            pool.shutdown(wait=False, cancel_futures=True)


def _is_unavailable(exc: Exception) -> bool:
    if isinstance(exc, sqlite3.OperationalError):
        return True  # locked, disk I/O, cannot open
    module = type(exc).__module__
    if module.startswith("psycopg"):
        import psycopg

        return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
    return isinstance(exc, OSError)


def open_database(url: str) -> Database:
    """Open the store and bring its schema up to date."""
    from history.migrate import migrate

    db = Database(url)
    db.write_now(migrate)
    return db
