"""upload_sftp: send a file over SFTP (SSH) with a pinned host key (004 ActionType 7).

The server's public host key comes from the credential (`host_key`) and is the
only key trusted: no known_hosts file, no trust on first use, so a server
presenting any other key fails the step for good ("host key mismatch"). The
TCP connection is made through the outbound guard (steps/netsocket.py) and
handed to asyncssh (`sock=`), so the checked address is the one used.

The file is written under a temporary sibling name and renamed with the
OpenSSH posix-rename extension (atomic, replaces the target), or with a plain
rename (after removing the old file) when the server lacks it.
"""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
from typing import Any

import asyncssh

from steps.base import ExecContext, Issue, Outcome, StepFailed
from steps.netsocket import guarded_socket
from steps.uploads import base

name = "upload_sftp"
kind = "io"
TITLE = "Upload a file over SFTP (pinned host key), under a temporary name then renamed"
CONFIG: dict[str, str] = {
    **base.CONFIG,
    "credential_id": "string: an sftp credential (host, port, username, password or "
                     "private_key, host_key, base_path)",
}
OUTPUT: dict[str, str] = dict(base.OUTPUT)
_WRITE_BLOCK = 256 * 1024


def validate(config: dict[str, Any], where: str) -> list[Issue]:
    return base.validate(config, where, "sftp")


def _keys(credential: dict[str, Any]) -> tuple[Any, list[Any] | None]:
    """The pinned host key and the client keys; StepFailed naming a field that is unusable."""
    try:
        host_key = asyncssh.import_public_key(str(credential.get("host_key", "")))
    except (asyncssh.KeyImportError, ValueError):
        raise StepFailed("the credential's host_key is not an OpenSSH public key") from None
    client_keys = None
    if credential.get("private_key"):
        try:
            client_keys = [asyncssh.import_private_key(str(credential["private_key"]))]
        except (asyncssh.KeyImportError, ValueError):
            raise StepFailed("the credential's private_key cannot be read (an unencrypted "
                             "OpenSSH or PEM key is needed)") from None
    return host_key, client_keys


async def execute(config: dict[str, Any], ctx: ExecContext) -> Outcome:
    credential = base.credential_of(ctx, "sftp", name)
    final = base.remote_path(config.get("path"), credential.get("base_path"))
    content = await base.content_of(config, ctx)
    request = base.request_log(content, final)
    timeout = float(config.get("timeout", base.DEFAULT_TIMEOUT))
    host, port = str(credential["host"]), int(credential.get("port") or 22)
    host_key, client_keys = _keys(credential)
    temp = base.temp_path(final, ctx)
    try:
        async with asyncio.timeout(timeout):
            sock = await guarded_socket(host, port, timeout, what="SFTP host")
            conn = await asyncssh.connect(
                host, port, sock=sock, known_hosts=([host_key], [], []), config=None,
                username=str(credential.get("username", "")),
                password=credential.get("password") or None, client_keys=client_keys,
                agent_path=None, ignore_encrypted=True, connect_timeout=timeout,
                preferred_auth=_preferred(credential))
            async with conn, conn.start_sftp_client() as sftp:
                await _upload(sftp, content, temp, final,
                              config.get("overwrite", True) is not False)
    except StepFailed as exc:
        exc.request = exc.request or request
        raise
    except TimeoutError:
        raise StepFailed(f"SFTP upload timed out after {timeout:g}s", retryable=True,
                         request=request) from None
    except (asyncssh.Error, OSError, asyncssh.SFTPError) as exc:
        raise _failure(exc, request) from None
    return Outcome(output=base.output(content, final), request=request)


def _preferred(credential: dict[str, Any]) -> str:
    methods = []
    if credential.get("private_key"):
        methods.append("publickey")
    if credential.get("password"):
        methods += ["password", "keyboard-interactive"]
    return ",".join(methods) or "none"


async def _upload(sftp: asyncssh.SFTPClient, content: base.Content, temp: str, final: str,
                  overwrite: bool) -> None:
    folder = posixpath.dirname(final)
    if folder not in ("", "/", "."):
        await sftp.makedirs(folder, exist_ok=True)
    if not overwrite and await sftp.exists(final):
        raise StepFailed(f"path {final!r} exists on the server and overwrite is false")
    try:
        async with sftp.open(temp, "wb", block_size=_WRITE_BLOCK) as remote:
            async for chunk in content.chunks():
                await remote.write(chunk)
        try:
            await sftp.posix_rename(temp, final)
        except asyncssh.SFTPOpUnsupported:
            if overwrite and await sftp.exists(final):
                await sftp.remove(final)
            await sftp.rename(temp, final)
    except BaseException:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await sftp.remove(temp)  # best effort: no temporary file left behind
        raise


def _failure(exc: BaseException, request: dict[str, Any]) -> StepFailed:
    """Key mismatch, login and permission refusals repeat: permanent. Lost links: not."""
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return StepFailed("SFTP host key mismatch: the server's key is not the credential's "
                          "host_key", request=request)
    if isinstance(exc, asyncssh.PermissionDenied):
        return StepFailed("SFTP login refused (username, password or private_key)",
                          request=request)
    if isinstance(exc, (asyncssh.SFTPPermissionDenied, asyncssh.SFTPNoSuchFile,
                        asyncssh.SFTPNoSuchPath, asyncssh.SFTPFailure,
                        asyncssh.SFTPOpUnsupported, asyncssh.SFTPInvalidFilename)):
        return StepFailed(f"SFTP server refused ({type(exc).__name__}: {exc.reason})",
                          request=request)
    reason = getattr(exc, "reason", None) or str(exc) or "closed"
    return StepFailed(f"SFTP connection failed ({type(exc).__name__}: "
                      f"{' '.join(str(reason).split())[:300]})", retryable=True,
                      request=request)
