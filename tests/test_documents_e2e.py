"""parse -> extract end to end: a real worker on a real broker, documents from a local
HTTP peer and from the worker's file store, and a refused URL failing for good."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from aiohttp import web

from dev.workers import WorkerProcess
from steps.files import LocalFileStore, put_bytes
from tests.helpers import create_workflow, run_and_wait
from tests.pdfs import make_pdf

ORDERS_CSV = "sku;qty;price\nA-1;3;1.234,50\nB-2;1;2,00\n".encode("latin-1")
INVOICE_PDF = make_pdf(["Invoice INV-2041\nDate: 03/04/2025\nTotal: 1,234.50 EUR",
                        "Terms: net 30"], title="Invoice INV-2041", author="ACME GmbH")
INVOICE_SCHEMA = {"type": "object", "required": ["number", "total"], "properties": {
    "number": {"type": "string", "x-regex": r"Invoice (INV-\d+)"},
    "total": {"type": "number", "x-regex": r"Total: ([\d.,]+)"},
    "date": {"type": "string", "format": "date", "x-regex": r"Date: (\S+)",
             "x-date-format": "%d/%m/%Y"},
    "pages": {"type": "integer", "x-path": "page_count"},
    "author": {"type": "string", "x-path": "meta.author"},
}}


@pytest_asyncio.fixture
async def documents() -> AsyncIterator[str]:
    """A local server with a CSV and a PDF; yields its base URL."""
    async def orders(request: web.Request) -> web.Response:
        return web.Response(body=ORDERS_CSV, content_type="text/csv")

    async def invoice(request: web.Request) -> web.Response:
        return web.Response(body=INVOICE_PDF, content_type="application/octet-stream")

    app = web.Application()
    app.router.add_get("/orders.csv", orders)
    app.router.add_get("/files/invoice", invoice)  # no extension, no useful type: magic bytes
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_parse_url_csv_then_extract(shared_worker: WorkerProcess,
                                          http: httpx.AsyncClient, documents: str) -> None:
    base = shared_worker.url
    wf = await create_workflow(http, base, {"name": "orders", "steps": [
        {"id": "parse", "type": "parse", "config": {"url": "{{input.url}}", "max_rows": 100}},
        {"id": "extract", "type": "extract", "config": {"source": "{{steps.parse}}", "fields": {
            "first_sku": {"path": "rows[0].sku", "required": True},
            "quantities": {"path": "rows[*].qty", "type": "array", "items": "integer"},
            "first_price": {"path": "rows[0].price", "type": "number"},
            "rows": {"path": "row_count", "type": "integer"}}}},
    ]})
    run = await run_and_wait(http, base, wf, {"url": f"{documents}/orders.csv"})
    assert run["status"] == "completed", run
    parsed = run["stepExecutionHistory"][0]["output"]
    assert (parsed["format"], parsed["columns"]) == ("csv", ["sku", "qty", "price"])
    assert parsed["rows"][1] == {"sku": "B-2", "qty": "1", "price": "2,00"}
    assert run["result"] == {"first_sku": "A-1", "quantities": [3, 1], "first_price": 1234.5,
                             "rows": 2}


async def test_parse_stored_pdf_then_extract_by_schema(
        shared_worker: WorkerProcess, http: httpx.AsyncClient, documents: str) -> None:
    base = shared_worker.url
    store = LocalFileStore(shared_worker.home / "files")  # the worker's own store
    ref = await put_bytes(store, "default", INVOICE_PDF, name="invoice.pdf",
                          content_type="application/pdf")
    wf = await create_workflow(http, base, {"name": "invoices", "steps": [
        {"id": "parse", "type": "parse", "config": {"file": "{{input.file}}"}},
        {"id": "extract", "type": "extract",
         "config": {"source": "{{steps.parse}}", "schema": INVOICE_SCHEMA}},
    ]})
    run = await run_and_wait(http, base, wf, {"file": {"fileId": ref.file_id}})
    assert run["status"] == "completed", run
    parsed = run["stepExecutionHistory"][0]["output"]
    assert parsed["source"] == {"kind": "file", "fileId": ref.file_id, "name": "invoice.pdf"}
    assert parsed["pages"][1] == "Terms: net 30"
    expected = {"number": "INV-2041", "total": 1234.5, "date": "2025-04-03", "pages": 2,
                "author": "ACME GmbH"}
    assert run["result"] == expected

    # the same PDF by URL (detected by its magic bytes)
    by_url = await create_workflow(http, base, {"name": "invoice by url", "steps": [
        {"id": "parse", "type": "parse", "config": {"url": f"{documents}/files/invoice"}},
        {"id": "extract", "type": "extract",
         "config": {"source": "steps.parse", "schema": INVOICE_SCHEMA}},
    ]})
    fetched = await run_and_wait(http, base, by_url, {})
    assert fetched["status"] == "completed", fetched
    assert fetched["result"] == expected

    # a required field the document lacks fails the run, not retried
    other = await put_bytes(store, "default", make_pdf(["Receipt without number"]), name="r.pdf")
    missing = await run_and_wait(http, base, wf, {"file": {"fileId": other.file_id}})
    assert missing["status"] == "failed", missing
    assert "'number' is required" in missing["error"]

    # a file id of no file (or of another tenant) is a permanent failure with the reason
    foreign = await put_bytes(store, "someone-else", INVOICE_PDF, name="theirs.pdf")
    gone = await run_and_wait(http, base, wf, {"file": {"fileId": foreign.file_id}})
    assert gone["status"] == "failed", gone
    steps = gone["stepExecutionHistory"]
    assert len(steps) == 1 and f"file {foreign.file_id} not found" in steps[0]["error"]


async def test_refused_url_fails_permanently(shared_worker: WorkerProcess,
                                             http: httpx.AsyncClient) -> None:
    """The worker allows 127.0.0.1 only: the metadata address is refused, never retried."""
    base = shared_worker.url
    wf = await create_workflow(http, base, {
        "name": "metadata grab", "retry": {"max_retries": 3, "backoff_seconds": 0.1},
        "steps": [{"id": "parse", "type": "parse",
                   "config": {"url": "http://169.254.169.254/latest/meta-data/"}}]})
    run = await run_and_wait(http, base, wf, {})
    assert run["status"] == "failed", run
    steps = run["stepExecutionHistory"]
    assert [(s["attempt"], s["status"]) for s in steps] == [(1, "failed")]  # no retry loop
    assert "169.254.169.254 is" in steps[0]["error"]
    assert "outbound calls may not reach it" in steps[0]["error"]


async def test_bad_config_is_a_400_naming_the_field(shared_worker: WorkerProcess,
                                                    http: httpx.AsyncClient) -> None:
    response = await http.post(f"{shared_worker.url}/api/workflows", json={
        "name": "bad", "steps": [
            {"id": "parse", "type": "parse", "config": {"content": "a,b", "max_rows": 0}},
            {"id": "extract", "type": "extract",
             "config": {"source": "{{steps.parse}}", "fields": {"x": {"regex": "(["}}}}]})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] in ("steps[0].config.max_rows",
                                                 "steps[1].config.fields.x.regex")
    assert "steps[1].config.fields.x.regex" in response.text
