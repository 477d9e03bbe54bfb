"""upload_ftp / upload_sftp against real local servers (pyftpdlib, asyncssh), called directly.

The end-to-end path (API credential, worker, templates, retries) is in
tests/test_uploads_ftp_e2e.py; here each protocol rule is pinned down fast.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from steps.base import ExecContext, StepFailed
from steps.files import LocalFileStore, put_bytes
from steps.uploads import ftp, sftp
from tests.upload_peers import PASSWORD, USER, Peer, ftp_server, sftp_server


@pytest.fixture(autouse=True)
def loopback_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOPFLOW_OUTBOUND_ALLOW", "127.0.0.1/32")


@pytest.fixture
def plain(tmp_path: Path) -> Iterator[Peer]:
    with ftp_server(tmp_path / "ftp") as peer:
        yield peer


@pytest.fixture
def ftps(tmp_path: Path) -> Iterator[Peer]:
    tls = tmp_path / "tls"
    tls.mkdir()
    # the server names a bogus PASV address: the client must ignore it
    with ftp_server(tmp_path / "ftps", tls_dir=tls, masquerade="10.255.255.1") as peer:
        yield peer


@pytest.fixture
def ssh(tmp_path: Path) -> Iterator[Peer]:
    with sftp_server(tmp_path / "sftp") as peer:
        yield peer


def ctx(credential: dict[str, Any], attempt: int = 1, files: Any = None) -> ExecContext:
    return ExecContext("run-1", "default", "up", attempt,
                       {"credential": credential, "files": files})


def ftp_cred(peer: Peer, **extra: Any) -> dict[str, Any]:
    return {"type": "ftp", "host": "localhost" if peer.pem else "127.0.0.1", "port": peer.port,
            "username": USER, "password": PASSWORD, "use_tls": bool(peer.pem), **extra}


def sftp_cred(peer: Peer, **extra: Any) -> dict[str, Any]:
    return {"type": "sftp", "host": "127.0.0.1", "port": peer.port, "username": USER,
            "password": PASSWORD, "host_key": peer.host_key, **extra}


async def test_ftp_temp_then_rename_into_new_folders(plain: Peer) -> None:
    plain.watch = "out/2026/report.csv"
    outcome = await ftp.execute({"path": "2026/report.csv", "content": "a,b\n1,2\n"},
                                ctx(ftp_cred(plain, base_path="out")))
    assert plain.files() == {"out/2026/report.csv": b"a,b\n1,2\n"}  # no .part left
    [(received, final_existed)] = plain.received
    assert received.startswith("out/2026/.report.csv.") and received.endswith(".part")
    assert final_existed is False  # the final name appeared only at the rename
    assert outcome.output == {"uploaded": True, "path": "out/2026/report.csv", "size": 8,
                              "sha256": hashlib.sha256(b"a,b\n1,2\n").hexdigest(),
                              "content_type": "text/plain; charset=utf-8", "tls": False}
    assert PASSWORD not in repr(outcome.request) and USER not in repr(outcome.request)


async def test_ftps_verified_by_ca_cert_and_pasv_address_ignored(ftps: Peer,
                                                                 tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path / "store")
    data = os.urandom(3 * 1024 * 1024 + 7)  # over 1 MB: streamed from the store
    ref = await put_bytes(store, "default", data, name="blob.bin")
    outcome = await ftp.execute({"path": "/in/blob.bin", "file": {"fileId": ref.file_id}},
                                ctx(ftp_cred(ftps, ca_cert=ftps.pem), files=store))
    assert ftps.files() == {"in/blob.bin": data}
    assert outcome.output["tls"] is True and outcome.output["size"] == len(data)
    # overwrite (the default) replaces an existing file
    await ftp.execute({"path": "/in/blob.bin", "content": "v2"},
                      ctx(ftp_cred(ftps, ca_cert=ftps.pem), attempt=2))
    assert ftps.files() == {"in/blob.bin": b"v2"}


async def test_ftps_untrusted_certificate_is_permanent(ftps: Peer) -> None:
    with pytest.raises(StepFailed, match="certificate is not trusted") as caught:
        await ftp.execute({"path": "x.txt", "content": "x"}, ctx(ftp_cred(ftps)))
    assert not caught.value.retryable
    assert ftps.files() == {}


async def test_ftp_wrong_password_is_permanent(plain: Peer) -> None:
    with pytest.raises(StepFailed, match="FTP login refused") as caught:
        await ftp.execute({"path": "x.txt", "content": "x"},
                          ctx(ftp_cred(plain, password="wrong-pw")))
    assert not caught.value.retryable
    assert "wrong-pw" not in str(caught.value)


async def test_ftp_overwrite_false_refuses_an_existing_file(plain: Peer) -> None:
    (plain.root / "keep.txt").write_bytes(b"old")
    with pytest.raises(StepFailed, match="exists on the server and overwrite is false") as c:
        await ftp.execute({"path": "keep.txt", "content": "new", "overwrite": False},
                          ctx(ftp_cred(plain)))
    assert not c.value.retryable
    assert plain.files() == {"keep.txt": b"old"}


async def test_ftp_421_is_transient(tmp_path: Path) -> None:
    with ftp_server(tmp_path / "busy", drop_first=True) as peer:
        with pytest.raises(StepFailed, match="unavailable for now") as caught:
            await ftp.execute({"path": "a.txt", "content": "a"}, ctx(ftp_cred(peer)))
        assert caught.value.retryable
        await ftp.execute({"path": "a.txt", "content": "a"}, ctx(ftp_cred(peer), attempt=2))
        assert peer.files() == {"a.txt": b"a"}


async def test_ftp_deletes_first_when_the_server_will_not_rename_over(tmp_path: Path) -> None:
    with ftp_server(tmp_path / "strict", rnto="no-replace") as peer:
        (peer.root / "r.txt").write_bytes(b"old")
        await ftp.execute({"path": "r.txt", "content": "new"}, ctx(ftp_cred(peer)))
        assert peer.files() == {"r.txt": b"new"}


async def test_ftp_failed_rename_removes_the_temporary_file(tmp_path: Path) -> None:
    with ftp_server(tmp_path / "norename", rnto="refuse") as peer:
        with pytest.raises(StepFailed, match="553") as caught:
            await ftp.execute({"path": "r.txt", "content": "new"}, ctx(ftp_cred(peer)))
        assert not caught.value.retryable
        [(stored, _)] = peer.received
        assert stored.endswith(".part")  # it was stored
        assert peer.files() == {}  # and then deleted


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/../../x"])
async def test_path_outside_base_is_permanent(plain: Peer, ssh: Peer, path: str) -> None:
    for module, cred in ((ftp, ftp_cred(plain, base_path="/out")),
                         (sftp, sftp_cred(ssh, base_path="/out"))):
        with pytest.raises(StepFailed, match="path") as caught:
            await module.execute({"path": path, "content": "x"}, ctx(cred))
        assert not caught.value.retryable
    assert plain.files() == {} and ssh.files() == {}


async def test_guard_refuses_loopback_without_allow_list(plain: Peer, ssh: Peer,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    monkeypatch.delenv("HOPFLOW_OUTBOUND_ALLOW", raising=False)
    for module, cred in ((ftp, ftp_cred(plain)), (sftp, sftp_cred(ssh))):
        with pytest.raises(StepFailed, match="loopback") as caught:
            await module.execute({"path": "x.txt", "content": "x"}, ctx(cred))
        assert not caught.value.retryable
    assert plain.connections == [] and ssh.files() == {}


async def test_sftp_upload_streams_and_renames(ssh: Peer, tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path / "store")
    data = os.urandom(2 * 1024 * 1024 + 3)
    ref = await put_bytes(store, "default", data, name="big.bin")
    outcome = await sftp.execute({"path": "deep/er/big.bin", "file": ref.file_id},
                                 ctx(sftp_cred(ssh, base_path="/drop"), files=store))
    assert ssh.files() == {"drop/deep/er/big.bin": data}  # folders made, no .part left
    assert outcome.output["path"] == "/drop/deep/er/big.bin"
    await sftp.execute({"path": "deep/er/big.bin", "content": "small"},
                       ctx(sftp_cred(ssh, base_path="/drop"), attempt=2))
    assert ssh.files() == {"drop/deep/er/big.bin": b"small"}
    with pytest.raises(StepFailed, match="overwrite is false"):
        await sftp.execute({"path": "deep/er/big.bin", "content": "x", "overwrite": False},
                           ctx(sftp_cred(ssh, base_path="/drop"), attempt=3))


async def test_sftp_private_key_login(tmp_path: Path) -> None:
    """A key login: the server trusts the client's public key."""
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    with sftp_server(tmp_path / "keyed", client_key=client_key) as peer:
        cred = sftp_cred(peer, private_key=client_key.export_private_key().decode())
        del cred["password"]
        await sftp.execute({"path": "k.txt", "content": "by key"}, ctx(cred))
        assert peer.files() == {"k.txt": b"by key"}


async def test_sftp_wrong_host_key_is_permanent_and_uploads_nothing(ssh: Peer) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    with pytest.raises(StepFailed, match="host key mismatch") as caught:
        await sftp.execute({"path": "x.txt", "content": "x"},
                           ctx(sftp_cred(ssh, host_key=other)))
    assert not caught.value.retryable
    message = str(caught.value)
    assert other.split()[1] not in message and ssh.host_key.split()[1] not in message
    assert ssh.files() == {}


async def test_sftp_wrong_password_is_permanent(ssh: Peer) -> None:
    with pytest.raises(StepFailed, match="SFTP login refused") as caught:
        await sftp.execute({"path": "x.txt", "content": "x"},
                           ctx(sftp_cred(ssh, password="nope-pw")))
    assert not caught.value.retryable
    assert ssh.files() == {}


def test_validate_uses_the_shared_rules() -> None:
    assert ftp.validate({"credential_id": "c", "path": "a.txt", "content": "x"}, "s") == []
    fields = {i.field for i in sftp.validate({"path": "../a", "content": "x"}, "s")}
    assert fields == {"s.credential_id", "s.path"}
