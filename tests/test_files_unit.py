"""Pure parts of the files feature: trigger filters, upload records, the retention cutoff."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from history import open_database, projection
from schemas import run_events as ev
from steps import file_trigger
from steps.files import FileError, FileNotFound, LocalFileStore, put_bytes
from streams import file_retention
from streams.triggers import uploads_topic


def test_filters_are_checked_at_save_naming_the_field() -> None:
    assert file_trigger.issues({"type": "file_upload"}) == []
    assert file_trigger.issues({"type": "manual", "max_size": -1}) == []
    ok = {"type": "file_upload", "content_types": ["application/pdf", "image/*", "text/csv"],
          "max_size": 1000}
    assert file_trigger.issues(ok) == []
    for bad, field in [({"content_types": "application/pdf"}, "trigger.content_types"),
                       ({"content_types": ["pdf"]}, "trigger.content_types"),
                       ({"content_types": [1]}, "trigger.content_types"),
                       ({"max_size": 0}, "trigger.max_size"),
                       ({"max_size": True}, "trigger.max_size"),
                       ({"max_size": "10"}, "trigger.max_size")]:
        found = file_trigger.issues({"type": "file_upload", **bad})
        assert [i.field for i in found] == [field], bad


def test_filters_take_exact_types_families_and_sizes() -> None:
    trigger = {"type": "file_upload", "content_types": ["application/pdf", "image/*"],
               "max_size": 100}
    assert file_trigger.refusal(trigger, "application/pdf", 100) is None
    assert file_trigger.refusal(trigger, "image/png", 1) is None
    assert file_trigger.refusal(trigger, "text/csv; charset=utf-8", 1)[:2] == (415, "file")
    assert file_trigger.refusal(trigger, "imagex/png", 1)[:2] == (415, "file")
    assert file_trigger.refusal(trigger, "application/pdf", 101)[:2] == (413, "file")
    assert file_trigger.refusal({"type": "file_upload"}, "anything/else", 10**9) is None


def test_upload_records_are_parsed_or_refused_with_a_reason() -> None:
    file_id = str(uuid.uuid4())
    parsed = uploads_topic.parse(orjson.dumps({"tenant": "acme", "fileId": file_id,
                                               "input": {"a": 1}}))
    assert (parsed.tenant, parsed.file_id, parsed.workflow_id, parsed.input) == \
        ("acme", file_id, None, {"a": 1})
    for raw, reason in [(b"nope", "not JSON"), (b"[]", "JSON object"),
                        (orjson.dumps({"fileId": file_id}), "tenant"),
                        (orjson.dumps({"tenant": "acme", "fileId": "../x"}), "fileId"),
                        (orjson.dumps({"tenant": "acme", "fileId": file_id, "input": []}),
                         "input"),
                        (orjson.dumps({"tenant": "acme", "fileId": file_id,
                                       "workflowId": ""}), "workflowId")]:
        with pytest.raises(uploads_topic.BadRecord, match=reason):
            uploads_topic.parse(raw)


def test_retention_cutoff_is_the_history_retention() -> None:
    assert file_retention.cutoff_ms(1, now=10 * 86400) == 9 * 86400 * 1000
    assert file_retention.cutoff_ms(0.5, now=86400) == 43200 * 1000


async def test_retention_keeps_files_a_run_in_history_names(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = LocalFileStore(tmp_path / "files")
    history = open_database(f"sqlite:///{tmp_path / 'history.sqlite3'}")
    named = await put_bytes(store, "acme", b"named", name="named.pdf")
    loose = await put_bytes(store, "acme", b"loose", name="loose.txt")
    started = ev.decode(ev.encode(
        run_id="r1", sequence=1, type=ev.RUN_STARTED, tenant="acme", workflow_id="wf",
        workflow_version=1, time_ms=named.created_ms, data={
            "trigger": "manual", "input": {"attachment": named.to_json()},
            "idempotencyKey": None, "createdMs": named.created_ms}))
    history.write_now(lambda tx: projection.apply_batch(tx, [started], {}))
    engine = SimpleNamespace(files=store, history=history,
                             settings=SimpleNamespace(history_retention_days=1))
    later = named.created_ms / 1000 + 2 * 86400  # two days on: both past retention
    try:
        with caplog.at_level(logging.INFO, logger="streams.file_retention"):
            assert await file_retention.expire_once(engine) == 0  # type: ignore[arg-type]
            assert await file_retention.expire_once(engine, now=later) == 1  # type: ignore[arg-type]
        assert "retention deleted 1 file" in caplog.text
        assert (await store.stat("acme", named.file_id)).size == 5  # its run is in history
        with pytest.raises(FileNotFound):
            await store.stat("acme", loose.file_id)
        history.write_now(lambda tx: projection.delete_run(tx, "acme", "r1"))
        assert await file_retention.expire_once(engine, now=later) == 1  # type: ignore[arg-type]
        with pytest.raises(FileNotFound):
            await store.stat("acme", named.file_id)
    finally:
        history.close()


class _BrokenStore:
    """A store that fails the way an unreachable S3 endpoint or a bad object does."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    async def stat(self, tenant: str, file_id: str) -> Any:
        self.calls += 1
        raise self.error


async def test_uploads_agent_dead_letters_a_store_outage_instead_of_crashing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`handle` must not raise (the agent would end and the partition stall): a store down
    past the retries, or a file without a readable description, is a dead letter."""
    monkeypatch.setattr(uploads_topic, "STORE_RETRY_SECONDS", 0.0)
    upload = uploads_topic.Upload("acme", str(uuid.uuid4()), None, {}, None)
    for error, reason in [(ConnectionError("endpoint http://10.0.0.1 down"), "unavailable"),
                          (FileError("no readable description"), "cannot be used")]:
        letters: list[str] = []

        async def dead_letter(event: Any, why: str, letters: list[str] = letters, *,
                              kind: str = "") -> None:
            letters.append(why)
        store = _BrokenStore(error)
        engine = SimpleNamespace(files=store, dead_letter=dead_letter)
        started = await uploads_topic.handle(engine, object(), upload)  # type: ignore[arg-type]
        assert started == 0 and len(letters) == 1 and reason in letters[0], letters
        assert "fileId" in letters[0] and "10.0.0.1" not in letters[0]
    assert store.calls == 1  # a FileError is not retried
