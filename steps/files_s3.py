"""The S3 form of the file store: one bucket (and prefix) that every worker reaches.

`HOPFLOW_FILE_STORE=s3://bucket/prefix` (streams/file_store.py). A file is the
object `<prefix>/<tenant>/<fileId>`; what describes it (name, size, content
type, sha256, created_ms) travels as `x-amz-meta-*` headers of the same
object, so a stat is one HeadObject and the object and its description can
never disagree. The name is percent-encoded (headers are ASCII).

`put_stream` spools the incoming chunks (in memory up to 1 MB, then a
temporary file), counting and hashing them, and sends one PutObject only when
the whole file is known: a file over the cap or empty never reaches the
bucket, and PutObject is atomic, so a reader sees the file whole or not at
all. `expire` lists the prefix and deletes, in batches, the objects written
before the cutoff (an object is never rewritten, so LastModified is its
creation time).

The endpoint is the operator's, not a tenant's: this store uses a plain httpx
client, not the outbound guard. A missing bucket is reported at first use, or
created when `HOPFLOW_FILE_STORE_CREATE_BUCKET=1`.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from typing import BinaryIO
from urllib.parse import unquote

import httpx

from steps.files import (
    CHUNK,
    FileEmpty,
    FileError,
    FileNotFound,
    FileRef,
    FileTooLarge,
    InUse,
    check_file_id,
    check_tenant,
    expirable,
    guess_type,
    now_ms,
)
from steps.s3 import S3Client, S3Error, Target, meta_encode, meta_headers

SPOOL_BYTES = 1024 * 1024


class FileStoreUnavailable(RuntimeError):
    """The configured bucket cannot be used (missing, no access): an operator's problem."""


class S3FileStore:
    """Tenant-scoped files in one S3 bucket under a prefix."""

    def __init__(self, target: Target, prefix: str = "", *, create_bucket: bool = False,
                 client: httpx.AsyncClient | None = None, timeout: float = 120.0) -> None:
        self.target = target
        self.prefix = prefix.strip("/")
        self.create_bucket = create_bucket
        self._client = client
        self._s3: S3Client | None = None
        self._ready = False
        self._lock: asyncio.Lock | None = None
        self.timeout = timeout

    async def _bucket(self) -> S3Client:
        """The client, once the bucket is known to exist (checked at first use)."""
        if self._s3 is None:
            client = self._client or httpx.AsyncClient(trust_env=False)
            self._s3 = S3Client(self.target, client, timeout=self.timeout)
        if self._ready:
            return self._s3
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if not self._ready:
                await self._check_bucket(self._s3)
                self._ready = True
        return self._s3

    async def _check_bucket(self, s3: S3Client) -> None:
        where = f"HOPFLOW_FILE_STORE bucket {self.target.bucket!r}"
        try:
            await s3.head_bucket()
            return
        except S3Error as exc:
            if exc.status != 404:
                raise FileStoreUnavailable(f"{where}: S3 answered {exc.status} {exc.code} "
                                           "(check the store's keys and region)") from None
        except httpx.HTTPError as exc:
            raise FileStoreUnavailable(f"{where}: cannot reach the endpoint "
                                       f"({type(exc).__name__})") from None
        if not self.create_bucket:
            raise FileStoreUnavailable(f"{where} does not exist (create it, or set "
                                       "HOPFLOW_FILE_STORE_CREATE_BUCKET=1)")
        try:
            await s3.create_bucket()
        except S3Error as exc:
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise FileStoreUnavailable(f"{where}: creating it failed: {exc.code}") from None

    def _key(self, tenant: str, file_id: str) -> str:
        parts = [self.prefix] if self.prefix else []
        return "/".join([*parts, check_tenant(tenant), check_file_id(file_id)])

    async def put_stream(self, tenant: str, chunks: AsyncIterable[bytes], *, name: str,
                         content_type: str | None = None, max_bytes: int | None = None
                         ) -> FileRef:
        file_id = str(uuid.uuid4())
        key = self._key(tenant, file_id)
        s3 = await self._bucket()
        spool: BinaryIO = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
        try:
            digest, size, head = hashlib.sha256(), 0, b""
            async for chunk in chunks:
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise FileTooLarge(f"the file is over {max_bytes} bytes")
                if len(head) < 4096:
                    head += chunk[: 4096 - len(head)]
                digest.update(chunk)
                if len(chunk) > CHUNK:
                    await asyncio.to_thread(spool.write, chunk)
                else:
                    spool.write(chunk)
            if size == 0:
                raise FileEmpty("the file is empty")
            ref = FileRef(file_id, str(name)[:255], size, content_type or guess_type(head, name),
                          digest.hexdigest(), now_ms())
            spool.seek(0)
            await s3.put_object(key, _read_spool(spool), size=size, sha256=ref.sha256,
                                content_type=ref.content_type, metadata={
                                    "name": meta_encode(ref.name), "size": str(size),
                                    "content-type": meta_encode(ref.content_type),
                                    "sha256": ref.sha256, "created-ms": str(ref.created_ms)})
        finally:
            spool.close()
        return ref

    async def stat(self, tenant: str, file_id: str) -> FileRef:
        key = self._key(tenant, file_id)
        headers = await (await self._bucket()).head_object(key)
        if headers is None:
            raise FileNotFound(f"file {file_id} not found")
        meta = meta_headers(headers)
        try:
            return FileRef(check_file_id(file_id), unquote(meta.get("name", "")),
                           int(meta["size"]), unquote(meta.get("content-type", "")),
                           meta.get("sha256", ""), int(meta.get("created-ms") or 0))
        except (KeyError, ValueError):
            raise FileError(f"file {file_id} has no readable description") from None

    async def chunks(self, tenant: str, file_id: str) -> AsyncIterator[bytes]:
        key = self._key(tenant, file_id)
        s3 = await self._bucket()
        try:
            async for chunk in s3.get_object(key):
                yield chunk
        except S3Error as exc:
            if exc.status == 404:
                raise FileNotFound(f"file {file_id} not found") from None
            raise

    async def delete(self, tenant: str, file_id: str) -> bool:
        key = self._key(tenant, file_id)
        s3 = await self._bucket()
        if await s3.head_object(key) is None:
            return False
        await s3.delete_object(key)
        return True

    async def expire(self, before_ms: int, in_use: InUse | None = None) -> int:
        s3 = await self._bucket()
        prefix = f"{self.prefix}/" if self.prefix else ""
        old: dict[str, list[str]] = {}
        async for item in s3.list_objects(prefix):
            rest = item.key[len(prefix):]
            if item.modified_ms < before_ms and _is_file_key(rest):
                tenant, file_id = rest.split("/")
                old.setdefault(tenant, []).append(file_id)
        doomed = await expirable(old, in_use)
        keys = [self._key(tenant, file_id) for tenant, ids in doomed.items() for file_id in ids]
        await s3.delete_objects(keys)
        return len(keys)


def _is_file_key(rest: str) -> bool:
    """`<tenant>/<fileId>`: only what this store wrote is expired (a shared bucket is safe)."""
    parts = rest.split("/")
    if len(parts) != 2:
        return False
    try:
        check_tenant(parts[0])
        check_file_id(parts[1])
    except FileError:
        return False
    return True


async def _read_spool(spool: BinaryIO) -> AsyncIterator[bytes]:
    while chunk := await asyncio.to_thread(spool.read, SPOOL_BYTES):
        yield chunk
