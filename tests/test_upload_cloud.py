"""upload_azure_blob, upload_box, upload_dropbox called in process against local peers:
Azurite for Azure (a real Shared Key and SAS check), aiohttp servers for Box and
Dropbox. Each test reads the uploaded bytes back from the server."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
import pytest_asyncio

from steps.base import ExecContext, StepFailed
from steps.files import LocalFileStore, put_bytes
from steps.uploads import azure_auth, azure_blob, box, dropbox
from tests.cloud_peers import (
    AZ_ACCOUNT,
    AZ_KEY,
    BOX_TOKEN,
    DROPBOX_TOKEN,
    Azurite,
    Peer,
    box_file,
    box_peer,
    dropbox_peer,
)


def ctx(credential: dict[str, Any], store: LocalFileStore | None = None,
        attempt: int = 1) -> ExecContext:
    extras: dict[str, Any] = {"credential": credential}
    if store is not None:
        extras["files"] = store
    return ExecContext("run-1", "t1", "up", attempt, extras)


@pytest.fixture(scope="module")
def azurite() -> Iterator[Azurite]:
    server = Azurite()
    server.create_container("reports")
    yield server
    server.stop()


def az_credential(server: Azurite, **extra: Any) -> dict[str, Any]:
    return {"type": "azure_blob", "account_name": AZ_ACCOUNT, "container": "reports",
            "account_key": AZ_KEY, "endpoint_url": server.endpoint, **extra}


# -- Azure -----------------------------------------------------------------------------

def test_shared_key_matches_an_independent_signature() -> None:
    """The canonical string per Microsoft's spec, signed by hand here, and the header."""
    headers = {"x-ms-version": "2023-11-03", "x-ms-date": "Mon, 01 Jan 2024 00:00:00 GMT",
               "x-ms-blob-type": "BlockBlob", "Content-Type": "text/plain", "If-None-Match": "*"}
    text = azure_auth.string_to_sign("acct", "PUT", "/c/a%20b.txt", {"comp": "block",
                                     "blockid": "QQ=="}, headers, 5)
    expected = ("PUT\n\n\n5\n\ntext/plain\n\n\n\n*\n\n\n"
                "x-ms-blob-type:BlockBlob\nx-ms-date:Mon, 01 Jan 2024 00:00:00 GMT\n"
                "x-ms-version:2023-11-03\n/acct/c/a%20b.txt\nblockid:QQ==\ncomp:block")
    assert text == expected
    key = base64.b64encode(b"k" * 32).decode()
    mac = hmac.new(b"k" * 32, expected.encode(), hashlib.sha256).digest()
    assert azure_auth.shared_key("acct", key, "PUT", "/c/a%20b.txt",
                                 {"comp": "block", "blockid": "QQ=="}, headers, 5) == \
        f"SharedKey acct:{base64.b64encode(mac).decode()}"
    # a zero length is signed as an empty field (version 2015-02-21 and later)
    assert azure_auth.string_to_sign("a", "GET", "/c", {}, {}, 0).startswith("GET\n\n\n\n")


async def test_azure_put_blob_with_shared_key(azurite: Azurite) -> None:
    config = {"credential_id": "c", "path": "daily/r ü 1.csv", "content": "a,b\n1,2\n"}
    outcome = await azure_blob.execute(config, ctx(az_credential(azurite)))
    assert outcome.output["path"] == "daily/r ü 1.csv"
    assert outcome.output["url"].endswith("/reports/daily/r%20%C3%BC%201.csv")
    assert AZ_KEY not in orjson.dumps([outcome.output, outcome.request]).decode()
    back = azurite.read("reports", "daily/r%20%C3%BC%201.csv")
    assert back.status_code == 200 and back.content == b"a,b\n1,2\n"
    assert back.headers["content-type"] == "text/plain; charset=utf-8"


async def test_azure_large_file_in_blocks_and_overwrite_false(
        azurite: Azurite, tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)
    data = bytes(range(256)) * (4096 * 9 + 3)  # ~9.4 MB: three blocks
    ref = await put_bytes(store, "t1", data, name="big.bin",
                          content_type="application/octet-stream")
    config = {"credential_id": "c", "path": "/big/one.bin",
              "file": {"fileId": ref.file_id}}
    outcome = await azure_blob.execute(config, ctx(az_credential(azurite), store))
    assert outcome.request["blocks"] == 3
    assert outcome.output["sha256"] == hashlib.sha256(data).hexdigest()
    back = azurite.read("reports", "big/one.bin")
    assert back.content == data
    # overwrite false: the existing blob is a permanent failure naming it; content unchanged
    small = {"credential_id": "c", "path": "big/one.bin", "content": "x", "overwrite": False}
    with pytest.raises(StepFailed) as refused:
        await azure_blob.execute(small, ctx(az_credential(azurite)))
    assert not refused.value.retryable and "already exists" in str(refused.value)
    assert azurite.read("reports", "big/one.bin").content == data


