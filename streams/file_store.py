"""Which file store this deployment uses: the setting `HOPFLOW_FILE_STORE`.

`local` (the default): a folder under the deployment home, which every worker
sharing that home sees (one machine, or a shared volume). Workers on separate
machines need a store they all reach: S3 or any S3-compatible server.
"""

from __future__ import annotations

from steps.files import FileStore, LocalFileStore
from streams.settings import Settings


def open_store(settings: Settings) -> FileStore:
    """The configured store; a bad setting fails the worker's start, naming it."""
    spec = settings.file_store.strip()
    if spec in ("", "local"):
        return LocalFileStore(settings.home / "files")
    raise ValueError(f"HOPFLOW_FILE_STORE={spec!r}: expected 'local'")
