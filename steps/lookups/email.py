"""email_lookup: syntax, normalized form and flags of an address, offline.

Syntax and normalization come from email-validator (no DNS:
`check_deliverability=False`); disposable domains from the
disposable-email-domains package's list (a domain or any parent in it).
Free providers and role accounts are small lists kept here, on purpose:
they change rarely and a reviewer can read them.
"""

from __future__ import annotations

from typing import Any

from disposable_email_domains import blocklist
from email_validator import EmailNotValidError, validate_email

from steps.base import ExecContext, Issue, Outcome
from steps.lookups.base import CONFIG as CONFIG
from steps.lookups.base import answer, input_text, validate_input
from steps.lookups.domain import registrable

name = "email_lookup"
kind = "io"
field_is_input = True

TITLE = "Validate an email address: normalized form, free-provider, disposable and role flags"
OUTPUT: dict[str, str] = {
    "input": "the text looked up",
    "valid": "the syntax is a deliverable-looking address (no DNS check)",
    "normalized": "the address with its domain lower-cased and IDNA-normalized "
                  "(the local part keeps its case)",
    "local_part": "before the @",
    "domain": "after the @, normalized (Unicode form for IDN domains)",
    "ascii_domain": "the domain in ASCII (punycode) form",
    "free_provider": "a large free mailbox provider (gmail.com, outlook.com, ...)",
    "disposable": "a throwaway-mailbox domain (mailinator.com, ...)",
    "role_account": "a function, not a person (admin@, info@, support@, ...)",
    "reason": "why the input is not a valid address, else null",
    "credits": "1 for a valid address, else 0",
}

FREE_PROVIDERS = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "ymail.com", "rocketmail.com",
    "outlook.com", "hotmail.com", "live.com", "msn.com", "icloud.com", "me.com", "mac.com",
    "aol.com", "proton.me", "protonmail.com", "pm.me", "mail.com", "zoho.com", "zohomail.com",
    "tutanota.com", "tuta.io", "fastmail.com", "hey.com", "mail.ru", "inbox.ru", "list.ru",
    "bk.ru", "qq.com", "163.com", "126.com", "sina.com", "naver.com", "daum.net",
    "web.de", "t-online.de", "freenet.de", "libero.it", "orange.fr", "free.fr", "laposte.net",
    "rediffmail.com", "seznam.cz", "wp.pl", "o2.pl", "interia.pl",
})
# Providers with one brand over many country domains: gmx.de, gmx.net, yandex.ru, ...
FREE_PROVIDER_BRANDS = frozenset({"gmx", "yandex", "yahoo", "hotmail", "outlook", "live"})

ROLE_ACCOUNTS = frozenset({
    "admin", "administrator", "root", "info", "support", "sales", "contact", "noreply",
    "no-reply", "donotreply", "do-not-reply", "billing", "abuse", "postmaster", "webmaster",
    "hostmaster", "hr", "jobs", "careers", "help", "helpdesk", "office", "team", "marketing",
    "hello", "security", "privacy", "legal", "accounts", "accounting", "finance", "press",
    "media", "service", "enquiries", "inquiries", "feedback", "mail", "newsletter", "orders",
})


def validate(config: dict[str, Any], where: str) -> list[Issue]:
    return validate_input(config, where)


def _parents(domain: str) -> list[str]:
    """`a.b.mailinator.com` -> itself and each parent down to two labels."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(max(len(labels) - 1, 1))]


def is_free_provider(domain: str) -> bool:
    """A listed domain, or a brand's own domain under any public suffix (gmx.co.uk)."""
    if domain in FREE_PROVIDERS:
        return True
    return domain == registrable(domain) and domain.split(".", 1)[0] in FREE_PROVIDER_BRANDS


def is_disposable(domain: str) -> bool:
    return any(d in blocklist for d in _parents(domain))


def is_role_account(local_part: str) -> bool:
    """The local part before any +tag, compared case-insensitively."""
    return local_part.split("+", 1)[0].lower() in ROLE_ACCOUNTS


def lookup(text: str) -> Outcome:
    try:
        email = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        return answer(OUTPUT, text, reason=f"not a valid email address: {exc}")
    domain = email.ascii_domain.lower()
    return answer(OUTPUT, text, normalized=email.normalized, local_part=email.local_part,
                  domain=email.domain, ascii_domain=email.ascii_domain,
                  free_provider=is_free_provider(domain), disposable=is_disposable(domain),
                  role_account=is_role_account(email.local_part))


async def execute(config: dict[str, Any], ctx: ExecContext) -> Outcome:
    text, reason = input_text(config)
    if text is None:
        return answer(OUTPUT, config.get("value"), reason=reason)
    return lookup(text)
