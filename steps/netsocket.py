"""A TCP socket to a host the outbound guard allows: for protocols that are not HTTP.

SMTP, FTP and SFTP connect through here. The name is resolved once, refused
addresses (steps/netguard.py: private, loopback, metadata...) are dropped, and
the socket connects to a checked address, so a DNS answer cannot change
between the check and the connect. Protocol clients then take the socket
(TLS still verifies the host name).
"""

from __future__ import annotations

import asyncio
import socket

from steps.base import StepFailed
from steps.netguard import policy


async def guarded_socket(host: str, port: int, timeout: float, *,
                         what: str = "SMTP host") -> socket.socket:
    """A non-blocking socket connected to an allowed address of `host`, or StepFailed.

    A refused address is permanent; no answer or a failed connect may pass (retryable)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise StepFailed(f"{what} {host} does not resolve ({exc})", retryable=True) from None
    pol = policy()
    refused: list[str] = []
    last_error: OSError | None = None
    for family, type_, proto, _, address in infos:
        why = pol.refusal(host, address[0])
        if why:
            refused.append(f"{address[0]}, which is {why}")
            continue
        sock = socket.socket(family, type_, proto)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, address), timeout)
            return sock
        except (OSError, TimeoutError) as exc:
            sock.close()
            last_error = exc if isinstance(exc, OSError) else OSError("timed out")
    if refused and last_error is None:
        raise StepFailed(f"{what} {host} resolves to {refused[0]}; outbound "
                         "connections may not reach it")
    raise StepFailed(f"could not connect to {what} {host}:{port} ({last_error})",
                     retryable=True)
