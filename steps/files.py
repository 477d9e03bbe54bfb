"""Files that steps read by reference: a small store interface and its local-folder form.

A step never sees a worker's paths: the executor hands it a `FileStore` in
`ctx.extras["files"]`, and a workflow names a file by reference
(`{"fileId": "<uuid>"}`). Every call is scoped to a tenant, so another tenant's
file is simply "not found". File ids are UUIDs (checked), tenant ids are
checked against a strict pattern, so neither can walk out of the store's folder.

Later stores (uploads, S3) implement the same protocol.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import orjson

_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
DEFAULT_CONTENT_TYPE = "application/octet-stream"


class FileError(ValueError):
    """A file reference that cannot be served (permanent for a step)."""


class FileNotFound(FileError):
    """No such file for this tenant (a file of another tenant is not found either)."""


class FileTooLarge(FileError):
    """The file is over the size the caller reads."""


@dataclass(frozen=True)
class FileRef:
    """What a workflow and a step know about a stored file (never where it lives)."""

    file_id: str
    name: str
    size: int
    content_type: str
    sha256: str

    def to_json(self) -> dict[str, Any]:
        """The reference as workflows write it (`{"fileId": ...}` plus what it describes)."""
        return {"fileId": self.file_id, "name": self.name, "size": self.size,
                "contentType": self.content_type, "sha256": self.sha256}


class FileStore(Protocol):
    """Tenant-scoped file storage."""

    def put(self, tenant: str, data: bytes, *, name: str,
            content_type: str = DEFAULT_CONTENT_TYPE) -> FileRef: ...

    def stat(self, tenant: str, file_id: str) -> FileRef: ...

    def open(self, tenant: str, file_id: str) -> BinaryIO: ...

    def read(self, tenant: str, file_id: str, *, max_bytes: int | None = None
             ) -> tuple[FileRef, bytes]: ...


def check_file_id(file_id: Any) -> str:
    """The id in canonical UUID form, or FileError (nothing else reaches a path)."""
    if not isinstance(file_id, str):
        raise FileError(f"a file id must be a string (a UUID), not {type(file_id).__name__}")
    try:
        canonical = str(uuid.UUID(file_id))
    except ValueError:
        raise FileError(f"file id {file_id[:80]!r} is not a UUID") from None
    if canonical != file_id.lower():  # uuid.UUID also takes braces, urn: and no dashes
        raise FileError(f"file id {file_id[:80]!r} is not a UUID in canonical form")
    return canonical


def reference_id(value: Any) -> str:
    """The file id of a reference: `{"fileId": ...}` (or `file_id`), or a bare id."""
    if isinstance(value, dict):
        value = value.get("fileId", value.get("file_id"))
        if value is None:
            raise FileError("a file reference is an object with fileId")
    return check_file_id(value)


def _check_tenant(tenant: str) -> str:
    if not isinstance(tenant, str) or not _TENANT.match(tenant):
        raise FileError(f"tenant id {str(tenant)[:80]!r} cannot own files")
    return tenant


class LocalFileStore:
    """Files under `<root>/<tenant>/<fileId>`, each with a `<fileId>.json` metadata sidecar.

    Writes go to a temporary file then rename, so a reader never sees half a file.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _paths(self, tenant: str, file_id: str) -> tuple[Path, Path]:
        folder = self.root / _check_tenant(tenant)
        fid = check_file_id(file_id)
        return folder / fid, folder / f"{fid}.json"

    def put(self, tenant: str, data: bytes, *, name: str,
            content_type: str = DEFAULT_CONTENT_TYPE) -> FileRef:
        ref = FileRef(str(uuid.uuid4()), str(name)[:255], len(data), content_type,
                      hashlib.sha256(data).hexdigest())
        body, meta = self._paths(tenant, ref.file_id)
        body.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(body, data)
        _write_atomic(meta, orjson.dumps(asdict(ref)))  # the sidecar last: it marks "complete"
        return ref

    def stat(self, tenant: str, file_id: str) -> FileRef:
        _, meta = self._paths(tenant, file_id)
        try:
            fields = orjson.loads(meta.read_bytes())
        except FileNotFoundError:
            raise FileNotFound(f"file {file_id} not found") from None
        return FileRef(**fields)

    def open(self, tenant: str, file_id: str) -> BinaryIO:
        self.stat(tenant, file_id)
        body, _ = self._paths(tenant, file_id)
        try:
            return body.open("rb")
        except FileNotFoundError:
            raise FileNotFound(f"file {file_id} not found") from None

    def read(self, tenant: str, file_id: str, *, max_bytes: int | None = None
             ) -> tuple[FileRef, bytes]:
        ref = self.stat(tenant, file_id)
        if max_bytes is not None and ref.size > max_bytes:
            raise FileTooLarge(f"file {file_id} is {ref.size} bytes; the cap is {max_bytes}")
        with self.open(tenant, file_id) as handle:
            return ref, handle.read(ref.size + 1)[: ref.size]


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
