"""Real FTP/FTPS (pyftpdlib) and SFTP (asyncssh) servers on 127.0.0.1 for upload tests.

Each runs in its own thread (its own event loop for SFTP), so a test's loop and
a worker process can both talk to it. The servers write into a folder the
test reads back.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import FTPServer

from tests.certs import self_signed

USER = "uploader"
PASSWORD = "ftp-pw-4b9e1d"  # never in a step log


@dataclass
class Peer:
    """A running server: where it listens, the folder it serves, what it saw."""

    port: int
    root: Path
    received: list[tuple[str, bool]] = field(default_factory=list)  # (name, final existed)
    connections: list[int] = field(default_factory=list)
    pem: str = ""
    host_key: str = ""
    watch: str = ""  # a final path (relative to root) checked when each file lands

    def files(self) -> dict[str, bytes]:
        return {str(p.relative_to(self.root)): p.read_bytes()
                for p in self.root.rglob("*") if p.is_file()}


@contextmanager
def ftp_server(root: Path, *, tls_dir: Path | None = None, drop_first: bool = False,
               masquerade: str | None = None, rnto: str = "") -> Iterator[Peer]:
    """pyftpdlib; with `tls_dir` FTPS (AUTH TLS required, PROT P required); `drop_first`
    answers the first connection 421 and closes; `masquerade` names a bogus PASV address;
    `rnto` "no-replace" refuses to rename over an existing file (as some servers do),
    "refuse" refuses every rename."""
    root.mkdir(parents=True, exist_ok=True)
    peer = Peer(0, root)
    authorizer = DummyAuthorizer()
    authorizer.add_user(USER, PASSWORD, str(root), perm="elradfmwMT")
    base_cls: Any = TLS_FTPHandler if tls_dir else FTPHandler

    class Handler(base_cls):  # type: ignore[misc,valid-type]
        def handle(self) -> None:
            peer.connections.append(1)
            if drop_first and len(peer.connections) == 1:
                self.respond("421 Too many connections, try later.")
                self.close_when_done()
                return
            super().handle()

        def ftp_RNTO(self, path: str) -> Any:
            if rnto == "refuse" or (rnto == "no-replace" and os.path.exists(path)):
                self.respond("553 Rename refused.")
                return None
            return super().ftp_RNTO(path)

        def on_file_received(self, file: str) -> None:
            final = (root / peer.watch).exists() if peer.watch else False
            peer.received.append((os.path.relpath(file, root), final))

    Handler.authorizer = authorizer
    Handler.passive_ports = None
    if masquerade:
        Handler.masquerade_address = masquerade
    if tls_dir:
        peer.pem, cert, key = self_signed(tls_dir)
        Handler.certfile, Handler.keyfile = str(cert), str(key)
        Handler.tls_control_required = True
        Handler.tls_data_required = True
    # Its own IOLoop: pyftpdlib's default is one process-wide singleton, and a server
    # closing (close_all closes its IOLoop's every socket) closed the next one's socket.
    server = FTPServer(("127.0.0.1", 0), Handler, ioloop=IOLoop())
    peer.port = server.address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.2},
                              daemon=True)
    thread.start()
    try:
        yield peer
    finally:
        server.close_all()
        thread.join(5)


class _SshServer(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == USER and password == PASSWORD


@contextmanager
def sftp_server(root: Path, client_key: Any = None) -> Iterator[Peer]:
    """asyncssh with a fresh host key; password (or `client_key`) login; chrooted to `root`."""
    root.mkdir(parents=True, exist_ok=True)
    key = asyncssh.generate_private_key("ssh-ed25519")
    peer = Peer(0, root, host_key=key.export_public_key().decode().strip())
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def sftp_factory(chan: Any) -> asyncssh.SFTPServer:
        return asyncssh.SFTPServer(chan, chroot=str(root).encode())

    async def start() -> None:
        holder["server"] = await asyncssh.listen(
            "127.0.0.1", 0, server_host_keys=[key], server_factory=_SshServer,
            sftp_factory=sftp_factory, allow_scp=False,
            authorized_client_keys=(asyncssh.import_authorized_keys(
                client_key.export_public_key().decode()) if client_key else None))
        peer.port = holder["server"].sockets[0].getsockname()[1]
        ready.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield peer
    finally:
        async def stop() -> None:
            holder["server"].close()
            await holder["server"].wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
