"""Integrations end to end: a real broker, a real worker, real local peers.

Stand-ins for the vendors: an aiohttp server for Slack, Teams, Discord and
Twilio, and an aiosmtpd SMTP server that requires STARTTLS (self-signed
certificate, trusted through the credential's ca_cert) and a login. The
worker reaches them through the outbound allow-list (127.0.0.1/32).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import pytest_asyncio
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from dev.kafka import BrokerSettings
from dev.workers import WorkerProcess, free_port
from streams.control import client
from streams.keyring import generate_key
from tests.certs import self_signed as certificate
from tests.conftest import fresh_app_id
from tests.helpers import create_workflow, run_and_wait
from tests.tenants import KeyAuth

PEER_PORT = free_port()
SID = "AC" + "0123456789abcdef" * 2
TOKEN = "a1b2c3d4" * 4
SMTP_PASSWORD = "smtp-pw-7f3a9c"
HOOK_TOKEN = "hooktoken9d8e7f"
CREDS = "/api/workflows/credentials"
INTEG = "/api/workflows/integrations"


@pytest.fixture(scope="module")
def worker(kafka_broker: BrokerSettings, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(app_id=fresh_app_id("integrations"), bootstrap=kafka_broker.bootstrap,
                         home=tmp_path_factory.mktemp("integ"),
                         env={"HOPFLOW_SECRETS_KEYS": generate_key(),
                              "HOPFLOW_TWILIO_BASE_URL": f"http://127.0.0.1:{PEER_PORT}"})
    proc.start()
    yield proc
    proc.stop()


@pytest_asyncio.fixture
async def vendors() -> AsyncIterator[list[dict[str, Any]]]:
    """One aiohttp server answering like Slack, Teams, Discord and Twilio; records requests."""
    seen: list[dict[str, Any]] = []

    async def record(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append({"path": request.path, "headers": dict(request.headers), "body": body})
        if request.path.endswith("/Messages.json"):
            return web.json_response({"sid": f"SM{len(seen):032x}", "status": "queued"},
                                     status=201)
        if request.path.startswith("/api/webhooks/"):
            return web.Response(status=204)
        return web.Response(text="ok" if "services" in request.path else "1")

    app = web.Application()
    app.router.add_post("/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", PEER_PORT).start()
    yield seen
    await runner.cleanup()


def self_signed(directory: Path) -> tuple[str, ssl.SSLContext]:
    """A certificate for `localhost` (PEM text) and a server context using it."""
    pem, cert, key = certificate(directory)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return pem, context


class Inbox:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append({"rcpt": list(envelope.rcpt_tos), "from": envelope.mail_from,
                              "tls": session.ssl is not None, "msg": email.message_from_bytes(
                                  envelope.content, policy=email.policy.default)})
        return "250 Message accepted for delivery"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                     auth_data: Any) -> AuthResult:
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append((login, password))
        return AuthResult(success=login == "mailer" and password == SMTP_PASSWORD)


@pytest.fixture(scope="module")
def smtp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Inbox, int, str]]:
    pem, context = self_signed(tmp_path_factory.mktemp("tls"))
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=context,
                            require_starttls=True, authenticator=inbox.authenticate,
                            auth_require_tls=True)
    controller.start()
    yield inbox, port, pem
    controller.stop()


async def credential(http: httpx.AsyncClient, base: str, tenant: str, ctype: str,
                     data: dict[str, Any]) -> str:
    response = await http.post(f"{base}{CREDS}", json={"name": ctype, "type": ctype,
                                                        "data": data},
                               headers={"x-tenant-id": tenant})
    assert response.status_code == 201, response.text
    return response.json()["id"]  # type: ignore[no-any-return]


async def smtp_credential(http: httpx.AsyncClient, base: str, tenant: str, port: int,
                          pem: str) -> str:
    return await credential(http, base, tenant, "smtp", {
        "host": "localhost", "port": port, "username": "mailer", "password": SMTP_PASSWORD,
        "from_address": "bot@hopflow.test", "security": "starttls", "ca_cert": pem})


async def run(http: httpx.AsyncClient, base: str, tenant: str, definition: dict[str, Any],
              payload: dict[str, Any]) -> dict[str, Any]:
    wf = await create_workflow(http, base, definition, tenant)
    return await run_and_wait(http, base, wf, payload)  # the x-tenant-id default is per call


def no_secrets(text: str) -> None:
    for secret in (TOKEN, SMTP_PASSWORD, HOOK_TOKEN):
        assert secret not in text, secret


async def test_slack_teams_discord_sms(worker: WorkerProcess, http: httpx.AsyncClient,
                                       vendors: list[dict[str, Any]]) -> None:
    base, tenant, peer = worker.url, "default", f"http://127.0.0.1:{PEER_PORT}"
    slack_cred = await credential(http, base, tenant, "slack", {
        "webhook_url": f"{peer}/services/T1/B1/{HOOK_TOKEN}", "channel": "#ops"})
    twilio = await credential(http, base, tenant, "twilio", {
        "account_sid": SID, "auth_token": TOKEN, "from_number": "+14155550100"})
    definition = {"name": "notify everywhere", "steps": [
        {"id": "slack", "type": "slack",
         "config": {"credential_id": slack_cred, "message": "Lead {{input.name}}"}},
        {"id": "teams", "type": "teams", "config": {
            "webhook_url": f"{peer}/webhookb2/abc", "title": "Lead",
            "message": "New lead **{{input.name}}**"}},
        {"id": "discord", "type": "discord", "config": {
            "webhook_url": f"{peer}/api/webhooks/1/tok", "message": "lead {{input.name}}"}},
        {"id": "sms", "type": "sms", "config": {
            "credential_id": twilio, "to": "{{input.phone}}", "message": "Hi {{input.name}}"}},
    ]}
    result = await run(http, base, tenant, definition, {"name": "Ada", "phone": "+14155550111"})
    assert result["status"] == "completed", result
    by_path = {v["path"]: v for v in vendors}

    assert orjson.loads(by_path[f"/services/T1/B1/{HOOK_TOKEN}"]["body"]) == {
        "text": "Lead Ada", "channel": "#ops"}
    teams = orjson.loads(by_path["/webhookb2/abc"]["body"])
    assert teams["text"] == "New lead **Ada**" and teams["title"] == "Lead"
    assert orjson.loads(by_path["/api/webhooks/1/tok"]["body"]) == {"content": "lead Ada"}
    sms = by_path[f"/2010-04-01/Accounts/{SID}/Messages.json"]
    assert sms["body"] == b"To=%2B14155550111&From=%2B14155550100&Body=Hi+Ada"
    assert sms["headers"]["Authorization"].startswith("Basic ")
    steps = {s["stepId"]: s for s in result["stepExecutionHistory"]}
    assert steps["sms"]["output"]["sid"].startswith("SM") and steps["sms"]["output"][
        "status"] == "queued"
    assert steps["slack"]["output"]["host"] == "127.0.0.1"
    no_secrets(orjson.dumps(result).decode())
    logs = await http.get(f"{base}/api/workflows/runs/{result['runId']}/logs")
    no_secrets(logs.text)

    # a literal non-vendor URL is refused at save, naming the field
    bad = await http.post(f"{base}/api/workflows", json={"name": "bad", "steps": [
        {"id": "s", "type": "slack", "config": {"webhook_url": "https://evil.example/x",
                                                "message": "m"}}]})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "steps[0].config.webhook_url"


async def test_email_over_starttls_and_integrations(
        worker: WorkerProcess, http: httpx.AsyncClient, key_auth: KeyAuth,
        smtp: tuple[Inbox, int, str], vendors: list[dict[str, Any]]) -> None:
    inbox, port, pem = smtp
    base, tenant = worker.url, "mail-co"
    headers = {"x-tenant-id": tenant}
    smtp_id = await smtp_credential(http, base, tenant, port, pem)
    definition = {"name": "mail", "steps": [{"id": "mail", "type": "email", "config": {
        "credential_id": smtp_id, "to": "{{input.to}}", "cc": "cc@example.com",
        "bcc": ["audit@example.com"], "subject": "Invoice {{input.n}}",
        "html": "<h1 onclick=\"x()\">Invoice {{input.n}}</h1><script>steal()</script>"
                "<a href=\"javascript:alert(1)\">pay</a><iframe src=\"https://x\"></iframe>"}}]}
    wf = await create_workflow(http, base, definition, tenant)
    response = await http.post(f"{base}/api/workflows/{wf}/run", headers=headers,
                               params={"wait": "true"},
                               json={"input": {"to": "ada@example.com", "n": 42}})
    result = response.json()
    assert result["status"] == "completed", result
    got = inbox.messages[-1]
    assert got["tls"] is True and ("mailer", SMTP_PASSWORD) in inbox.logins
    assert sorted(got["rcpt"]) == ["ada@example.com", "audit@example.com", "cc@example.com"]
    msg = got["msg"]
    assert msg["Subject"] == "Invoice 42" and msg["To"] == "ada@example.com"
    assert msg["Bcc"] is None and msg["From"] == "bot@hopflow.test"
    html = msg.get_body(("html",)).get_content()
    assert "<h1>Invoice 42</h1>" in html
    for bad in ("<script", "steal()", "onclick", "javascript:", "<iframe"):
        assert bad not in html
    assert msg.get_body(("plain",)).get_content().strip().startswith("Invoice 42")

    no_secrets(orjson.dumps(result).decode())

    # an email integration (002), created through the API, used by an integration step
    member = await key_auth.key(base, worker.port, tenant, role="member")
    as_member = {"x-api-key": member, "x-tenant-id": tenant}
    refused = await http.post(f"{base}{INTEG}", headers=as_member, json={
        "name": "x", "integration_type": "email", "config": {}})
    assert refused.status_code == 403
    created = await http.post(f"{base}{INTEG}", headers=headers, json={
        "name": "Ops mail", "integration_type": "email", "workflow_id": "wf-x",
        "config": {"credential_id": smtp_id, "to": "ops@example.com", "subject": "Alert"}})
    assert created.status_code == 201, created.text
    mail_int = created.json()["id"]
    hook = await http.post(f"{base}{INTEG}", headers=headers, json={
        "name": "Slack", "integration_type": "slack", "config": {
            "webhook_url": f"http://127.0.0.1:{PEER_PORT}/services/T9/B9/{HOOK_TOKEN}"}})
    assert hook.status_code == 201 and hook.json()["config"]["webhook_url"] == "••••••"
    listed = await http.get(f"{base}{INTEG}", headers=as_member, params={"limit": 1})
    assert listed.status_code == 200 and listed.json()["total"] == 2
    assert len(listed.json()["data"]) == 1 and listed.json()["hasMore"] is True
    only = await http.get(f"{base}{INTEG}", headers=headers, params={"workflow_id": "wf-x"})
    assert [i["id"] for i in only.json()["integrations"]] == [mail_int]
    no_secrets(listed.text + hook.text)
    bad = await http.post(f"{base}{INTEG}", headers=headers, json={
        "name": "x", "integration_type": "slack", "config": {"webhook_url": "https://x.io/"}})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "config.webhook_url"
    renamed = await http.put(f"{base}{INTEG}", headers=headers, params={"id": hook.json()["id"]},
                             json={"name": "Slack 2"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Slack 2"

    flow = {"name": "via integrations", "steps": [
        {"id": "mail", "type": "integration",
         "config": {"integration_id": mail_int, "template": "<p>Disk {{input.disk}}%</p>"}},
        {"id": "chat", "type": "integration",
         "config": {"integration_id": hook.json()["id"], "message": "disk {{input.disk}}"}}]}
    wf2 = await create_workflow(http, base, flow, tenant)
    done = (await http.post(f"{base}/api/workflows/{wf2}/run", headers=headers,
                            params={"wait": "true"}, json={"input": {"disk": 97}})).json()
    assert done["status"] == "completed", done
    alert = inbox.messages[-1]
    assert alert["rcpt"] == ["ops@example.com"] and alert["msg"]["Subject"] == "Alert"
    assert "Disk 97%" in alert["msg"].get_body(("plain",)).get_content()
    assert orjson.loads(vendors[-1]["body"]) == {"text": "disk 97"}
    assert vendors[-1]["path"].endswith(HOOK_TOKEN)
    no_secrets(orjson.dumps(done).decode())
    deleted = await http.delete(f"{base}{INTEG}", headers=headers, params={"id": mail_int})
    assert deleted.status_code == 200
    assert (await http.get(f"{base}{INTEG}/{mail_int}", headers=headers)).status_code == 404


async def test_free_plan_refuses_the_eleventh_email(
        worker: WorkerProcess, http: httpx.AsyncClient, key_auth: KeyAuth,
        kafka_broker: BrokerSettings, smtp: tuple[Inbox, int, str]) -> None:
    inbox, port, pem = smtp
    base, tenant = worker.url, "free-mailer"
    headers = {"x-tenant-id": tenant}
    await key_auth.key(base, worker.port, tenant, plan="free")
    smtp_id = await smtp_credential(http, base, tenant, port, pem)
    # nine emails already sent today (reserved through the same op the executor uses)
    for i in range(9):
        command = await client.send_command(kafka_broker.bootstrap, worker.app_id, tenant,
                                            "sendquota.reserve", {
                                                "channel": "email", "units": 1,
                                                "recipients": 1, "key": f"earlier-{i}"})
    assert (await client.wait_outcome(kafka_broker.bootstrap, worker.app_id, command)
            or {}).get("ok"), "the reservations were not applied"
    email_step = {"credential_id": smtp_id, "to": "one@example.com", "subject": "n",
                  "text": "hello"}
    two_recipients = await http.post(f"{base}/api/workflows", headers=headers, json={
        "name": "too many", "steps": [{"id": "m", "type": "email", "config": {
            **email_step, "to": "{{input.to}}"}}]})
    wf = await create_workflow(http, base, {"name": "ten and eleven", "steps": [
        {"id": "tenth", "type": "email", "config": email_step},
        {"id": "eleventh", "type": "email", "config": email_step}]}, tenant)
    before = len(inbox.messages)
    result = (await http.post(f"{base}/api/workflows/{wf}/run", headers=headers,
                              params={"wait": "true"}, json={"input": {}})).json()
    assert result["status"] == "failed", result
    steps = {s["stepId"]: s for s in result["stepExecutionHistory"]}
    assert steps["tenth"]["status"] == "completed"
    assert steps["eleventh"]["error"].startswith("daily email limit of 10 reached for plan free")
    assert steps["eleventh"]["attempt"] == 1  # permanent: no retry
    assert len(inbox.messages) == before + 1

    # recipients per message: the free plan allows one
    assert two_recipients.status_code == 201, two_recipients.text
    over = (await http.post(f"{base}/api/workflows/{two_recipients.json()['id']}/run",
                            headers=headers, params={"wait": "true"},
                            json={"input": {"to": "a@example.com, b@example.com"}})).json()
    assert over["status"] == "failed"
    assert "allows 1 recipient per email" in over["stepExecutionHistory"][0]["error"]
    await asyncio.sleep(0)
