"""email: send a message over SMTP (reference 004 ActionType 0, SendEmail).

The server, its login and the sender come from an SMTP credential. Its host
passes the same address guard as HTTP (steps/netguard.py): the name is
resolved here, refused addresses are dropped, and the socket connects to a
checked address, while TLS still verifies the host name (a `ca_cert` in the
credential adds a trusted CA for a private server; verification is never
off). Security: `tls` (implicit, port 465), `starttls` (required, refused if
the server does not offer it) or `none`.

The HTML body is sanitized (mail_html.py) and a plain-text part is always
sent, derived from the HTML when `text` is not given. The plan's caps
(recipients per message, emails per day) are reserved right before the
message is handed to the server.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from email.message import EmailMessage
from email.utils import formataddr
from typing import Any

import aiosmtplib

from steps.base import ExecContext, Issue, Outcome, StepFailed, timeout_issues
from steps.integrations import quota
from steps.integrations.mail_html import sanitize, to_text
from steps.integrations.recipients import emails, literal, recipient_list
from steps.netsocket import guarded_socket
from steps.templates import template_issues

name = "email"
kind = "io"
sends = True  # the executor gives it ctx.extras["reserve"]
TITLE = "Send an email over SMTP (HTML sanitized, with a plain-text part)"
DEFAULT_TIMEOUT = 30.0
MAX_SUBJECT = 998
CONFIG: dict[str, str] = {
    "credential_id": "string: an smtp credential (host, port, username, password, "
                     "from_address, security, ca_cert)",
    "to": "string or array: recipients (comma-separated string or list; templated)",
    "cc": "string or array: copy recipients (optional)",
    "bcc": "string or array: blind-copy recipients (optional)",
    "subject": "string: the subject (templated)",
    "html": "string: the HTML body, sanitized before sending (`body` or 004's `template` "
            "also accepted)",
    "text": "string: the plain-text part (derived from the HTML when absent)",
    "from_name": "string: display name for the sender (optional)",
    "reply_to": "string: a Reply-To address (optional)",
    "timeout": "number: seconds for the whole SMTP exchange, default 30",
}
OUTPUT: dict[str, str] = {
    "sent": "true once the server accepted the message",
    "message_id": "the Message-ID header sent",
    "recipients": "how many addresses the message went to (to + cc + bcc)",
    "smtp_response": "the server's answer to the message (e.g. 250 OK)",
}


def html_of(config: dict[str, Any]) -> Any:
    for key in ("html", "body", "template"):
        if config.get(key) not in (None, ""):
            return config[key]
    return None


def validate(config: dict[str, Any], where: str) -> list[Issue]:
    issues: list[Issue] = []
    if not isinstance(config.get("credential_id"), str) or not config["credential_id"]:
        issues.append(Issue(f"{where}.credential_id", "is required (an smtp credential)"))
    for key in ("to", "cc", "bcc", "reply_to"):
        value = config.get(key)
        if key == "to" and value in (None, "", []):
            issues.append(Issue(f"{where}.to", "is required (one or more addresses)"))
        elif value is not None and not recipient_list(value):
            issues.append(Issue(f"{where}.{key}", "must be an address or a list of them"))
        elif value is not None and literal(value):
            try:
                emails(value, key)
            except StepFailed as exc:
                issues.append(Issue(f"{where}.{key}", str(exc)))
    if not isinstance(config.get("subject"), str) or not config["subject"].strip():
        issues.append(Issue(f"{where}.subject", "is required"))
    body, text = html_of(config), config.get("text")
    if body is None and text in (None, ""):
        issues.append(Issue(f"{where}.html", "give html (or body/template) or text"))
    for key, value in (("html", body), ("text", text)):
        if value is not None and not isinstance(value, str):
            issues.append(Issue(f"{where}.{key}", "must be a string"))
    issues += timeout_issues(config, where, DEFAULT_TIMEOUT, 120)
    issues += template_issues(config, where)
    return issues


def security_of(credential: dict[str, Any]) -> str:
    """`security` if set; else the older `use_tls` flag: implicit TLS on 465, STARTTLS else."""
    chosen = credential.get("security")
    if chosen in ("none", "starttls", "tls"):
        return str(chosen)
    if credential.get("use_tls", True) is False:
        return "none"
    return "tls" if int(credential.get("port", 587)) == 465 else "starttls"


def tls_context(credential: dict[str, Any]) -> ssl.SSLContext:
    """System CAs, plus the credential's own CA when it has one; always verifying."""
    context = ssl.create_default_context()
    if credential.get("ca_cert"):
        try:
            context.load_verify_locations(cadata=credential["ca_cert"])
        except (ssl.SSLError, ValueError) as exc:
            raise StepFailed(f"the credential's ca_cert is not a PEM certificate ({exc})"
                             ) from None
    return context


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())


