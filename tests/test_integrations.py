"""Integration steps alone: vendor host rules, HTML sanitizing, the Twilio request, cap ops."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import pytest
import pytest_asyncio
from aiohttp import web

from steps.base import ExecContext, StepFailed
from steps.integrations import discord, hosts, integration, mail, slack, sms, specs, teams
from steps.integrations.mail_html import sanitize, to_text
from steps.netsocket import guarded_socket
from streams.control.usage import day_of
from tests.control_table import Table

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "f" * 32


def strict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOPFLOW_OUTBOUND_ALLOW", raising=False)


# ---------------------------------------------------------------- host rules (004)

@pytest.mark.parametrize(("channel", "url"), [
    ("slack", "https://hooks.slack.com/services/T0/B0/x"),
    ("teams", "https://contoso.webhook.office.com/webhookb2/abc"),
    ("teams", "https://prod-12.westus.logic.azure.com:443/workflows/x/triggers/manual"),
    ("discord", "https://discord.com/api/webhooks/1/abc"),
    ("discord", "https://discordapp.com/api/webhooks/1/abc"),
])
def test_vendor_hosts_accepted(channel: str, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    strict(monkeypatch)
    assert hosts.refusal(channel, url) is None


@pytest.mark.parametrize(("channel", "url"), [
    ("slack", "https://hooks.slack.com.evil.com/services/x"),
    ("slack", "https://evilhooks.slack.com/services/x"),
    ("slack", "https://api.slack.com/x"),
    ("teams", "https://webhook.office.com/x"),  # must END WITH .webhook.office.com
    ("teams", "https://contoso.webhook.office.com.evil.com/x"),
    ("teams", "https://evil-webhook.office.com/x"),
    ("discord", "https://discord.com/api/other/1"),
    ("discord", "https://evil.discord.com/api/webhooks/1/x"),
    ("discord", "https://discord.gg/api/webhooks/1/x"),
    ("slack", "https://user:pw@hooks.slack.com/services/x"),
    ("slack", "ftp://hooks.slack.com/x"),
    ("slack", "http://127.0.0.1:8080/services/x"),
    # the webhook URL is the secret: a vendor host only over https
    ("slack", "http://hooks.slack.com/services/T0/B0/x"),
    ("teams", "http://contoso.webhook.office.com/webhookb2/abc"),
    ("discord", "http://discord.com/api/webhooks/1/abc"),
])
def test_other_hosts_refused(channel: str, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    strict(monkeypatch)
    assert hosts.refusal(channel, url) is not None


def test_allow_list_admits_a_test_peer_only_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "http://127.0.0.1:8080/api/webhooks/1/x"
    strict(monkeypatch)
    assert hosts.refusal("discord", url) is not None
    monkeypatch.setenv("HOPFLOW_OUTBOUND_ALLOW", "127.0.0.1/32")
    assert hosts.refusal("discord", url) is None
    assert hosts.refusal("discord", "http://127.0.0.1:8080/elsewhere") is not None  # path rule
    assert hosts.refusal("slack", "http://10.0.0.1/x") is not None  # not on the list


def test_literal_url_checked_at_save(monkeypatch: pytest.MonkeyPatch) -> None:
    strict(monkeypatch)
    issues = slack.validate({"webhook_url": "https://example.com/hook", "message": "hi"},
                            "steps[2].config")
    assert [i.field for i in issues] == ["steps[2].config.webhook_url"]
    assert "hooks.slack.com" in issues[0].message
    assert slack.validate({"webhook_url": "{{input.url}}", "message": "hi"}, "s") == []
    assert slack.validate({"credential_id": "c1", "message": "hi"}, "s") == []
    missing = teams.validate({"message": "x"}, "s")
    assert [i.field for i in missing] == ["s.webhook_url"]
    assert [i.field for i in discord.validate({"credential_id": "c"}, "s")] == ["s.message"]


async def test_wrong_host_refused_at_run_time(monkeypatch: pytest.MonkeyPatch) -> None:
    strict(monkeypatch)
    ctx = ExecContext("r", "t", "s", 1, {"credential": {
        "type": "slack", "webhook_url": "https://attacker.example/hook"}})
    with pytest.raises(StepFailed) as caught:
        await slack.execute({"message": "hi"}, ctx)
    assert "hooks.slack.com" in str(caught.value) and not caught.value.retryable
    assert "attacker.example/hook" not in str(caught.value)
    wrong_type = ExecContext("r", "t", "s", 1, {"credential": {"type": "discord"}})
    with pytest.raises(StepFailed, match="slack credential"):
        await slack.execute({"message": "hi"}, wrong_type)


def test_chat_payloads() -> None:
    ctx = ExecContext("r", "t", "s", 1, {"credential": {"type": "slack", "channel": "#ops"}})
    assert slack.payload({"template": "hello"}, ctx) == {"text": "hello", "channel": "#ops"}
    card = teams.payload({"message": "m", "title": "T"})
    assert card["@type"] == "MessageCard" and card["text"] == "m" and card["title"] == "T"
    adaptive = teams.payload({"card": {"type": "AdaptiveCard"}})
    assert adaptive["attachments"][0]["content"] == {"type": "AdaptiveCard"}
    assert discord.payload({"message": "m", "username": "bot"}) == {"content": "m",
                                                                    "username": "bot"}
    with pytest.raises(StepFailed, match="2000"):
        discord.payload({"message": "x" * 2001})


# ---------------------------------------------------------------- email HTML

DIRTY = ('<h1 onclick="steal()">Hi</h1><script>alert(1)</script>'
         '<iframe src="https://x"></iframe><object data="x"></object><embed src="y">'
         '<form action="https://phish"><input name="pw">Login</form>'
         '<a href="javascript:alert(1)">bad</a> <a href="https://ok.example/">good</a>'
         '<img src="https://i.example/a.png" onerror="e()">'
         '<p style="color: red; background: url(javascript:x)">Body</p>')


def test_sanitize_strips_what_004_forbids() -> None:
    clean = sanitize(DIRTY)
    low = clean.lower()
    for bad in ("<script", "alert(1)", "<iframe", "<object", "<embed", "<form", "<input",
                "onclick", "onerror", "javascript:"):
        assert bad not in low, (bad, clean)
    assert "<h1>Hi</h1>" in clean and 'href="https://ok.example/"' in clean
    assert 'style="color:red"' in clean.replace(" ", "")
    assert "Login" in clean  # the text of a removed form stays readable


def test_text_part_derived_from_html() -> None:
    text = to_text(sanitize("<h1>Order &amp; co</h1><p>Total: <b>5</b></p>"
                            "<ul><li>a</li><li>b</li></ul><a href='https://x.example/o'>see</a>"))
    assert text.splitlines()[0] == "Order & co"
    assert "Total: 5" in text and "- a" in text and "see (https://x.example/o)" in text
    assert "<" not in text


def test_email_message_build() -> None:
    ctx = ExecContext("run1", "t", "mail", 1)
    credential = {"type": "smtp", "host": "smtp.example.com", "port": 587,
                  "username": "u", "password": "pw-secret", "from_address": "bot@example.com"}
    msg, request, rcpts = mail.build({
        "to": "a@example.com, b@example.com", "cc": ["c@example.com"], "bcc": "d@example.com",
        "subject": "Hello\r\nBcc: evil@example.com", "html": DIRTY}, credential, ctx)
    assert rcpts == ["a@example.com", "b@example.com", "c@example.com", "d@example.com"]
    assert msg["Subject"] == "Hello Bcc: evil@example.com"  # no header injection
    assert msg["Bcc"] is None and msg["To"] == "a@example.com, b@example.com"
    html = msg.get_body(("html",)).get_content()
    assert "<script" not in html and "javascript:" not in html
    assert "Body" in msg.get_body(("plain",)).get_content()
    assert "pw-secret" not in str(request) and request["security"] == "starttls"
    with pytest.raises(StepFailed, match="not a valid email"):
        mail.build({"to": "nope", "subject": "s", "text": "t"}, credential, ctx)


def test_email_validation_fields() -> None:
    issues = mail.validate({"to": "not-an-address", "subject": ""}, "steps[1].config")
    fields = {i.field for i in issues}
    assert fields == {"steps[1].config.credential_id", "steps[1].config.to",
                      "steps[1].config.subject", "steps[1].config.html"}
    assert mail.validate({"credential_id": "c", "to": "{{input.email}}", "subject": "s",
                          "template": "<p>x</p>"}, "s") == []


def test_smtp_security_choice() -> None:
    assert mail.security_of({"port": 465}) == "tls"
    assert mail.security_of({"port": 587}) == "starttls"
    assert mail.security_of({"use_tls": False}) == "none"
    assert mail.security_of({"security": "none", "use_tls": True}) == "none"


async def test_smtp_host_guarded(monkeypatch: pytest.MonkeyPatch) -> None:
    strict(monkeypatch)
    with pytest.raises(StepFailed, match="loopback") as caught:
        await guarded_socket("127.0.0.1", 25, 2)
    assert not caught.value.retryable
    with pytest.raises(StepFailed, match="cloud metadata"):
        await guarded_socket("169.254.169.254", 25, 2)


# ---------------------------------------------------------------- Twilio shape

@pytest_asyncio.fixture
async def twilio() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    async def messages(request: web.Request) -> web.Response:
        seen.append({"path": request.path, "auth": request.headers.get("Authorization"),
                     "type": request.headers.get("Content-Type"),
                     "form": parse_qs((await request.read()).decode())})
        return web.json_response({"sid": f"SM{len(seen):032d}", "status": "queued"},
                                 status=201)

    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", messages)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", seen
    await runner.cleanup()


async def test_twilio_request_shape(twilio: tuple[str, list[dict[str, Any]]],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    base, seen = twilio
    monkeypatch.setenv("HOPFLOW_TWILIO_BASE_URL", base)
    reserved: list[tuple[str, int, int]] = []

    async def reserve(channel: str, units: int, recipients: int) -> None:
        reserved.append((channel, units, recipients))

    ctx = ExecContext("r", "t", "s", 1, {"reserve": reserve, "credential": {
        "type": "twilio", "account_sid": SID, "auth_token": TOKEN,
        "from_number": "+14155550100"}})
    outcome = await sms.execute({"to": "+14155550111, +44 20 7946 0958", "message": "Hi"}, ctx)
    assert reserved == [("sms", 2, 2)]
    assert [s["path"] for s in seen] == [f"/2010-04-01/Accounts/{SID}/Messages.json"] * 2
    assert seen[0]["form"] == {"To": ["+14155550111"], "From": ["+14155550100"],
                               "Body": ["Hi"]}
    assert seen[1]["form"]["To"] == ["+442079460958"]
    assert seen[0]["type"] == "application/x-www-form-urlencoded"
    assert seen[0]["auth"] == "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    assert outcome.output["sid"] == "SM" + "1".zfill(32) and outcome.output["status"] == "queued"
    assert outcome.output["sent"] == 2
    assert TOKEN not in str(outcome.request)


def test_twilio_default_base(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOPFLOW_TWILIO_BASE_URL", raising=False)
    assert sms.messages_url(SID) == (f"https://api.twilio.com/2010-04-01/Accounts/{SID}"
                                     "/Messages.json")
    issues = sms.validate({"credential_id": "c", "to": "555-1234", "message": "x"}, "s")
    assert [i.field for i in issues] == ["s.to"]


# ---------------------------------------------------------------- cap ops

def reserve(table: Table, plan: str, channel: str = "email", units: int = 1,
            recipients: int = 1, key: str | None = None) -> dict[str, Any]:
    return table.run("sendquota.reserve", {"channel": channel, "units": units,
                                           "recipients": recipients,
                                           "key": key or f"k{Table.n}"}, plan=plan)


def test_free_plan_daily_email_cap() -> None:
    table = Table()
    for _ in range(10):
        assert reserve(table, "free")["ok"]
    refused = reserve(table, "free")
    assert not refused["ok"] and refused["status"] == 429
    assert refused["message"].startswith("daily email limit of 10 reached for plan free")
    row = table.body(f"sendquota/t/email:{day_of(1000 + Table.n)}")
    assert row["used"] == 10  # the refused one left nothing behind


def test_repeated_key_counted_once_and_sms_units() -> None:
    table = Table()
    first = reserve(table, "free", key="run1:3")
    again = reserve(table, "free", key="run1:3")
    assert first["ok"] and again["ok"] and again["result"]["repeated"] is True
    assert again["result"]["used"] == 1
    assert reserve(table, "paid", "sms", units=5, recipients=5)["ok"]
    assert not reserve(table, "free", "sms", units=5, recipients=5)["ok"]


def test_recipient_caps() -> None:
    table = Table()
    refused = reserve(table, "free", recipients=2)
    assert refused["status"] == 429 and "1 recipient per email" in refused["message"]
    assert reserve(table, "paid", recipients=10)["ok"]
    assert not reserve(table, "paid", recipients=11)["ok"]
    assert reserve(table, "unlimited", recipients=100, units=1)["ok"]


def test_new_day_drops_yesterday() -> None:
    table = Table()
    yesterday = day_of(1000 + Table.n + 1 - 86_400_000)
    table[f"sendquota/t/email:{yesterday}"] = {"kind": "sendquota", "tenant": "t",
                                               "id": f"email:{yesterday}", "body": {
                                                   "used": 9, "keys": []}}
    assert reserve(table, "free")["ok"]
    assert f"sendquota/t/email:{yesterday}" not in table


# ---------------------------------------------------------------- integrations

def test_integration_specs() -> None:
    public, secret = specs.split("slack", {"webhook_url": "https://hooks.slack.com/services/x",
                                           "channel": "#a"})
    assert public == {"channel": "#a"} and "webhook_url" in secret
    with pytest.raises(specs.IntegrationInvalid) as caught:
        specs.split("slack", {"webhook_url": "https://evil.example/x"})
    assert caught.value.issues[0][0] == "config.webhook_url"
    with pytest.raises(specs.IntegrationInvalid) as bad:
        specs.split("email", {"to": "x"})
    assert {f for f, _ in bad.value.issues} == {"config.credential_id", "config.to"}
    public, secret = specs.split("webhook", {"url": "https://a.example/h",
                                             "headers": {"Authorization": "Bearer z"}})
    assert public == {"url": "https://a.example/h", "method": "POST"}
    assert secret == {"headers": {"Authorization": "Bearer z"}}


def test_integration_merge() -> None:
    email = integration.merged("email", {"type": "email", "to": "a@example.com",
                                         "subject": "S", "credential_id": "c1",
                                         "template": "<p>default</p>"},
                               {"integration_id": "i", "message": "<b>hi</b>"})
    assert email == {"to": "a@example.com", "subject": "S", "html": "<b>hi</b>",
                     "credential_id": "c1"}
    chat = integration.merged("slack", {"webhook_url": "u", "channel": "#c"},
                              {"integration_id": "i", "template": "t"})
    assert chat["webhook_url"] == "u" and chat["channel"] == "#c" and chat["template"] == "t"
    hook = integration.merged("webhook", {"url": "https://x", "method": "PUT"},
                              {"integration_id": "i", "message": "m"})
    assert hook["body"] == {"message": "m"} and hook["method"] == "PUT"
    issues = integration.validate({"integration_id": "i", "webhook_url": "x"}, "s")
    assert [i.field for i in issues] == ["s.webhook_url"]


def test_integration_ops() -> None:
    table = Table()
    created = table.run("integration.create", {
        "id": "int_1", "name": "Slack", "type": "slack", "public": {}, "secret_names": [
            "webhook_url"], "ciphertext": "c"})
    assert created["ok"]
    assert table.body("integration/t/int_1")["type"] == "slack"
    bad = table.run("integration.create", {"id": "int_2", "name": "x", "type": "sms",
                                           "public": {}, "secret_names": [], "ciphertext": ""})
    assert bad["status"] == 400 and bad["field"] == "integration_type"
    assert table.run("integration.delete", {"id": "int_1"})["ok"]
    assert table.run("integration.delete", {"id": "int_1"})["status"] == 404


def test_recipient_arrays_of_non_strings_are_a_400_at_save() -> None:
    """[1, 2] is neither an address list nor a template: refused at save naming the
    field, not left to fail every run."""
    where = "steps[0].config"
    fields = [i.field for i in mail.validate({"credential_id": "c", "to": ["a@b.co", 7],
                                              "subject": "s", "text": "t"}, where)]
    assert fields == [f"{where}.to"]
    fields = [i.field for i in sms.validate({"credential_id": "c", "to": [{"n": 1}],
                                             "message": "m"}, where)]
    assert fields == [f"{where}.to"]
    with pytest.raises(specs.IntegrationInvalid) as info:
        specs.split("email", {"credential_id": "c", "to": "a@b.co", "cc": [None]})
    assert [f for f, _ in info.value.issues] == ["config.cc"]