async def test_azure_bad_key_is_permanent_and_quiet(azurite: Azurite) -> None:
    wrong = base64.b64encode(b"w" * 64).decode()
    with pytest.raises(StepFailed) as failed:
        await azure_blob.execute({"credential_id": "c", "path": "x.txt", "content": "x"},
                                 ctx(az_credential(azurite, account_key=wrong)))
    assert not failed.value.retryable and "HTTP 403" in str(failed.value)
    assert wrong not in str(failed.value) + orjson.dumps(failed.value.request).decode()


async def test_azure_sas_token_goes_in_the_query_only(azurite: Azurite) -> None:
    """Azurite accepts an account SAS: build one (the step never logs it)."""
    sas = account_sas()
    credential = az_credential(azurite, sas_token=sas)
    del credential["account_key"]
    outcome = await azure_blob.execute({"credential_id": "c", "path": "sas.txt",
                                        "content": "via sas"}, ctx(credential))
    assert "sig=" not in orjson.dumps([outcome.output, outcome.request]).decode()
    assert azurite.read("reports", "sas.txt").content == b"via sas"


def account_sas() -> str:
    """An account SAS (blob service, object level, read/write/create) for Azurite's key."""
    fields = {"sv": "2021-08-06", "ss": "b", "srt": "sco", "sp": "rwc",
              "se": "2099-01-01T00:00:00Z", "spr": "http,https"}
    to_sign = "\n".join([AZ_ACCOUNT, fields["sp"], fields["ss"], fields["srt"], "",
                         fields["se"], "", fields["spr"], fields["sv"], ""]) + "\n"
    sig = base64.b64encode(hmac.new(base64.b64decode(AZ_KEY), to_sign.encode(),
                                    hashlib.sha256).digest()).decode()
    return urlencode({**fields, "sig": sig})


def test_azure_names() -> None:
    assert azure_blob.blob_name("/a/b.txt") == "a/b.txt"
    assert azure_blob.endpoint({"account_name": "acct"}) == "https://acct.blob.core.windows.net"
    with pytest.raises(StepFailed, match=r"'\.\.'"):
        azure_blob.blob_name("a/../b.txt")


