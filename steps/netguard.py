"""Which network addresses an outbound call may reach, and the operator settings for it.

Pure functions only (no sockets): `refused_reason(ip)` is the SSRF rule table the
guarded HTTP client (steps/http.py) applies to every address it is about to connect
to, and `policy()` reads the operator settings. Kept apart from the client so the
rules are tested as a table, without a network.

Settings (environment, read on each call but parsed once per distinct value):
- `HOPFLOW_ALLOW_HTTP=1`: plain http:// URLs may be called (default: https only).
- `HOPFLOW_OUTBOUND_ALLOW`: comma-separated host names and IPs/CIDRs that bypass the
  address refusal (e.g. `127.0.0.1/32,localhost`). Off by default; meant for tests and
  local development peers, never for production.
- `HOPFLOW_OUTBOUND_MAX_BYTES`: response body cap (default 5 MB).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from functools import lru_cache

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
MAX_REDIRECTS = 5

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# Order matters: the first match names the reason (metadata before link-local, ...).
_V4_RULES: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("169.254.169.254/32"), "cloud metadata"),
    (_V4("0.0.0.0/8"), "unspecified ('this network')"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("10.0.0.0/8"), "private (RFC 1918)"),
    (_V4("172.16.0.0/12"), "private (RFC 1918)"),
    (_V4("192.168.0.0/16"), "private (RFC 1918)"),
    (_V4("100.64.0.0/10"), "carrier-grade NAT (RFC 6598)"),
    (_V4("169.254.0.0/16"), "link-local"),
    (_V4("192.0.0.0/24"), "IETF protocol assignments"),
    (_V4("192.0.2.0/24"), "documentation"),
    (_V4("198.51.100.0/24"), "documentation"),
    (_V4("203.0.113.0/24"), "documentation"),
    (_V4("198.18.0.0/15"), "benchmarking"),
    (_V4("192.88.99.0/24"), "reserved (6to4 relay anycast)"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("255.255.255.255/32"), "broadcast"),
    (_V4("240.0.0.0/4"), "reserved"),
)

_NAT64 = _V6("64:ff9b::/96")
_V6_RULES: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("fd00:ec2::254/128"), "cloud metadata"),
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    (_V6("::/96"), "reserved (IPv4-compatible)"),
    (_V6("64:ff9b:1::/48"), "NAT64 (local use)"),
    (_V6("100::/64"), "discard-only"),
    (_V6("2001::/23"), "IETF protocol assignments (Teredo, ORCHID, ...)"),
    (_V6("2001:db8::/32"), "documentation"),
    (_V6("3fff::/20"), "documentation"),
    (_V6("fc00::/7"), "unique-local"),
    (_V6("fe80::/10"), "link-local"),
    (_V6("fec0::/10"), "site-local (deprecated)"),
    (_V6("ff00::/8"), "multicast"),
)


@lru_cache(maxsize=4096)
def _reason(ip: IPAddress) -> str | None:
    if isinstance(ip, ipaddress.IPv4Address):
        for net, why in _V4_RULES:
            if ip in net:
                return why
        return None if ip.is_global else "not globally routable"
    inner: ipaddress.IPv4Address | None = ip.ipv4_mapped
    kind = "IPv4-mapped"
    if inner is None and ip in _NAT64:
        inner, kind = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64"
    if inner is None and ip.sixtofour is not None:
        inner, kind = ip.sixtofour, "6to4"
    if inner is not None:
        why = _reason(inner)
        return f"{kind} {why}" if why else None
    for net6, why in _V6_RULES:
        if ip in net6:
            return why
    return None if ip.is_global else "not globally routable"


def refused_reason(ip: IPAddress | str) -> str | None:
    """Why an outbound call must not connect to `ip`, or None when it may.

    IPv4-mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses
    are judged by the IPv4 address they carry, so a wrapper cannot smuggle in a
    loopback or metadata address. Cached: a verdict costs a dict lookup after the
    first time.
    """
    if isinstance(ip, str):
        ip = ipaddress.ip_address(ip.split("%", 1)[0])  # drop an IPv6 zone (fe80::1%eth0)
    elif isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        ip = ipaddress.IPv6Address(int(ip))
    return _reason(ip)


@dataclass(frozen=True)
class Policy:
    """The operator's outbound settings, parsed."""

    allow_http: bool = False
    allow_names: frozenset[str] = frozenset()
    allow_nets: tuple[IPNetwork, ...] = ()
    max_bytes: int = DEFAULT_MAX_BYTES
    max_redirects: int = MAX_REDIRECTS

    def allows_host(self, host: str) -> bool:
        """The host name itself is on the allow-list (its addresses are not checked)."""
        return bool(self.allow_names) and host.rstrip(".").lower() in self.allow_names

    def allows_ip(self, ip: IPAddress) -> bool:
        return any(ip in net for net in self.allow_nets if net.version == ip.version)

    def refusal(self, host: str, ip: IPAddress | str) -> str | None:
        """Why connecting to `ip` (reached as `host`) is refused, after the allow-list."""
        if self.allows_host(host):
            return None
        if isinstance(ip, str):
            ip = ipaddress.ip_address(ip.split("%", 1)[0])
        if self.allow_nets and self.allows_ip(ip):
            return None
        return refused_reason(ip)


@lru_cache(maxsize=32)
def parse_policy(allow_http: str, allow: str, max_bytes: str) -> Policy:
    """Parse the raw settings once per distinct value (the hot path only hashes strings)."""
    names: set[str] = set()
    nets: list[IPNetwork] = []
    for raw in allow.split(","):
        item = raw.strip()
        if not item:
            continue
        try:
            nets.append(ipaddress.ip_network(item.strip("[]"), strict=False))
        except ValueError:
            names.add(item.rstrip(".").lower())
    try:
        cap = int(max_bytes) if max_bytes else DEFAULT_MAX_BYTES
    except ValueError as exc:
        raise ValueError(f"HOPFLOW_OUTBOUND_MAX_BYTES must be an integer, not {max_bytes!r}"
                         ) from exc
    return Policy(allow_http=allow_http.strip().lower() in ("1", "true", "yes"),
                  allow_names=frozenset(names), allow_nets=tuple(nets), max_bytes=cap)


def policy() -> Policy:
    """The current settings (environment), parsed and cached."""
    env = os.environ
    return parse_policy(env.get("HOPFLOW_ALLOW_HTTP", ""), env.get("HOPFLOW_OUTBOUND_ALLOW", ""),
                        env.get("HOPFLOW_OUTBOUND_MAX_BYTES", ""))
