"""The outbound address rules as a table: every refused range, and what stays allowed."""

from __future__ import annotations

import ipaddress

import pytest

from steps.netguard import DEFAULT_MAX_BYTES, parse_policy, refused_reason

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("10.1.2.3", "private (RFC 1918)"),
    ("172.16.0.1", "private (RFC 1918)"),
    ("172.31.255.255", "private (RFC 1918)"),
    ("192.168.1.1", "private (RFC 1918)"),
    ("169.254.1.1", "link-local"),
    ("169.254.169.254", "cloud metadata"),
    ("100.64.0.1", "carrier-grade NAT (RFC 6598)"),
    ("100.127.255.255", "carrier-grade NAT (RFC 6598)"),
    ("0.0.0.0", "unspecified ('this network')"),
    ("0.1.2.3", "unspecified ('this network')"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "broadcast"),
    ("192.0.0.8", "IETF protocol assignments"),
    ("192.0.2.10", "documentation"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("fc00::1", "unique-local"),
    ("fd12:3456::1", "unique-local"),
    ("fd00:ec2::254", "cloud metadata"),
    ("ff02::1", "multicast"),
    ("fec0::1", "site-local (deprecated)"),
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation"),
    ("100::1", "discard-only"),
    ("2001::1", "IETF protocol assignments (Teredo, ORCHID, ...)"),
    ("::127.0.0.1", "reserved (IPv4-compatible)"),
    ("64:ff9b:1::1", "NAT64 (local use)"),
    # wrappers are judged by the IPv4 address inside
    ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
    ("::ffff:169.254.169.254", "IPv4-mapped cloud metadata"),
    ("::ffff:10.0.0.1", "IPv4-mapped private (RFC 1918)"),
    ("64:ff9b::127.0.0.1", "NAT64 loopback"),
    ("64:ff9b::a9fe:a9fe", "NAT64 cloud metadata"),
    ("64:ff9b::192.168.0.1", "NAT64 private (RFC 1918)"),
    ("2002:7f00:1::", "6to4 loopback"),
]

ALLOWED = ["93.184.215.14", "8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "169.255.0.1",
           "2606:4700::1111", "2a00:1450:4001::1", "::ffff:8.8.8.8", "64:ff9b::8.8.8.8",
           "2002:808:808::"]


@pytest.mark.parametrize(("ip", "reason"), REFUSED)
def test_refused(ip: str, reason: str) -> None:
    assert refused_reason(ip) == reason
    if "%" not in ip:
        assert refused_reason(ipaddress.ip_address(ip)) == reason  # objects too


@pytest.mark.parametrize("ip", ALLOWED)
def test_allowed(ip: str) -> None:
    assert refused_reason(ip) is None


def test_policy_parsing() -> None:
    pol = parse_policy("1", " 127.0.0.1/32, localhost., [::1] ,, ", "")
    assert pol.allow_http and pol.max_bytes == DEFAULT_MAX_BYTES
    assert pol.allow_names == frozenset({"localhost"})
    assert pol.refusal("x", "127.0.0.1") is None
    assert pol.refusal("x", "::1") is None
    assert pol.refusal("x", "127.0.0.2") == "loopback"
    assert pol.refusal("LOCALHOST", "10.0.0.1") is None  # an allowed name skips the address
    assert pol.refusal("x", "::ffff:127.0.0.1") == "IPv4-mapped loopback"


def test_policy_defaults_are_strict() -> None:
    pol = parse_policy("", "", "1024")
    assert not pol.allow_http and pol.max_bytes == 1024
    assert pol.refusal("localhost", "127.0.0.1") == "loopback"
    assert parse_policy("", "", "1024") is pol  # parsed once per distinct setting
    with pytest.raises(ValueError, match="MAX_BYTES"):
        parse_policy("", "", "5MB")
