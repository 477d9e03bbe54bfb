"""Versioned schema migrations: `migrations/NNNN_name.sql`, applied once each, in order."""

from __future__ import annotations

import time
from pathlib import Path

from history.database import Tx

_DIR = Path(__file__).parent / "migrations"


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration file, oldest first."""
    found = []
    for path in sorted(_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql")):
        found.append((int(path.name[:4]), path.stem, path.read_text()))
    return found


def migrate(tx: Tx) -> list[int]:
    """Apply what is missing (in the caller's transaction); returns the versions applied."""
    tx.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
               "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms BIGINT NOT NULL)")
    if tx.dialect == "postgresql":  # workers starting together: one migrates, the rest wait
        tx.execute("LOCK TABLE schema_migrations IN EXCLUSIVE MODE")
    done = {row[0] for row in tx.all("SELECT version FROM schema_migrations")}
    applied = []
    for version, name, sql in migrations():
        if version in done:
            continue
        tx.script(_strip_comments(sql))
        tx.execute("INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?, ?, ?)",
                   (version, name, int(time.time() * 1000)))
        applied.append(version)
    return applied


def _strip_comments(sql: str) -> str:
    return "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
