"""The S3 client, the S3 file store and the upload_s3 step against moto's server (real HTTP)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from steps import http
from steps.base import ExecContext, StepFailed
from steps.files import FileEmpty, FileNotFound, FileTooLarge, put_bytes, read_bytes
from steps.files_s3 import FileStoreUnavailable, S3FileStore
from steps.s3 import S3Client, Target
from steps.uploads import s3 as upload_s3
from streams.file_store import open_store
from streams.settings import Settings
from tests.s3_peer import FlakyProxy, S3Peer

TENANT = "t-one"


async def store_on(peer: S3Peer, prefix: str = "files") -> S3FileStore:
    return S3FileStore(peer.target(await peer.new_bucket()), prefix)


async def keys(peer: S3Peer, bucket: str) -> list[str]:
    s3 = peer.client(bucket)
    try:
        return [item.key async for item in s3.list_objects("")]
    finally:
        await s3.client.aclose()


async def test_put_stat_chunks_delete(s3_peer: S3Peer) -> None:
    store = await store_on(s3_peer)
    data = b"name,total\n" + b"x,1\n" * 100_000  # past the 1 MB spool: a temporary file
    ref = await put_bytes(store, TENANT, data, name="Résumé (1).csv")
    assert (ref.size, ref.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert ref.content_type.startswith("text/csv")
    assert await store.stat(TENANT, ref.file_id) == ref
    got, body = await read_bytes(store, TENANT, ref.file_id)
    assert (got.name, body) == ("Résumé (1).csv", data)
    assert await keys(s3_peer, store.target.bucket) == [f"files/{TENANT}/{ref.file_id}"]
    assert await store.delete(TENANT, ref.file_id) is True
    assert await store.delete(TENANT, ref.file_id) is False
    with pytest.raises(FileNotFound):
        await store.stat(TENANT, ref.file_id)
    with pytest.raises(FileNotFound):
        [chunk async for chunk in store.chunks(TENANT, ref.file_id)]


async def test_tenants_are_isolated(s3_peer: S3Peer) -> None:
    store = await store_on(s3_peer)
    ref = await put_bytes(store, TENANT, b"secret", name="a.txt")
    with pytest.raises(FileNotFound):
        await store.stat("t-two", ref.file_id)
    with pytest.raises(FileNotFound):
        [chunk async for chunk in store.chunks("t-two", ref.file_id)]
    assert await store.delete("t-two", ref.file_id) is False
    assert (await store.stat(TENANT, ref.file_id)).size == 6


async def test_cap_and_empty_leave_nothing(s3_peer: S3Peer) -> None:
    store = await store_on(s3_peer)

    async def parts(*chunks: bytes) -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    with pytest.raises(FileTooLarge):
        await store.put_stream(TENANT, parts(b"x" * 600, b"y" * 600), name="big",
                               max_bytes=1000)
    with pytest.raises(FileEmpty):
        await store.put_stream(TENANT, parts(), name="empty")
    assert await keys(s3_peer, store.target.bucket) == []


async def test_expire_deletes_only_old_files_of_the_store(s3_peer: S3Peer) -> None:
    store = await store_on(s3_peer, prefix="")
    refs = [await put_bytes(store, TENANT, f"f{i}".encode(), name=f"{i}.txt")
            for i in range(3)]
    other = s3_peer.client(store.target.bucket)
    await other.put_object("not-ours.txt", b"keep", size=4,
                           sha256=hashlib.sha256(b"keep").hexdigest(), content_type="text/plain")
    await other.client.aclose()
    assert await store.expire(0) == 0
    assert await store.expire(10**15) == 3  # everything is older than that
    assert await keys(s3_peer, store.target.bucket) == ["not-ours.txt"]
    for ref in refs:
        with pytest.raises(FileNotFound):
            await store.stat(TENANT, ref.file_id)


async def test_missing_bucket_is_a_clear_error_or_created(s3_peer: S3Peer) -> None:
    missing = S3FileStore(s3_peer.target("no-such-bucket-here"))
    with pytest.raises(FileStoreUnavailable, match="does not exist"):
        await put_bytes(missing, TENANT, b"x", name="x")
    created = S3FileStore(s3_peer.target("made-at-first-use"), create_bucket=True)
    ref = await put_bytes(created, TENANT, b"x", name="x")
    assert (await created.stat(TENANT, ref.file_id)).size == 1


def test_open_store_reads_the_settings(tmp_path: Any) -> None:
    settings = Settings(home=tmp_path, file_store="s3://my-bucket/a/b",
                        file_store_endpoint="http://127.0.0.1:9", file_store_region="eu-west-1",
                        file_store_access_key_id="AKIA",
                        file_store_secret_access_key="sekrit-value")
    store = open_store(settings)
    assert isinstance(store, S3FileStore)
    assert (store.target.bucket, store.prefix, store.target.region) == ("my-bucket", "a/b",
                                                                        "eu-west-1")
    assert "sekrit-value" not in repr(settings)
    with pytest.raises(ValueError, match="ACCESS_KEY_ID"):
        open_store(Settings(home=tmp_path, file_store="s3://my-bucket",
                            file_store_access_key_id="", file_store_secret_access_key=""))
    with pytest.raises(ValueError, match="HOPFLOW_FILE_STORE"):
        open_store(Settings(home=tmp_path, file_store="s3://Bad_Bucket"))


# --- the upload_s3 step, run in-process -------------------------------------------------

def ctx_with(peer: S3Peer, bucket: str, store: Any = None, **credential: str) -> ExecContext:
    fields = {"type": "s3", "bucket": bucket, "region": "us-east-1",
              "access_key_id": peer.access_key_id,
              "secret_access_key": peer.secret_access_key, "endpoint_url": peer.endpoint}
    fields.update(credential)
    return ExecContext("run-1", TENANT, "up", 1, {"credential": fields, "files": store})


async def test_upload_stored_file_into_prefix(s3_peer: S3Peer) -> None:
    store = await store_on(s3_peer)
    ref = await put_bytes(store, TENANT, b"a,b\n1,2\n", name="in.csv")
    bucket = await s3_peer.new_bucket()
    outcome = await upload_s3.execute(
        {"credential_id": "c", "file": {"fileId": ref.file_id}, "path": "/exports/out.csv"},
        ctx_with(s3_peer, bucket, store, prefix="/exports/"))
    assert outcome.output["key"] == "exports/out.csv"
    assert outcome.output["bucket"] == bucket and outcome.output["etag"]
    assert await s3_peer.read(bucket, "exports/out.csv") == b"a,b\n1,2\n"
    assert s3_peer.secret_access_key not in str(outcome)
    with pytest.raises(StepFailed, match="outside"):
        await upload_s3.execute({"credential_id": "c", "content": "x", "path": "/etc/x"},
                                ctx_with(s3_peer, bucket, store, prefix="exports"))


async def test_overwrite_false_refuses_an_existing_object(s3_peer: S3Peer) -> None:
    bucket = await s3_peer.new_bucket()
    config = {"credential_id": "c", "content": "one", "path": "k.txt", "overwrite": False}
    await upload_s3.execute(config, ctx_with(s3_peer, bucket))
    with pytest.raises(StepFailed, match="already exists") as failed:
        await upload_s3.execute({**config, "content": "two"}, ctx_with(s3_peer, bucket))
    assert not failed.value.retryable
    assert await s3_peer.read(bucket, "k.txt") == b"one"


@pytest.mark.parametrize(("change", "code"), [
    ({"secret_access_key": "wrong-secret"}, "SignatureDoesNotMatch"),
    ({"access_key_id": "AKIAUNKNOWN000"}, "InvalidAccessKeyId"),
    ({"bucket": "no-such-bucket-at-all"}, "NoSuchBucket"),
])
async def test_refusals_are_permanent_and_name_the_code(s3_peer: S3Peer, change: dict[str, str],
                                                        code: str) -> None:
    bucket = await s3_peer.new_bucket()
    with pytest.raises(StepFailed, match=code) as failed:
        await upload_s3.execute({"credential_id": "c", "content": "x", "path": "k"},
                                ctx_with(s3_peer, change.pop("bucket", bucket), **change))
    assert not failed.value.retryable
    assert "wrong-secret" not in str(failed.value)


async def test_503_is_transient_then_succeeds(s3_peer: S3Peer) -> None:
    proxy = await FlakyProxy(s3_peer.endpoint).start()
    try:
        bucket = await s3_peer.new_bucket()
        ctx = ctx_with(s3_peer, bucket, endpoint_url=proxy.url)
        config = {"credential_id": "c", "content": "retry me", "path": "r.txt"}
        with pytest.raises(StepFailed, match="SlowDown") as failed:
            await upload_s3.execute(config, ctx)
        assert failed.value.retryable
        await upload_s3.execute(config, ctx)
        assert await s3_peer.read(bucket, "r.txt") == b"retry me"
    finally:
        await proxy.stop()


async def test_connection_refused_is_transient(s3_peer: S3Peer) -> None:
    with pytest.raises(StepFailed) as failed:
        await upload_s3.execute({"credential_id": "c", "content": "x", "path": "k"},
                                ctx_with(s3_peer, "bkt", endpoint_url="http://127.0.0.1:9"))
    assert failed.value.retryable


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:9", "http://169.254.169.254",
                                      "http://10.0.0.5"])
async def test_guard_refuses_private_endpoints(s3_peer: S3Peer, endpoint: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the tests' loopback allow-list, a credential cannot aim at the operator's net."""
    for name in ("HOPFLOW_OUTBOUND_ALLOW", "HOPFLOW_ALLOW_HTTP"):
        monkeypatch.delenv(name, raising=False)
    await http.close_client()
    try:
        for url in (endpoint, endpoint.replace("http://", "https://")):
            with pytest.raises(StepFailed) as failed:
                await upload_s3.execute({"credential_id": "c", "content": "x", "path": "k"},
                                        ctx_with(s3_peer, "bkt", endpoint_url=url))
            assert not failed.value.retryable
            assert "may" in str(failed.value)  # "...may be called" / "may not reach it"
    finally:
        await http.close_client()


