"""ip_lookup: version, scope and country of an IP address, offline.

Scope comes from the stdlib `ipaddress` with the ranges named here, checked
in order, so each address gets exactly one scope (Python's own flags overlap:
169.254.169.254 is both link-local and "private"). Country comes from iptocc,
which ships its IP-to-country table inside the package; it is looked up only
for global addresses.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import iptocc

from steps.base import ExecContext, Issue, Outcome
from steps.lookups.base import CONFIG as CONFIG
from steps.lookups.base import answer, input_text, validate_input

name = "ip_lookup"
kind = "io"
field_is_input = True

TITLE = "IP version, scope (private, loopback, CGNAT...) and country, offline"
OUTPUT: dict[str, str] = {
    "input": "the text looked up",
    "valid": "an IPv4 or IPv6 address",
    "address": "the address in canonical (compressed) form",
    "version": "4 or 6",
    "scope": "unspecified, loopback, link_local, cgnat, multicast, documentation, "
             "private, reserved or global",
    "is_global": "routable on the public internet",
    "country": "ISO 3166-1 alpha-2 country of a global address, else null",
    "reverse_pointer": "the PTR name, e.g. 8.8.8.8.in-addr.arpa",
    "reason": "why the input is not an IP address, else null",
    "credits": "1 for a valid address, else 0",
}

_Net = ipaddress.IPv4Network | ipaddress.IPv6Network
_N = ipaddress.ip_network
CGNAT = _N("100.64.0.0/10")  # RFC 6598 shared address space
DOCUMENTATION = (_N("192.0.2.0/24"), _N("198.51.100.0/24"), _N("203.0.113.0/24"),
                 _N("2001:db8::/32"), _N("3fff::/20"))  # RFC 5737, 3849, 9637
PRIVATE = (_N("10.0.0.0/8"), _N("172.16.0.0/12"), _N("192.168.0.0/16"),
           _N("fc00::/7"))  # RFC 1918, unique local IPv6 (RFC 4193)


def _in(address: ipaddress.IPv4Address | ipaddress.IPv6Address,
        networks: tuple[_Net, ...]) -> bool:
    return any(address.version == n.version and address in n for n in networks)


def scope(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """One scope per address; the first matching rule wins."""
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link_local"
    if address.version == 4 and address in CGNAT:
        return "cgnat"
    if address.is_multicast:
        return "multicast"
    if _in(address, DOCUMENTATION):
        return "documentation"
    if _in(address, PRIVATE):
        return "private"
    if address.is_global:
        return "global"
    return "reserved"  # benchmarking, 240/4, 192.0.0/24, broadcast, ... (RFC 6890)


def validate(config: dict[str, Any], where: str) -> list[Issue]:
    return validate_input(config, where)


def lookup(text: str) -> Outcome:
    try:
        address = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return answer(OUTPUT, text, reason="not an IPv4 or IPv6 address")
    # an IPv4-mapped IPv6 address (::ffff:10.0.0.1) is the IPv4 host it maps
    target = getattr(address, "ipv4_mapped", None) or address
    where = scope(target)
    return answer(OUTPUT, text, address=address.compressed, version=address.version,
                  scope=where, is_global=where == "global",
                  country=iptocc.country_code(str(target)) if where == "global" else None,
                  reverse_pointer=address.reverse_pointer)


async def execute(config: dict[str, Any], ctx: ExecContext) -> Outcome:
    text, reason = input_text(config)
    if text is None:
        return answer(OUTPUT, config.get("value"), reason=reason)
    return lookup(text)