async def test_guard_refuses_a_private_endpoint_without_the_allow_list(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOPFLOW_OUTBOUND_ALLOW", raising=False)
    monkeypatch.delenv("HOPFLOW_ALLOW_HTTP", raising=False)
    credential = {"type": "azure_blob", "account_name": AZ_ACCOUNT, "container": "reports",
                  "account_key": AZ_KEY, "endpoint_url": "https://10.0.0.7/devstoreaccount1"}
    with pytest.raises(StepFailed) as refused:
        await azure_blob.execute({"credential_id": "c", "path": "x.txt", "content": "x"},
                                 ctx(credential))
    assert not refused.value.retryable
    assert "outbound calls may not reach it" in str(refused.value)
    monkeypatch.setenv("HOPFLOW_DROPBOX_CONTENT_URL", "https://127.0.0.1:9")
    with pytest.raises(StepFailed, match="outbound calls may not reach it"):
        await dropbox.execute({"credential_id": "c", "path": "x.txt", "content": "x"},
                              ctx({"type": "dropbox", "access_token": "t"}))


# -- Dropbox ---------------------------------------------------------------------------

@pytest_asyncio.fixture
async def dbx(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Peer]:
    peer = await dropbox_peer()
    monkeypatch.setenv("HOPFLOW_DROPBOX_CONTENT_URL", peer.url)
    yield peer
    assert peer.runner is not None
    await peer.runner.cleanup()


def test_dropbox_api_arg_is_ascii_with_escapes() -> None:
    arg = dropbox.api_arg({"path": "/Rapports/été 😀.csv", "mode": "add"})
    assert arg.isascii()
    assert "\\u00e9t\\u00e9" in arg and "\\ud83d\\ude00" in arg
    assert orjson.loads(arg.encode().decode("unicode_escape").encode("utf-16", "surrogatepass")
                        .decode("utf-16")) == {"path": "/Rapports/été 😀.csv", "mode": "add"}


def test_dropbox_paths() -> None:
    assert dropbox.dropbox_path("a/b.csv", None) == "/a/b.csv"
    assert dropbox.dropbox_path("a/b.csv", "/Apps/hop") == "/Apps/hop/a/b.csv"
    assert dropbox.dropbox_path("/Apps/hop/x.csv", "/Apps/hop") == "/Apps/hop/x.csv"
    with pytest.raises(StepFailed, match="outside the credential's base"):
        dropbox.dropbox_path("/etc/x.csv", "/Apps/hop")


async def test_dropbox_upload_conflict_and_retryable(dbx: Peer) -> None:
    credential = {"type": "dropbox", "access_token": DROPBOX_TOKEN, "base_path": "/Apps/hop"}
    config = {"credential_id": "c", "path": "été/r.csv", "content": "x;y\n"}
    outcome = await dropbox.execute(config, ctx(credential))
    assert dbx.files["/Apps/hop/été/r.csv"] == b"x;y\n"
    assert outcome.output["path"] == "/Apps/hop/été/r.csv" and outcome.output["rev"]
    arg = orjson.loads(dbx.seen[-1]["arg"])
    assert arg == {"path": "/Apps/hop/été/r.csv", "mode": "overwrite", "autorename": False,
                   "strict_conflict": False, "mute": True}
    with pytest.raises(StepFailed) as conflict:
        await dropbox.execute({**config, "overwrite": False}, ctx(credential))
    assert not conflict.value.retryable and "already exists" in str(conflict.value)
    dbx.fail_next = 1
    with pytest.raises(StepFailed) as busy:
        await dropbox.execute(config, ctx(credential))
    assert busy.value.retryable and busy.value.retry_after == 0
    with pytest.raises(StepFailed) as denied:
        await dropbox.execute(config, ctx({**credential, "access_token": "nope"}))
    assert not denied.value.retryable and "401" in str(denied.value)
    assert "nope" not in str(denied.value) + orjson.dumps(denied.value.request).decode()


# -- Box -------------------------------------------------------------------------------

@pytest_asyncio.fixture
async def boxy(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Peer]:
    peer = await box_peer()
    monkeypatch.setenv("HOPFLOW_BOX_UPLOAD_URL", peer.url)
    monkeypatch.setenv("HOPFLOW_BOX_API_URL", peer.url)
    yield peer
    assert peer.runner is not None
    await peer.runner.cleanup()


async def test_box_folders_versions_and_conflicts(boxy: Peer, tmp_path: Path) -> None:
    credential = {"type": "box", "access_token": BOX_TOKEN, "folder_id": "0"}
    store = LocalFileStore(tmp_path)
    ref = await put_bytes(store, "t1", b"%PDF-1.4 fake", name="inv.pdf",
                          content_type="application/pdf")
    config = {"credential_id": "c", "path": "2024/05/inv.pdf", "file": {"fileId": ref.file_id}}
    first = await box.execute(config, ctx(credential, store))
    assert box_file(boxy, "2024/05/inv.pdf") == b"%PDF-1.4 fake"
    assert first.output["new_version"] is False and first.output["id"]
    # same name again: a new version of the same file, folders reused
    again = await box.execute({"credential_id": "c", "path": "2024/05/inv.pdf",
                               "content": "v2"}, ctx(credential))
    assert again.output == {**again.output, "new_version": True, "id": first.output["id"]}
    assert box_file(boxy, "2024/05/inv.pdf") == b"v2"
    assert sum(1 for m in boxy.meta.values() if m["type"] == "folder") == 3
    with pytest.raises(StepFailed) as exists:
        await box.execute({"credential_id": "c", "path": "2024/05/inv.pdf", "content": "v3",
                           "overwrite": False}, ctx(credential))
    assert not exists.value.retryable and "already exists" in str(exists.value)
    assert box_file(boxy, "2024/05/inv.pdf") == b"v2"
    boxy.fail_next = 1
    with pytest.raises(StepFailed) as busy:
        await box.execute({"credential_id": "c", "path": "n.txt", "content": "n"},
                          ctx(credential))
    assert busy.value.retryable
    with pytest.raises(StepFailed) as denied:
        await box.execute({"credential_id": "c", "path": "n.txt", "content": "n"},
                          ctx({**credential, "access_token": "bad-token"}))
    assert not denied.value.retryable and "unauthorized" in str(denied.value)