def build(config: dict[str, Any], credential: dict[str, Any], ctx: ExecContext
          ) -> tuple[EmailMessage, dict[str, Any], list[str]]:
    """The MIME message, the loggable request (no secrets) and every recipient."""
    to, cc, bcc = (emails(config.get(k), k) for k in ("to", "cc", "bcc"))
    if not to:
        raise StepFailed("to rendered empty: no recipient")
    subject = _one_line(config.get("subject", ""))[:MAX_SUBJECT]
    raw_html, text = html_of(config), config.get("text")
    safe = sanitize(str(raw_html)) if raw_html not in (None, "") else None
    if text in (None, ""):
        text = to_text(safe) if safe else ""
    sender = str(credential.get("from_address") or credential.get("username"))
    domain = sender.rpartition("@")[2] or "hopflow.local"
    digest = hashlib.sha256(ctx.idempotency_key.encode()).hexdigest()[:32]
    message_id = f"<{digest}@{domain}>"
    msg = EmailMessage()
    from_name = _one_line(config.get("from_name") or "")
    msg["From"] = formataddr((from_name, sender)) if from_name else sender
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    if config.get("reply_to"):
        msg["Reply-To"] = ", ".join(emails(config["reply_to"], "reply_to"))
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    msg.set_content(str(text))
    if safe:
        msg.add_alternative(safe, subtype="html")
    request = {"smtp_host": credential.get("host"), "port": credential.get("port"),
               "security": security_of(credential), "from": sender, "to": to, "cc": cc,
               "bcc": bcc, "subject": subject, "html": safe, "text": text,
               "message_id": message_id}
    return msg, request, [*to, *cc, *bcc]


def _smtp_failure(exc: Exception, request: dict[str, Any]) -> StepFailed:
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return StepFailed(f"SMTP login refused ({exc.code})", request=request)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = sorted({e.code for e in exc.recipients})
        return StepFailed(f"SMTP server refused the recipients ({codes})",
                          retryable=all(400 <= c < 500 for c in codes), request=request)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return StepFailed(f"SMTP server answered {exc.code}: {exc.message}",
                          retryable=400 <= exc.code < 500, request=request)
    if isinstance(exc, aiosmtplib.SMTPException) and "STARTTLS" in str(exc).upper():
        return StepFailed(f"SMTP server does not offer STARTTLS: {exc}", request=request)
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return StepFailed(f"TLS with the SMTP server failed: {exc}", request=request)
    return StepFailed(f"SMTP exchange failed ({type(exc).__name__}: {exc})", retryable=True,
                      request=request)


async def execute(config: dict[str, Any], ctx: ExecContext) -> Outcome:
    credential = ctx.extras.get("credential")
    if not credential or credential.get("type") != "smtp":
        raise StepFailed("an email step needs an smtp credential (credential_id)")
    msg, request, recipients = build(config, credential, ctx)
    security = security_of(credential)
    host, port = str(credential["host"]), int(credential.get("port", 587))
    timeout = float(config.get("timeout", DEFAULT_TIMEOUT))
    context = tls_context(credential) if security != "none" else None
    sock = await guarded_socket(host, port, timeout)
    try:
        await quota.reserve(ctx, "email", 1, len(recipients))
        smtp = aiosmtplib.SMTP(hostname=host, sock=sock, timeout=timeout,
                               use_tls=security == "tls", start_tls=security == "starttls",
                               tls_context=context, validate_certs=True)
        async with asyncio.timeout(timeout):
            await smtp.connect()
            try:
                if credential.get("username") and credential.get("password"):
                    await smtp.login(credential["username"], credential["password"])
                errors, answer = await smtp.send_message(msg, recipients=recipients)
            finally:
                try:
                    await smtp.quit()
                except aiosmtplib.SMTPException:
                    smtp.close()
    except StepFailed:
        raise
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise _smtp_failure(exc, request) from None
    finally:
        sock.close()
    return Outcome(output={"sent": True, "message_id": request["message_id"],
                           "recipients": len(recipients), "refused": sorted(errors),
                           "smtp_response": answer}, request=request)