def test_validate_names_fields() -> None:
    issues = upload_s3.validate({"path": "../x"}, "steps[0].config")
    fields = {issue.field for issue in issues}
    assert {"steps[0].config.credential_id", "steps[0].config.file",
            "steps[0].config.path"} <= fields


async def test_large_stored_file_streams_through_the_guarded_client(s3_peer: S3Peer) -> None:
    """Past 1 MB the step does not hold the file: chunks go out with a known length and hash."""
    store = await store_on(s3_peer)
    data = bytes(range(256)) * 8192  # 2 MiB
    ref = await put_bytes(store, TENANT, data, name="blob.bin")
    bucket = await s3_peer.new_bucket()
    outcome = await upload_s3.execute({"credential_id": "c", "file_id": ref.file_id,
                                       "path": "blob.bin"}, ctx_with(s3_peer, bucket, store))
    assert outcome.output["size"] == len(data)
    assert await s3_peer.read(bucket, "blob.bin") == data


def test_addressing_and_key_encoding() -> None:
    aws = S3Client(Target("my-bucket", "eu-west-1", "a", "b"), None)  # type: ignore[arg-type]
    assert aws.url("a b/ü+1.txt") == (
        "https://my-bucket.s3.eu-west-1.amazonaws.com/a%20b/%C3%BC%2B1.txt")
    dotted = S3Client(Target("my.bucket", "eu-west-1", "a", "b"), None)  # type: ignore[arg-type]
    assert dotted.url("k") == "https://s3.eu-west-1.amazonaws.com/my.bucket/k"
    custom = S3Client(Target("b1", "us-east-1", "a", "b", "http://127.0.0.1:9000/"),
                      None)  # type: ignore[arg-type]
    assert custom.url("k") == "http://127.0.0.1:9000/b1/k"
    assert custom.url("", {"list-type": "2", "prefix": "a/b"}) == (
        "http://127.0.0.1:9000/b1?list-type=2&prefix=a%2Fb")
    assert upload_s3.object_key("/exports/x.csv", "exports/") == "exports/x.csv"
    assert upload_s3.object_key("x.csv", "") == "x.csv"
    assert upload_s3.object_key("/x.csv", None) == "x.csv"
