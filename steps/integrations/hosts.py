"""The vendor host rules of reference 004 ("Webhook URL Validation"), exactly.

- Teams: the host name ends with `.webhook.office.com` or `.logic.azure.com`;
- Slack: the host name is `hooks.slack.com`;
- Discord: the host name is `discord.com` or `discordapp.com` and the path
  starts with `/api/webhooks/`.

So a tenant cannot point a "Slack" step at any other server. Tests stand in
for the vendors with local servers: a host on the operator's outbound
allow-list (`HOPFLOW_OUTBOUND_ALLOW`, steps/netguard.py, off by default) passes
the host rule, the same one setting that lets the guarded client reach them.
The Discord path rule applies to every host, allow-listed or not.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from steps.netguard import policy

RULES: dict[str, str] = {
    "teams": "the host name must end with .webhook.office.com or .logic.azure.com",
    "slack": "the host name must be hooks.slack.com",
    "discord": "the host name must be discord.com or discordapp.com and the path must "
               "start with /api/webhooks/",
}


def _vendor_host(channel: str, host: str) -> bool:
    if channel == "teams":
        return host.endswith((".webhook.office.com", ".logic.azure.com"))
    if channel == "slack":
        return host == "hooks.slack.com"
    if channel == "discord":
        return host in ("discord.com", "discordapp.com")
    raise ValueError(f"no host rule for {channel!r}")


def _allow_listed(host: str) -> bool:
    pol = policy()
    if pol.allows_host(host):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return bool(pol.allow_nets) and pol.allows_ip(ip)


def refusal(channel: str, url: str) -> str | None:
    """Why `url` is not a webhook URL of `channel`'s vendor, or None when it is."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("https", "http") or not host:
        return "must be an https:// URL"
    if parts.username or parts.password:
        return "must not carry a user name or password"
    if channel == "discord" and not parts.path.startswith("/api/webhooks/"):
        return RULES[channel]
    if _allow_listed(host):  # the operator's own peers (tests' stand-ins) may be plain http
        return None
    if _vendor_host(channel, host):
        # the URL is the secret (anyone holding it can post): never over plain http
        return None if parts.scheme == "https" else "must be an https:// URL"
    return RULES[channel]
