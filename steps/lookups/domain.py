"""domain_lookup: split a host name by the Public Suffix List, offline.

publicsuffixlist ships a snapshot of the list inside the package and reads
only that (no download at run time, no cache directory), and it tells ICANN
suffixes from private ones (github.io, ...). IDN forms come from `idna`
(IDNA 2008 with UTS 46 mapping, as browsers do). Suffixes, registrable domain
and subdomain are given in ASCII (the form DNS uses); `idn` is the Unicode form.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import idna
from publicsuffixlist import PublicSuffixList

from steps.base import ExecContext, Issue, Outcome
from steps.lookups.base import CONFIG as CONFIG
from steps.lookups.base import answer, input_text, validate_input

name = "domain_lookup"
kind = "io"
field_is_input = True

TITLE = "Split a host name by the Public Suffix List, with IDN forms, offline"
OUTPUT: dict[str, str] = {
    "input": "the text looked up: a domain, an email address or a URL",
    "valid": "a syntactically valid host name under a known public suffix",
    "hostname": "the host name found in the input, as written, lower-cased",
    "ascii": "the host name in ASCII (punycode) form, e.g. xn--bcher-kva.example.co.uk",
    "idn": "the host name in Unicode form, e.g. bücher.example.co.uk",
    "registrable_domain": "public suffix plus one label, e.g. example.co.uk",
    "subdomain": "labels left of the registrable domain, e.g. a.b (null when none)",
    "public_suffix": "e.g. co.uk, com, github.io",
    "private_suffix": "the suffix is from the list's private section (github.io, ...)",
    "reason": "why the input has no valid domain, else null",
    "credits": "1 for a valid domain, else 0",
}


@lru_cache(maxsize=1)
def _lists() -> tuple[PublicSuffixList, PublicSuffixList]:
    """The full list and its ICANN-only part, parsed once (about 0.1 s each)."""
    return PublicSuffixList(accept_unknown=False), PublicSuffixList(
        accept_unknown=False, only_icann=True)


def registrable(ascii_host: str) -> str | None:
    """The registrable domain of an ASCII host name, or None (shared with email_lookup)."""
    return _lists()[0].privatesuffix(ascii_host)


def validate(config: dict[str, Any], where: str) -> list[Issue]:
    return validate_input(config, where)


def host_of(text: str) -> str:
    """The host name in a domain, an email address or a URL."""
    if "@" in text and "://" not in text:
        return text.rsplit("@", 1)[1].strip().rstrip(".")
    parts = urlsplit(text if "://" in text or text.startswith("//") else f"//{text}")
    try:
        host = parts.hostname or ""
    except ValueError:
        host = ""
    return host.rstrip(".")


def lookup(text: str) -> Outcome:
    host = host_of(text)
    if not host:
        return answer(OUTPUT, text, reason="no host name in the input")
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        return answer(OUTPUT, text, reason="an IP address, not a domain (use ip_lookup)")
    try:
        ascii_host = idna.encode(host, uts46=True).decode("ascii")
        unicode_host = idna.decode(ascii_host)
    except idna.IDNAError as exc:
        return answer(OUTPUT, text, hostname=host.lower(), reason=f"not a valid host name: {exc}")
    hostname = host.lower()
    full, icann = _lists()
    suffix = full.publicsuffix(ascii_host)
    domain = full.privatesuffix(ascii_host)
    if suffix is None or domain is None:
        why = "is itself a public suffix" if suffix else "has no known public suffix"
        return answer(OUTPUT, text, hostname=hostname, ascii=ascii_host, idn=unicode_host,
                      public_suffix=suffix, reason=f"{ascii_host} {why}")
    sub = ascii_host[: -len(domain)].rstrip(".") or None
    return answer(OUTPUT, text, hostname=hostname, ascii=ascii_host, idn=unicode_host,
                  registrable_domain=domain, subdomain=sub, public_suffix=suffix,
                  private_suffix=icann.publicsuffix(ascii_host) != suffix)


async def execute(config: dict[str, Any], ctx: ExecContext) -> Outcome:
    text, reason = input_text(config)
    if text is None:
        return answer(OUTPUT, config.get("value"), reason=reason)
    return lookup(text)
