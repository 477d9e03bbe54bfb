"""Plans: what a tenant may have (reference 004's caps), set per tenant by the operator."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    name: str
    workflows: int | None  # None: no cap
    steps_per_workflow: int | None
    credentials: int | None
    max_retries: int  # ceiling of a workflow's retry.max_retries
    executions_per_minute: int | None  # enforced by the triggers issue
    daily_runs: int | None
    # 004's Daily Send Limits and Recipient Caps (counted by streams/control/usage.py)
    emails_per_day: int | None = None
    sms_per_day: int | None = None
    email_recipients: int | None = None  # to + cc + bcc of one email
    sms_recipients: int | None = None  # numbers of one sms step
    # credits a month (UTC) may use; a bulk job that would go over it is refused (429)
    monthly_credits: int | None = None

    def send_caps(self, channel: str) -> tuple[int | None, int | None]:
        """(per day, recipients per message) of a send channel: email or sms."""
        if channel == "email":
            return self.emails_per_day, self.email_recipients
        if channel == "sms":
            return self.sms_per_day, self.sms_recipients
        raise ValueError(f"unknown send channel {channel!r}")


PLANS = {
    "free": Plan("free", 3, 5, 2, 5, 5, 50, emails_per_day=10, sms_per_day=5,
                 email_recipients=1, sms_recipients=1, monthly_credits=500),
    "paid": Plan("paid", 28, 20, 20, 5, 60, None, emails_per_day=500, sms_per_day=200,
                 email_recipients=10, sms_recipients=5, monthly_credits=100_000),
    # internal tenants (the bench, the operator's own automations)
    "unlimited": Plan("unlimited", None, None, None, 5, None, None),
}
DEFAULT_PLAN = "free"


def plan_named(name: str) -> Plan:
    try:
        return PLANS[name]
    except KeyError:
        raise ValueError(f"plan must be one of {', '.join(PLANS)}") from None
