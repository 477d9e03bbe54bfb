"""The history store: a SQL read model of runs, projected from run events.

SQLite (stdlib, one file per worker) and PostgreSQL (shared) run the same
SQL. Nothing here knows Kafka or Faust: the projector in streams/ hands
decoded events and their offsets to `projection.apply_batch`.
"""

from history.database import Database, StoreUnavailable, open_database

__all__ = ["Database", "StoreUnavailable", "open_database"]
