"""upload_ftp: send a file to an FTP server, explicit FTPS by default (004 ActionType 6).

The client is the standard library's ftplib, run call by call in a thread
(the content still streams: each chunk is sent as it is read). ftplib gives
what this step needs without a new dependency: explicit FTPS (AUTH TLS, then
PROT P for the data channel) with certificate and host-name checks, a control
socket we connect ourselves (so the outbound guard's checked address is the
one used), and a PASV rule that ignores the address a server names
(`trust_server_pasv_ipv4_address = False`): the data connection goes to the
control connection's peer, never to an address an untrusted server chose.

The file is stored under a temporary sibling name and renamed (RNFR/RNTO)
to the final one, so no reader sees a half-written file under that name.
"""

from __future__ import annotations

import asyncio
import contextlib
import ftplib
import posixpath
import socket
import ssl
from typing import Any

from steps.base import ExecContext, Issue, Outcome, StepFailed
from steps.integrations.mail import tls_context
from steps.netsocket import guarded_socket
from steps.uploads import base

name = "upload_ftp"
kind = "io"
TITLE = "Upload a file to an FTP server (explicit FTPS by default), under a temporary " \
        "name then renamed"
CONFIG: dict[str, str] = {
    **base.CONFIG,
    "credential_id": "string: an ftp credential (host, port, username, password, use_tls, "
                     "ca_cert, base_path)",
}
OUTPUT: dict[str, str] = {**base.OUTPUT, "tls": "whether the upload went over FTPS"}


def validate(config: dict[str, Any], where: str) -> list[Issue]:
    return base.validate(config, where, "ftp")


class _Client(ftplib.FTP_TLS):
    """FTP_TLS on a socket connected elsewhere (through the guard); TLS is optional."""

    trust_server_pasv_ipv4_address = False  # the data channel goes to the checked peer

    def attach(self, sock: socket.socket, host: str, port: int) -> str:
        sock.setblocking(True)
        sock.settimeout(self.timeout)
        self.host, self.port = host, port  # the name TLS verifies
        self.sock = sock
        self.af = sock.family
        self.file = sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome


async def execute(config: dict[str, Any], ctx: ExecContext) -> Outcome:
    credential = base.credential_of(ctx, "ftp", name)
    final = base.remote_path(config.get("path"), credential.get("base_path"))
    content = await base.content_of(config, ctx)
    use_tls = credential.get("use_tls", True) is not False
    request = base.request_log(content, final, tls=use_tls)
    timeout = float(config.get("timeout", base.DEFAULT_TIMEOUT))
    host, port = str(credential["host"]), int(credential.get("port") or 21)
    context = tls_context(credential) if use_tls else None
    client = _Client(context=context, timeout=timeout)
    temp = base.temp_path(final, ctx)
    stored = False
    try:
        async with asyncio.timeout(timeout):
            sock = await guarded_socket(host, port, timeout, what="FTP host")
            await _call(client.attach, sock, host, port)
            await _call(client.login, str(credential.get("username", "")),
                        str(credential.get("password", "")), "", use_tls)
            if use_tls:
                await _call(client.prot_p)
            await _call(client.voidcmd, "TYPE I")
            await _make_folders(client, posixpath.dirname(final))
            overwrite = config.get("overwrite", True) is not False
            if not overwrite and await _exists(client, final):
                raise StepFailed(f"path {final!r} exists on the server and overwrite is false")
            stored = True
            await _store(client, temp, content)
            await _rename(client, temp, final, overwrite)
            stored = False
            with contextlib.suppress(Exception):
                await _call(client.quit)
    except StepFailed as exc:
        exc.request = exc.request or request
        raise
    except TimeoutError:
        stored = False  # a stuck connection: no cleanup command would get through
        raise StepFailed(f"FTP upload timed out after {timeout:g}s", retryable=True,
                         request=request) from None
    except ftplib.all_errors as exc:
        raise _failure(exc, request) from None
    finally:
        if stored:
            await _discard(client, temp)
        client.close()
    return Outcome(output=base.output(content, final, tls=use_tls), request=request)


async def _call(fn: Any, *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)


async def _make_folders(client: _Client, folder: str) -> None:
    """MKD each missing segment; a refusal here shows up again, named, at STOR."""
    if folder in ("", "/", "."):
        return
    parts = folder.split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        if prefix in ("", "/"):
            continue
        with contextlib.suppress(ftplib.error_perm):  # exists (or not ours: STOR says so)
            await _call(client.mkd, prefix)


async def _exists(client: _Client, path: str) -> bool:
    try:
        await _call(client.size, path)
        return True
    except ftplib.error_perm:
        return False


async def _store(client: _Client, temp: str, content: base.Content) -> None:
    conn = await _call(client.transfercmd, f"STOR {temp}")
    try:
        async for chunk in content.chunks():
            await _call(conn.sendall, chunk)
        if isinstance(conn, ssl.SSLSocket):
            await _call(conn.unwrap)
    finally:
        conn.close()
    await _call(client.voidresp)


async def _rename(client: _Client, temp: str, final: str, overwrite: bool) -> None:
    """RNFR/RNTO; servers that refuse to rename over a file get a DELE first."""
    try:
        await _call(client.rename, temp, final + "")
    except ftplib.error_perm:
        if not overwrite or not await _exists(client, final):
            raise
        await _call(client.delete, final)
        await _call(client.rename, temp, final + "")


async def _discard(client: _Client, temp: str) -> None:
    """Best effort: the temporary file of a failed upload should not stay behind."""
    if client.sock is None:
        return
    with contextlib.suppress(Exception):
        async with asyncio.timeout(5):
            await _call(client.delete, temp)


def _failure(exc: BaseException, request: dict[str, Any]) -> StepFailed:
    """Refusals that repeat (login, permission, certificate) are permanent; the rest not."""
    reply = " ".join(str(exc).split())[:300]
    if isinstance(exc, ssl.SSLCertVerificationError):
        return StepFailed(f"the FTP server's TLS certificate is not trusted "
                          f"({exc.verify_message})", request=request)
    if isinstance(exc, ftplib.error_perm):
        if reply.startswith("530"):
            return StepFailed(f"FTP login refused ({reply})", request=request)
        if reply.startswith(("550", "553")):
            return StepFailed(f"FTP permission or path refused ({reply})", request=request)
        return StepFailed(f"FTP server refused: {reply}", request=request)  # 5xx repeats
    if isinstance(exc, ftplib.error_temp):
        return StepFailed(f"FTP server is unavailable for now ({reply})", retryable=True,
                          request=request)
    return StepFailed(f"FTP connection failed ({type(exc).__name__}: {reply or 'closed'})",
                      retryable=True, request=request)
