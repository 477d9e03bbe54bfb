"""The web console in a real browser: headless Chromium (Debian's package) driven by
playwright against a live worker on the real broker, logged in with a real tenant API key.

Each test saves a full-page screenshot to test-artifacts/console/<name>.png so a reviewer
can look at the pages. Chromium missing is a failure, not a skip: CI installs it.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect

from dev.workers import WorkerProcess
from tests.helpers import create_workflow, wait_status
from tests.tenants import KeyAuth

TENANT = "default"  # the tenant tests.helpers (wait_status) read as
# CI is a slow 2-core box shared with a broker and a worker: every wait is a condition
# with a generous deadline (playwright's default is 5 s), never a fixed sleep
WAIT_MS = 60_000
WAIT_S = 90.0
WAITED = {"wait": "true", "timeout": "50"}  # a run's own wait, under httpx's 60 s
expect.set_options(timeout=WAIT_MS)
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "console"
LINEAR = {"name": "Console linear", "steps": [
    {"id": "first", "type": "transform", "config": {"fields": {"a": 1}}},
    {"id": "check", "type": "condition", "config": {
        "field": "steps.first.a", "op": "equals", "value": 1, "then": "yes", "else": "no"}},
    {"id": "yes", "type": "transform", "config": {"fields": {"ok": True}}, "next": None},
    {"id": "no", "type": "transform", "config": {"fields": {"ok": False}}}]}
APPROVAL_FLOW = {"name": "Console approval", "initialStep": "approve", "steps": [
    {"id": "approve", "type": "request-user-action", "config": {
        "title": "Approve {{input.amount}}?", "actions": [
            {"id": "decision", "values": ["approved", "rejected"]}]}},
    {"id": "yes", "type": "transform", "config": {"fields": {"paid": True}}},
    {"id": "no", "type": "transform", "config": {"fields": {"paid": False}}}],
    "edges": [
        {"from": "approve", "to": "yes", "condition": {
            "field": "steps.approve.actionValue", "op": "equals", "value": "approved"}},
        {"from": "approve", "to": "no"}]}
SLOW = {"name": "Console slow", "steps": [
    {"id": "wait", "type": "delay", "config": {"seconds": 600}},
    {"id": "after", "type": "transform", "config": {"fields": {"late": True}}}]}


def chromium_path() -> str:
    path = os.environ.get("HOPFLOW_CHROMIUM") or shutil.which("chromium") \
        or shutil.which("chromium-browser")
    if not path:
        pytest.fail("chromium is not installed (apt-get install -y chromium, or set "
                    "HOPFLOW_CHROMIUM to its path): the console's browser tests need it")
    return path


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=chromium_path(),
                                           args=["--no-sandbox"])
        yield launched
        await launched.close()


@pytest_asyncio.fixture
async def key(shared_worker: WorkerProcess, key_auth: KeyAuth) -> str:
    return await key_auth.key(shared_worker.url, shared_worker.port, TENANT)


def tenant_headers() -> dict[str, str]:
    return {"x-tenant-id": TENANT}


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


ERRORS: dict[int, list[str]] = {}  # id(page) -> its console errors and uncaught exceptions


async def new_page(browser: Browser, width: int = 1280, height: int = 900) -> Page:
    page = await browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(WAIT_MS)
    page.set_default_navigation_timeout(WAIT_MS)
    errors = ERRORS.setdefault(id(page), [])
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page


async def logged_in(browser: Browser, base: str, key: str, *, width: int = 1280,
                    height: int = 900) -> Page:
    page = await new_page(browser, width, height)
    await page.goto(f"{base}/console")
    await expect(page.get_by_label("API key or JWT")).to_be_visible()
    await page.get_by_label("API key or JWT").fill(key)
    await page.get_by_label("Tenant", exact=False).fill(TENANT)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Workflows")).to_be_visible()
    return page


def no_script_errors(page: Page) -> None:
    """No CSP violation (an inline style or script slipped in) and no uncaught exception."""
    errors = ERRORS.get(id(page), [])
    assert not [e for e in errors if "Content Security Policy" in e or "Error:" in e], errors


async def unlabelled_inputs(page: Page) -> list[str]:
    return list(await page.evaluate("""() => [...document.querySelectorAll(
        'input:not([aria-label]), select:not([aria-label]), textarea:not([aria-label])')]
        .filter(el => !(el.id && document.querySelector(`label[for="${el.id}"]`))
                      && !el.closest('label'))
        .map(el => el.name || el.outerHTML)"""))


async def test_static_files_are_served_with_a_strict_policy(shared_worker: WorkerProcess
                                                            ) -> None:
    async with httpx.AsyncClient(base_url=shared_worker.url) as plain:
        page = await plain.get("/console")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        assert page.headers["x-content-type-options"] == "nosniff"
        assert "no-cache" in page.headers["cache-control"]
        script = await plain.get("/console/js/api.js")
        assert script.headers["content-type"].startswith("text/javascript")
        assert "<script>" not in page.text and "style=" not in page.text
        for bad in ("/console/%2e%2e/auth.py", "/console/js/%2e%2e/%2e%2e/auth.py",
                    "/console/nope.js", "/console/.hidden", "/console/js", "/console/a%00b.js",
                    "/console/" + "x" * 300 + ".js"):
            assert (await plain.get(bad)).status_code == 404, bad


async def test_login_keyboard_and_workflow_graph(shared_worker: WorkerProcess, browser: Browser,
                                                 key: str, http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    wf = await create_workflow(http, base, LINEAR, tenant=TENANT)
    page = await new_page(browser)
    await page.goto(f"{base}/console")
    await shot(page, "login")
    assert await unlabelled_inputs(page) == []
    # keyboard only: Tab to the field, type, Tab to the login button, Enter submits
    await page.get_by_label("API key or JWT").focus()
    await page.keyboard.type(key)
    await page.keyboard.press("Tab")
    await page.keyboard.press("Control+A")
    await page.keyboard.type(TENANT)
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "login"
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("link", name="Console linear")).to_be_visible()
    assert await page.evaluate("sessionStorage.length") == 1
    assert await unlabelled_inputs(page) == []
    await shot(page, "workflows")

    await page.get_by_label("Search").fill("no such name")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_text("0 workflow(s)")).to_be_visible()

    await page.goto(f"{base}/console#/workflows/{wf}")
    graph = page.locator("svg.graph")
    await expect(graph).to_be_visible()
    assert await graph.locator("g.node rect").count() == len(LINEAR["steps"])
    # first -> check, then/else branches; yes ends the run (next: null); no is last
    assert await graph.locator("path.edge").count() == 3
    await expect(graph.locator("text.edge-label", has_text="then")).to_have_count(1)
    await expect(page.get_by_role("heading", name="Versions")).to_be_visible()
    await expect(page.get_by_text("No schedule.")).to_be_visible()
    assert await unlabelled_inputs(page) == []
    no_script_errors(page)
    await shot(page, "workflow")


async def test_run_timeline_and_details(shared_worker: WorkerProcess, browser: Browser,
                                        key: str, http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    wf = await create_workflow(http, base, LINEAR, tenant=TENANT)
    page = await logged_in(browser, base, key)
    await page.goto(f"{base}/console#/workflows/{wf}")
    await page.get_by_role("button", name="Start a run").click()
    await expect(page.locator("#run-status")).to_have_text("completed", timeout=WAIT_MS)
    run_id = page.url.rsplit("/", 1)[-1]
    done = await wait_status(http, base, run_id, {"completed"}, timeout=WAIT_S)
    bars = page.locator("svg.timeline rect.bar")
    await expect(bars).to_have_count(len(done["stepExecutionHistory"]))
    assert len(done["stepExecutionHistory"]) == 3  # first, check, yes
    await page.get_by_role("button", name="Details").first.click()
    await expect(page.locator("#step-detail")).to_contain_text('"a": 1')
    no_script_errors(page)
    await shot(page, "run")

    await page.goto(f"{base}/console#/runs?workflow={wf}")
    await expect(page.get_by_role("link", name=run_id)).to_be_visible()
    # the live list: a run started elsewhere appears without a reload
    started = await http.post(f"{base}/api/workflows/{wf}/run", json={"input": {}},
                              headers=tenant_headers())
    assert started.status_code in (200, 202), started.text
    await expect(page.get_by_role("link", name=started.json()["runId"])).to_be_visible(
        timeout=WAIT_MS)
    await shot(page, "runs")


async def test_resume_a_paused_run_from_its_form(shared_worker: WorkerProcess,
                                                 browser: Browser, key: str,
                                                 http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    wf = await create_workflow(http, base, APPROVAL_FLOW, tenant=TENANT)
    started = await http.post(f"{base}/api/workflows/{wf}/run", json={"input": {"amount": 5}},
                              headers=tenant_headers())
    run_id = started.json()["runId"]
    await wait_status(http, base, run_id, {"paused"}, timeout=WAIT_S)
    page = await logged_in(browser, base, key)
    await page.goto(f"{base}/console#/runs/{run_id}")
    await expect(page.get_by_role("heading", name="Approve 5?")).to_be_visible()
    await shot(page, "run-paused")
    await page.get_by_role("button", name="approved").click()
    await expect(page.locator("#run-status")).to_have_text("completed", timeout=WAIT_MS)
    done = await wait_status(http, base, run_id, {"completed"}, timeout=WAIT_S)
    assert [s["stepId"] for s in done["stepExecutionHistory"]][-1] == "yes"


async def test_collect_inputs_form_resumes(shared_worker: WorkerProcess, browser: Browser,
                                           key: str, http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    definition = {"name": "Console form", "steps": [
        {"id": "ask", "type": "collect-inputs", "config": {"title": "Your details", "fields": [
            {"name": "email", "type": "email", "required": True},
            {"name": "seats", "type": "integer", "required": True}]}},
        {"id": "end", "type": "end-flow", "config": {"result": {
            "seats": "{{steps.ask.seats}}"}}}]}
    wf = await create_workflow(http, base, definition, tenant=TENANT)
    started = await http.post(f"{base}/api/workflows/{wf}/run", json={"input": {}},
                              headers=tenant_headers())
    run_id = started.json()["runId"]
    await wait_status(http, base, run_id, {"paused"}, timeout=WAIT_S)
    page = await logged_in(browser, base, key)
    await page.goto(f"{base}/console#/runs/{run_id}")
    await page.get_by_label("email").fill("ann@example.com")
    await page.get_by_label("seats").fill("3")
    assert await unlabelled_inputs(page) == []
    await page.get_by_role("button", name="Resume").click()
    await expect(page.locator("#run-status")).to_have_text("completed", timeout=WAIT_MS)
    done = await wait_status(http, base, run_id, {"completed"}, timeout=WAIT_S)
    assert done["result"] == {"seats": 3}


async def test_cancel_a_long_delay_from_the_page(shared_worker: WorkerProcess, browser: Browser,
                                                 key: str, http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    wf = await create_workflow(http, base, SLOW, tenant=TENANT)
    started = await http.post(f"{base}/api/workflows/{wf}/run", json={"input": {}},
                              headers=tenant_headers())
    run_id = started.json()["runId"]
    await wait_status(http, base, run_id, {"running", "paused"}, timeout=WAIT_S)
    page = await logged_in(browser, base, key)
    await page.goto(f"{base}/console#/runs/{run_id}")
    await page.get_by_role("button", name="Cancel").click()
    await expect(page.locator("#run-status")).to_have_text("cancelled", timeout=WAIT_MS)
    await wait_status(http, base, run_id, {"cancelled"}, timeout=WAIT_S)
    await shot(page, "run-cancelled")


async def test_bulk_job_progress(shared_worker: WorkerProcess, browser: Browser, key: str,
                                 http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    rows = "email\n" + "".join(f"user{i}@example.com\n" for i in range(5))
    created = await http.post(f"{base}/api/bulk-jobs",
                              files={"file": ("in.csv", rows.encode(), "text/csv")},
                              data={"type": "email"}, headers=tenant_headers())
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    page = await logged_in(browser, base, key)
    await page.goto(f"{base}/console#/bulk")
    await page.get_by_role("link", name=job_id).click()
    progress = page.locator("progress#bulk-progress")
    await expect(progress).to_have_attribute("max", "5")
    await expect(progress).to_have_attribute("value", "5", timeout=WAIT_MS)
    await expect(page.locator("#bulk-status")).to_have_text("completed")
    async with page.expect_download() as info:
        await page.get_by_role("button", name="Download results CSV").click()
    saved = await (await info.value).path()
    lines = Path(saved).read_text().splitlines()
    assert lines[0].startswith("email,valid") and len(lines) == 1 + 5, lines
    await shot(page, "bulk-job")


@pytest.mark.parametrize("where", ["workflows", "runs", "bulk", "workflow", "run"])
async def test_phone_width_has_no_horizontal_scroll(where: str, shared_worker: WorkerProcess,
                                                    browser: Browser, key: str,
                                                    http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    wf = await create_workflow(http, base, LINEAR, tenant=TENANT)
    run: Any = None
    if where == "run":
        response = await http.post(f"{base}/api/workflows/{wf}/run", params=WAITED,
                                   json={"input": {}}, headers=tenant_headers())
        run = response.json()["runId"]
    page = await logged_in(browser, base, key, width=390, height=844)
    hashes = {"workflows": "#/workflows", "runs": "#/runs", "bulk": "#/bulk",
              "workflow": f"#/workflows/{wf}", "run": f"#/runs/{run}"}
    # the page's last part drawn (not networkidle: the lists poll), then measure
    last = {"workflows": "main table", "runs": "#runs-list table", "bulk": "main table",
            "workflow": "#token-h", "run": "svg.timeline rect.bar"}
    await page.goto(f"{base}/console{hashes[where]}")
    await expect(page.locator(last[where]).first).to_be_visible()
    overflow = await page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]")
    assert overflow[0] <= overflow[1], overflow
    await shot(page, f"phone-{where}")


async def test_bad_credentials_return_to_login(shared_worker: WorkerProcess, browser: Browser,
                                               key: str) -> None:
    base = shared_worker.url
    page = await new_page(browser)
    await page.goto(f"{base}/console#/runs")
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()  # no credential
    await page.get_by_label("API key or JWT").fill("hf_nope_notakey")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.locator("#status")).to_contain_text("Login failed")
    assert await page.evaluate("sessionStorage.length") == 0

    page = await logged_in(browser, base, key)
    # the key stops working (revoked, expired JWT): the next call's 401 goes back to login
    await page.evaluate("""() => sessionStorage.setItem('hopflow.credential',
        JSON.stringify({kind: 'key', key: 'hf_gone_gone', tenant: 'default'}))""")
    await page.get_by_role("link", name="Runs").click()
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    assert "next=" in page.url


async def test_ingest_token_shown_and_rotated(shared_worker: WorkerProcess, browser: Browser,
                                              key: str, http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    wf = await create_workflow(http, base, LINEAR, tenant=TENANT)
    page = await logged_in(browser, base, key)
    await page.goto(f"{base}/console#/workflows/{wf}")
    await page.get_by_role("button", name="Show ingest token").click()
    first = page.locator("#token-facts dd").first
    await expect(first).to_contain_text("whk_")
    before = await first.inner_text()
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Rotate token").click()
    await expect(page.locator("#status")).to_contain_text("rotated")
    after = await first.inner_text()
    assert after.startswith("whk_") and after != before
    # the rotated token starts runs, the console showed the real one
    started = await http.post(f"{base}/api/workflows/ingest/{after}", json={"x": 1},
                              headers={"x-test-no-auth": "1"})
    assert started.status_code == 202, started.text
    await shot(page, "workflow-token")


async def test_rerun_from_the_run_page_lands_on_the_new_run(
        shared_worker: WorkerProcess, browser: Browser, key: str,
        http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    wf = await create_workflow(http, base, LINEAR, tenant=TENANT)
    response = await http.post(f"{base}/api/workflows/{wf}/run", params=WAITED,
                               json={"input": {"n": 4}}, headers=tenant_headers())
    earlier = response.json()["runId"]
    await wait_status(http, base, earlier, {"completed"}, timeout=WAIT_S)
    page = await logged_in(browser, base, key)
    await page.goto(f"{base}/console#/runs/{earlier}")
    await expect(page.locator("#run-status")).to_have_text("completed")
    await page.get_by_role("button", name="Re-run").click()
    # the page moves to the new run and follows it to its end
    await expect(page).not_to_have_url(f"{base}/console#/runs/{earlier}")
    await expect(page.get_by_role("heading", name=re.compile(r"^Run "))).not_to_have_text(
        f"Run {earlier}")
    new_id = page.url.rsplit("/", 1)[-1]
    assert new_id != earlier and new_id.startswith("run_"), page.url
    await expect(page.locator("#run-status")).to_have_text("completed")
    await expect(page.locator("svg.timeline rect.bar")).to_have_count(3)
    done = await wait_status(http, base, new_id, {"completed"}, timeout=WAIT_S)
    assert done["rerunOf"] == earlier and done["trigger"] == "rerun"
    assert done["input"] == {"n": 4}
    no_script_errors(page)
    await shot(page, "run-rerun")


async def test_workflow_page_draws_24_hourly_bars_and_names_as_text(
        shared_worker: WorkerProcess, browser: Browser, key: str,
        http: httpx.AsyncClient) -> None:
    """The runs-per-hour chart from health.hourly, and a hostile workflow name that stays
    text (no markup, no script) in the heading, the list and the chart's page."""
    base = shared_worker.url
    name = f'<img src=x onerror="window.__xss=1"> chart {uuid.uuid4().hex[:6]}'
    wf = await create_workflow(http, base, {**LINEAR, "name": name}, tenant=TENANT)
    for n in range(2):
        response = await http.post(f"{base}/api/workflows/{wf}/run", params=WAITED,
                                   json={"input": {"n": n}}, headers=tenant_headers())
        assert response.json()["status"] == "completed", response.text
    deadline = time.monotonic() + WAIT_S  # the hourly counters are projected asynchronously
    while True:
        health = (await http.get(f"{base}/api/workflows/{wf}/health",
                                 headers=tenant_headers())).json()
        if sum(b["started"] for b in health["hourly"]) >= 2 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert len(health["hourly"]) == 24 and sum(b["started"] for b in health["hourly"]) == 2
    page = await logged_in(browser, base, key)
    await page.goto(f"{base}/console#/workflows/{wf}")
    chart = page.locator("svg.chart")
    await expect(chart.locator("rect.hour")).to_have_count(24)
    await expect(chart).to_have_attribute("aria-label", re.compile(r"last 24 hours: 2 in all"))
    tall = await chart.locator("rect.hour").evaluate_all(
        "rects => rects.filter(r => Number(r.getAttribute('height')) > 0).length")
    assert 1 <= tall <= 2  # this hour (and the last one, at :00)
    await expect(page.locator("main h1")).to_have_text(name)
    assert await page.locator("main img").count() == 0
    assert await page.evaluate("window.__xss") is None
    await shot(page, "workflow-chart")
    await page.goto(f"{base}/console#/workflows")
    await expect(page.get_by_role("link", name=name)).to_be_visible()
    assert await page.locator("main img").count() == 0
    assert await page.evaluate("window.__xss") is None
    no_script_errors(page)
    await shot(page, "workflows-escaped-name")
