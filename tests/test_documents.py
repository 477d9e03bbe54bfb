"""Documents without a broker: the file store, parse's formats and caps, extract's fields."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from steps import extract, parse
from steps.base import ExecContext, StepFailed
from steps.documents.detect import detect
from steps.documents.shape import OUTPUT, OUTPUT_BUDGET
from steps.files import (
    FileEmpty,
    FileError,
    FileNotFound,
    FileTooLarge,
    LocalFileStore,
    put_bytes,
    read_bytes,
    reference_id,
)
from steps.graph import InvalidDefinition, validate_workflow
from tests.pdfs import make_pdf

LATIN1_CSV = "Name;Stadt;Betrag\nJosé Müller;Köln;1.234,50\nRenée;Zürich;12,00\n".encode(
    "latin-1")
INVOICE_PDF = make_pdf(["Invoice INV-2041\nDate: 03/04/2025\nTotal: 1,234.50 EUR",
                        "Page two (terms)"], title="Invoice INV-2041", author="ACME GmbH")


def ctx(store: LocalFileStore | None = None, tenant: str = "acme") -> ExecContext:
    return ExecContext("run-1", tenant, "parse", 1, {"files": store} if store else {})


async def run_parse(config: dict[str, Any], store: LocalFileStore | None = None,
                    tenant: str = "acme") -> dict[str, Any]:
    assert parse.validate(config, "c") == [], parse.validate(config, "c")
    outcome = await parse.execute(config, ctx(store, tenant))
    return outcome.output


async def parse_fails(config: dict[str, Any], match: str,
                      store: LocalFileStore | None = None) -> StepFailed:
    with pytest.raises(StepFailed, match=match) as info:
        await parse.execute(config, ctx(store))
    assert info.value.retryable is False
    return info.value


# --- file store -------------------------------------------------------------------------

async def test_store_put_read_is_tenant_scoped(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)
    ref = await put_bytes(store, "acme", b"a,b\n1,2\n", name="t.csv", content_type="text/csv")
    assert uuid.UUID(ref.file_id) and ref.size == 8 and len(ref.sha256) == 64
    got, data = await read_bytes(store, "acme", ref.file_id)
    assert (got, data) == (ref, b"a,b\n1,2\n")
    assert (tmp_path / "acme" / ref.file_id).read_bytes() == data  # the layout later issues use
    with pytest.raises(FileNotFound):
        await read_bytes(store, "globex", ref.file_id)  # another tenant's: not found
    with pytest.raises(FileNotFound):
        await read_bytes(store, "acme", str(uuid.uuid4()))
    with pytest.raises(FileTooLarge):
        await read_bytes(store, "acme", ref.file_id, max_bytes=4)
    assert ref.to_json()["fileId"] == ref.file_id


async def test_store_refuses_paths_as_ids(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path / "files")
    (tmp_path / "secret.json").write_text("{}")
    for bad in ("../secret", "../../etc/passwd", "x", "{" + str(uuid.uuid4()) + "}",
                str(uuid.uuid4()).replace("-", ""), 42):
        with pytest.raises(FileError):
            await read_bytes(store, "acme", bad)  # type: ignore[arg-type]
    for tenant in ("..", "../acme", "a/b", ""):
        with pytest.raises(FileError):
            await put_bytes(store, tenant, b"x", name="x")
    fid = str(uuid.uuid4())
    assert reference_id({"fileId": fid}) == reference_id({"file_id": fid}) == fid
    with pytest.raises(FileError, match="fileId"):
        reference_id({"name": "x.csv"})



async def test_store_streams_with_a_cap_and_expires(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)

    async def chunks(*parts: bytes):  # type: ignore[no-untyped-def]
        for part in parts:
            yield part

    ref = await store.put_stream("acme", chunks(b"%PDF-1.7\n", b"x" * 200_000), name="a.bin")
    assert ref.size == 200_009 and ref.content_type == "application/pdf"  # sniffed, not named
    assert b"".join([c async for c in store.chunks("acme", ref.file_id)]).startswith(b"%PDF")
    with pytest.raises(FileTooLarge):
        await store.put_stream("acme", chunks(b"a" * 10, b"b" * 10), name="big", max_bytes=15)
    with pytest.raises(FileEmpty):
        await store.put_stream("acme", chunks(), name="empty.txt")
    assert sorted(p.name for p in (tmp_path / "acme").iterdir()) == sorted(
        [ref.file_id, f"{ref.file_id}.json"])  # refused uploads left nothing behind
    assert await store.expire(ref.created_ms) == 0  # not older than the cut-off
    assert await store.expire(ref.created_ms + 1) == 1
    with pytest.raises(FileNotFound):
        await store.stat("acme", ref.file_id)
    again = await put_bytes(store, "acme", b"x", name="x.txt")
    assert await store.delete("acme", again.file_id) is True
    assert await store.delete("acme", again.file_id) is False

# --- format detection -------------------------------------------------------------------

def test_detect_format() -> None:
    assert detect(INVOICE_PDF, "text/plain", "x.txt") == "pdf"  # magic bytes win
    assert detect(b"a,b", "text/csv; charset=utf-8") == "csv"
    assert detect(b"{}", "application/vnd.api+json") == "json"
    assert detect(b"a;b", "application/octet-stream", "https://x.io/export.CSV?x=1") == "csv"
    assert detect(b"a;b", "text/plain", "data.tsv") == "csv"
    assert detect(b"a;b", "text/plain") == "text"
    assert detect(b' [1, 2]') == "json"
    assert detect(b"hello") == "text"


# --- CSV --------------------------------------------------------------------------------

async def test_csv_latin1_semicolons() -> None:
    out = await run_parse({"content_base64": base64.b64encode(LATIN1_CSV).decode()})
    assert out["format"] == "csv" and out["size"] == len(LATIN1_CSV)
    assert out["encoding"] not in ("utf-8", "utf-8-sig")  # detected, not assumed
    assert out["columns"] == ["Name", "Stadt", "Betrag"]
    assert out["rows"] == [{"Name": "José Müller", "Stadt": "Köln", "Betrag": "1.234,50"},
                           {"Name": "Renée", "Stadt": "Zürich", "Betrag": "12,00"}]
    assert (out["row_count"], out["truncated"]) == (2, False)
    assert set(out) == set(OUTPUT)  # every documented key, always


async def test_csv_options_and_ragged_rows() -> None:
    text = "a|b\n1|2\n3\n4|5|6\n"
    out = await run_parse({"content": text, "format": "csv", "delimiter": "|"})
    assert out["rows"] == [{"a": "1", "b": "2"}, {"a": "3", "b": None},
                           {"a": "4", "b": "5", "_extra": ["6"]}]
    bare = await run_parse({"content": "1,2\n3,4\n", "format": "csv", "has_header": False})
    assert (bare["columns"], bare["rows"]) == (None, [["1", "2"], ["3", "4"]])
    dup = await run_parse({"content": "x,,x\n1,2,3\n", "format": "csv"})
    assert dup["columns"] == ["x", "column_2", "x_2"]
    capped = await run_parse({"content": "n\n" + "\n".join(map(str, range(50))),
                              "format": "csv", "max_rows": 10})
    assert (capped["row_count"], capped["truncated"]) == (10, True)
    assert capped["rows"][-1] == {"n": "9"}


async def test_csv_output_budget() -> None:
    row = "x" * 200
    out = await run_parse({"content": "col\n" + "\n".join([row] * 5000), "format": "csv"})
    assert out["truncated"] is True and 0 < out["row_count"] < 5000
    assert out["row_count"] * (len(row) + 10) <= OUTPUT_BUDGET


# --- JSON and text ----------------------------------------------------------------------

async def test_json_and_text() -> None:
    out = await run_parse({"content": '{"invoice": {"number": "INV-1", "total": 12.5}}'})
    assert (out["format"], out["data"]) == ("json", {"invoice": {"number": "INV-1",
                                                                 "total": 12.5}})
    text = await run_parse({"content": "plain words", "name": "notes.txt"})
    assert (text["format"], text["text"], text["rows"]) == ("text", "plain words", None)
    big = await run_parse({"content": "é" * OUTPUT_BUDGET, "format": "text"})
    assert big["truncated"] is True and len(big["text"].encode()) <= OUTPUT_BUDGET
    arr = await run_parse({"content": "[" + ",".join(['"' + "y" * 100 + '"'] * 5000) + "]"})
    assert arr["truncated"] is True and 0 < len(arr["data"]) < 5000


async def test_bad_documents_fail_permanently() -> None:
    await parse_fails({"content": '{"a": 1,'}, "invalid JSON")
    await parse_fails({"content": "just text", "format": "pdf"}, "not a PDF")
    await parse_fails({"content": "%PDF-1.4\nnot really a pdf", "format": "pdf"},
                      "not a readable PDF")
    binary = base64.b64encode(b"\x00\x01\x02\xff\xfe" * 50).decode()
    await parse_fails({"content_base64": binary, "format": "text"}, "binary, not text")
    await parse_fails({"content_base64": "not base64!"}, "not base64")
    await parse_fails({"content": "abc", "encoding": "no-such-codec"}, "unknown encoding")
    latin = base64.b64encode(LATIN1_CSV).decode()
    await parse_fails({"content_base64": latin, "encoding": "utf-8"}, "not valid utf-8")


# --- PDF --------------------------------------------------------------------------------

async def test_pdf_text_pages_meta() -> None:
    out = await run_parse({"content_base64": base64.b64encode(INVOICE_PDF).decode()})
    assert out["format"] == "pdf" and out["page_count"] == 2
    assert out["pages"][0].splitlines() == ["Invoice INV-2041", "Date: 03/04/2025",
                                            "Total: 1,234.50 EUR"]
    assert out["pages"][1] == "Page two (terms)"
    assert out["text"] == "\n\n".join(out["pages"])
    assert out["meta"]["title"] == "Invoice INV-2041" and out["meta"]["author"] == "ACME GmbH"
    assert (out["truncated"], out["encoding"]) == (False, None)
    many = make_pdf([f"page {i}" for i in range(1, 8)])
    capped = await run_parse({"content_base64": base64.b64encode(many).decode(),
                              "max_pages": 3})
    assert capped["pages"] == ["page 1", "page 2", "page 3"]
    assert (capped["page_count"], capped["truncated"]) == (7, True)


# --- sources ----------------------------------------------------------------------------

async def test_parse_by_file_reference(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)
    ref = await put_bytes(store, "acme", INVOICE_PDF, name="invoice.pdf",
                          content_type="application/pdf")
    out = await run_parse({"file": ref.to_json()}, store)
    assert out["page_count"] == 2
    assert out["source"] == {"kind": "file", "fileId": ref.file_id, "name": "invoice.pdf"}
    by_id = await run_parse({"file_id": ref.file_id}, store)
    assert by_id["text"] == out["text"]
    await parse_fails({"file": ref.to_json()}, "not found", LocalFileStore(tmp_path / "x"))
    with pytest.raises(StepFailed, match="not found"):
        await parse.execute({"file": ref.to_json()}, ctx(store, tenant="globex"))
    await parse_fails({"file": None}, "file reference is empty", store)
    await parse_fails({"file": {"fileId": "../acme/x"}}, "not a UUID", store)
    await parse_fails({"file": ref.to_json()}, "no file store")


class Peer:
    """A local HTTP server with a CSV, a 404 and a 503."""

    def __init__(self) -> None:
        self.app = web.Application()
        self.app.router.add_get("/export", self.export)
        self.app.router.add_get("/gone", self.status(404))
        self.app.router.add_get("/busy", self.status(503))
        self.port = 0

    async def export(self, request: web.Request) -> web.Response:
        return web.Response(body=LATIN1_CSV, content_type="text/csv")

    @staticmethod
    def status(code: int) -> Any:
        async def handler(request: web.Request) -> web.Response:
            return web.Response(status=code, text="no")
        return handler


@pytest_asyncio.fixture
async def peer() -> AsyncIterator[Peer]:
    p = Peer()
    runner = web.AppRunner(p.app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    p.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield p
    await runner.cleanup()


async def test_parse_url(peer: Peer) -> None:
    base = f"http://127.0.0.1:{peer.port}"
    out = await run_parse({"url": f"{base}/export"})
    assert out["format"] == "csv" and out["rows"][0]["Name"] == "José Müller"
    assert out["source"] == {"kind": "url", "url": f"{base}/export"}
    failed = await parse_fails({"url": f"{base}/gone"}, "HTTP 404")
    assert failed.output["status"] == 404
    with pytest.raises(StepFailed, match="HTTP 503") as busy:
        await parse.execute({"url": f"{base}/busy"}, ctx())
    assert busy.value.retryable is True
    refused = await parse_fails({"url": "http://169.254.169.254/latest/meta-data"},
                                "169.254.169.254 is")
    assert refused.request["url"] == "http://169.254.169.254/latest/meta-data"


# --- parse validation -------------------------------------------------------------------

def test_parse_validation_names_fields() -> None:
    def fields(config: dict[str, Any]) -> list[str]:
        return [i.field for i in parse.validate(config, "steps[0].config")]
    assert fields({}) == ["steps[0].config.url"]
    assert fields({"url": "https://x.io/a.csv", "content": "x"}) == ["steps[0].config.url"]
    assert fields({"url": "ftp://x.io/a.csv"}) == ["steps[0].config.url"]
    assert fields({"content": "x", "format": "xlsx"}) == ["steps[0].config.format"]
    assert fields({"content": "x", "delimiter": ";;"}) == ["steps[0].config.delimiter"]
    assert fields({"content": "x", "max_rows": 0}) == ["steps[0].config.max_rows"]
    assert fields({"content": "x", "max_pages": 501}) == ["steps[0].config.max_pages"]
    assert fields({"content": "x", "has_header": "yes"}) == ["steps[0].config.has_header"]
    assert fields({"file": 3}) == ["steps[0].config.file"]
    assert fields({"file": "{{input.file}}", "max_rows": 10}) == []
    assert fields({"url": "{{input.url}}", "headers": {"Authorization": "{{secrets.t}}"}}) == []


# --- extract ----------------------------------------------------------------------------

def doc_context(doc: dict[str, Any]) -> dict[str, Any]:
    return {"input": {}, "steps": {"parse": doc}, "secrets": {}, "run": {}}


def run_extract(config: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    issues = extract.validate(config, "c")
    assert issues == [], issues
    return extract.execute(config, doc_context(doc))


CSV_DOC = {"format": "csv", "rows": [{"sku": "A1", "qty": "3", "price": "1.234,50",
                                      "paid": "yes", "due": "2025-04-03"},
                                     {"sku": "B2", "qty": "1", "price": "2,00", "paid": "no",
                                      "due": "2025-05-01T10:00:00"}], "text": None}
PDF_DOC = {"format": "pdf", "text": "Invoice INV-2041\nDate: 03/04/2025\n"
                                    "Total: 1,234.50 EUR\nItems: 3, 4, 5", "rows": None}


def test_extract_jmespath_typed() -> None:
    out = run_extract({"source": "{{steps.parse}}", "fields": {
        "first_sku": "rows[0].sku",
        "qty": {"path": "rows[0].qty", "type": "integer"},
        "price": {"path": "rows[0].price", "type": "number"},
        "paid": {"path": "rows[1].paid", "type": "boolean"},
        "due": {"path": "rows[1].due", "type": "date"},
        "skus": {"path": "rows[*].sku", "type": "array"},
        "qtys": {"path": "rows[*].qty", "type": "array", "items": "integer"},
        "row": {"path": "rows[0]", "type": "object"},
        "missing": {"path": "rows[0].nope", "default": "n/a"},
    }}, CSV_DOC)
    assert out == {"first_sku": "A1", "qty": 3, "price": 1234.5, "paid": False,
                   "due": "2025-05-01", "skus": ["A1", "B2"], "qtys": [3, 1],
                   "row": CSV_DOC["rows"][0], "missing": "n/a"}
    by_path = run_extract({"source": "steps.parse", "fields": {"n": "length(rows)"}}, CSV_DOC)
    assert by_path == {"n": 2}


def test_extract_regex() -> None:
    out = run_extract({"source": "{{steps.parse}}", "fields": {
        "invoice_number": {"regex": r"Invoice (?P<invoice_number>INV-\d+)"},
        "total": {"regex": r"Total: ([\d.,]+)", "type": "number"},
        "currency": {"regex": r"Total: [\d.,]+ (?P<cur>[A-Z]{3})", "group": "cur"},
        "date": {"regex": r"Date: (\S+)", "type": "date", "format": "%d/%m/%Y"},
        "items": {"regex": r"\d+", "path": "text", "all": True, "type": "integer"},
        "whole": {"regex": r"INV-\d+"},
        "absent": {"regex": r"PO: (\d+)"},
    }}, PDF_DOC)
    assert out == {"invoice_number": "INV-2041", "total": 1234.5, "currency": "EUR",
                   "date": "2025-04-03", "items": [2041, 3, 4, 2025, 1, 234, 50, 3, 4, 5],
                   "whole": "INV-2041", "absent": None}
    plain = extract.execute({"source": "{{input.note}}", "fields": {"n": {"regex": r"#(\d+)",
                                                                          "type": "integer"}}},
                            {"input": {"note": "ticket #77"}, "steps": {}})
    assert plain == {"n": 77}
    many = run_extract({"source": "{{steps.parse}}", "fields": {
        "digits": {"regex": r"\d", "all": True}}}, {"text": "7" * 3000})
    assert many["digits"] == ["7"] * 1000  # at most 1000 matches


def test_extract_schema_form() -> None:
    schema = {"type": "object", "required": ["invoice_number", "total"], "properties": {
        "invoice_number": {"type": "string", "x-regex": r"Invoice (INV-\d+)"},
        "total": {"type": ["number", "null"], "x-regex": r"Total: ([\d.,]+)"},
        "date": {"type": "string", "format": "date", "x-regex": r"Date: (\S+)",
                 "x-date-format": "%d/%m/%Y"},
        "format": {"type": "string"},  # the path defaults to the property name
    }}
    out = run_extract({"source": "{{steps.parse}}", "schema": schema}, PDF_DOC)
    assert out == {"invoice_number": "INV-2041", "total": 1234.5, "date": "2025-04-03",
                   "format": "pdf"}
    with pytest.raises(StepFailed, match="'total' is required"):
        run_extract({"source": "{{steps.parse}}", "schema": schema},
                    {**PDF_DOC, "text": "Invoice INV-1"})


def test_extract_failures_are_clear() -> None:
    with pytest.raises(StepFailed, match=r"'qty' should be integer: 'many' is not a number"):
        run_extract({"source": "{{steps.parse}}", "fields": {
            "qty": {"path": "rows[0].sku", "type": "integer"}}},
            {"rows": [{"sku": "many"}]})
    with pytest.raises(StepFailed, match="'po' is required, but path po"):
        run_extract({"source": "{{steps.parse}}", "fields": {"po": {"path": "po",
                                                                    "required": True}}}, {})
    with pytest.raises(StepFailed, match="is not a date"):
        run_extract({"source": "{{steps.parse}}", "fields": {
            "d": {"regex": r"Date: (\S+)", "type": "date"}}}, PDF_DOC)  # not ISO, no format
    with pytest.raises(StepFailed, match="needs text"):
        run_extract({"source": "{{steps.parse}}", "fields": {
            "x": {"path": "rows", "regex": "A"}}}, CSV_DOC)
    with pytest.raises(StepFailed, match="time budget"):
        run_extract({"source": "{{steps.parse}}", "fields": {
            "slow": {"regex": r"(x+x+)+y"}}}, {"text": "x" * 5000})


def test_extract_validation_names_fields() -> None:
    def fields(config: dict[str, Any]) -> list[str]:
        return [i.field for i in extract.validate(config, "c")]
    ok = {"source": "{{steps.parse}}"}
    assert fields({"fields": {"a": "x"}}) == ["c.source"]
    assert fields({**ok}) == ["c.fields"]
    assert fields({**ok, "fields": {"a": "x"}, "schema": {}}) == ["c.fields"]
    assert fields({**ok, "schema_id": "invoice-schema"}) == ["c.schema_id"]
    assert fields({**ok, "fields": {"a": {"regex": "(unclosed"}}}) == ["c.fields.a.regex"]
    assert fields({**ok, "fields": {"a": {"path": "rows[0"}}}) == ["c.fields.a.path"]
    assert fields({**ok, "fields": {"a": {"path": "x", "type": "money"}}}) == ["c.fields.a.type"]
    assert fields({**ok, "fields": {"a": {"regex": "(x)", "group": "y"}}}) == ["c.fields.a.group"]
    assert fields({**ok, "fields": {"a": {"path": "x", "typ": "string"}}}) == ["c.fields.a.typ"]
    assert fields({**ok, "fields": {"a": {}}}) == ["c.fields.a.path"]
    assert fields({**ok, "schema": {"properties": {"t": {"type": "float"}}}}) == [
        "c.schema.properties.t.type"]
    assert fields({**ok, "fields": {f"f{i}": "x" for i in range(101)}}) == ["c.fields"]


def test_workflow_save_names_the_step_field() -> None:
    body = {"name": "invoices", "steps": [
        {"id": "parse", "type": "parse", "config": {"file": "{{input.file}}"}},
        {"id": "extract", "type": "extract",
         "config": {"source": "{{steps.parse}}", "fields": {"total": {"regex": "(["}}}}]}
    with pytest.raises(InvalidDefinition) as info:
        validate_workflow(body)
    assert [i.field for i in info.value.issues] == ["steps[1].config.fields.total.regex"]
    body["steps"][1]["config"]["fields"]["total"]["regex"] = r"Total: (\d+)"
    assert validate_workflow(body)["steps"][1]["type"] == "extract"


def test_metadata_for_the_step_types_endpoint() -> None:
    for module in (parse, extract):
        assert isinstance(module.TITLE, str) and module.TITLE
        assert all(isinstance(v, str) for v in {**module.CONFIG, **module.OUTPUT}.values())
    assert {"url", "file", "content", "format", "max_rows"} <= set(parse.CONFIG)
    assert {"rows", "data", "text", "pages", "meta", "truncated"} <= set(parse.OUTPUT)
