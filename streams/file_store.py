"""Which file store this deployment uses: the setting `HOPFLOW_FILE_STORE`.

`local` (the default): a folder under the deployment home, which every worker
sharing that home sees (one machine, or a shared volume). Workers on separate
machines need a store they all reach: `s3://bucket/prefix` on S3 or any
S3-compatible server (`HOPFLOW_FILE_STORE_ENDPOINT`), steps/files_s3.py.
"""

from __future__ import annotations

import re

from steps.files import FileStore, LocalFileStore
from steps.files_s3 import S3FileStore
from steps.s3 import Target
from streams.settings import Settings

_S3 = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(?P<prefix>.*))?$")


def open_store(settings: Settings) -> FileStore:
    """The configured store; a bad setting fails the worker's start, naming it."""
    spec = settings.file_store.strip()
    if spec in ("", "local"):
        return LocalFileStore(settings.home / "files")
    match = _S3.match(spec)
    if match:
        return _s3_store(settings, match["bucket"], (match["prefix"] or "").strip("/"))
    raise ValueError(f"HOPFLOW_FILE_STORE={spec!r}: expected 'local' or s3://bucket/prefix")


def _s3_store(settings: Settings, bucket: str, prefix: str) -> S3FileStore:
    if not settings.file_store_access_key_id or not settings.file_store_secret_access_key:
        raise ValueError("HOPFLOW_FILE_STORE is s3://: set HOPFLOW_FILE_STORE_ACCESS_KEY_ID and "
                         "HOPFLOW_FILE_STORE_SECRET_ACCESS_KEY (or AWS_ACCESS_KEY_ID and "
                         "AWS_SECRET_ACCESS_KEY)")
    endpoint = settings.file_store_endpoint.strip() or None
    if endpoint and not endpoint.startswith(("http://", "https://")):
        raise ValueError(f"HOPFLOW_FILE_STORE_ENDPOINT={endpoint!r}: expected an http(s) URL")
    if ".." in prefix.split("/"):
        raise ValueError("HOPFLOW_FILE_STORE: the prefix must not contain '..'")
    target = Target(bucket, settings.file_store_region, settings.file_store_access_key_id,
                    settings.file_store_secret_access_key, endpoint)
    return S3FileStore(target, prefix, create_bucket=settings.file_store_create_bucket)
