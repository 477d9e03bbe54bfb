"""The event-trigger index and its filters (pure: no broker)."""

from __future__ import annotations

import orjson

from streams.triggers.subscriptions import EVENT, Subscriptions, matches


def _head(**over: object) -> dict[str, object]:
    return {"id": "w", "enabled": True, "status": "draft", "latest": 1, "published": None,
            **over}


def _version(trigger: object) -> dict[str, object]:
    return {"version": 1, "definition": orjson.dumps({"name": "n", "trigger": trigger}).decode()}


def test_filters_equality_dotted_paths_and_any_of() -> None:
    data = {"file_type": "pdf", "doc": {"kb": "kb-1", "size": 3}}
    assert matches({}, data)
    assert matches({"file_type": "pdf"}, data)
    assert matches({"doc.kb": "kb-1", "doc.size": 3}, data)
    assert matches({"file_type": ["docx", "pdf"]}, data)
    assert not matches({"file_type": "docx"}, data)
    assert not matches({"file_type": ["docx", "txt"]}, data)
    assert not matches({"doc.missing": None}, data)  # an absent field is not null
    assert not matches({"file_type.x": "pdf"}, data)
    assert not matches({"file_type": "pdf"}, None)


def test_index_finds_only_subscribed_workflows_of_the_type() -> None:
    subs = Subscriptions()
    subs.set("t1", "pdfs", {"type": "event", "event": "document.uploaded",
                            "filters": {"file_type": "pdf"}})
    subs.set("t1", "all", {"type": "event", "event": "document.uploaded"})
    subs.set("t1", "chat", {"type": "event", "event": "chat.message"})
    subs.set("t1", "manual", {"type": "manual"})
    subs.set("t2", "other", {"type": "event", "event": "document.uploaded"})
    assert sorted(subs.for_event("t1", "document.uploaded", {"file_type": "pdf"})) == [
        "all", "pdfs"]
    assert subs.for_event("t1", "document.uploaded", {"file_type": "txt"}) == ["all"]
    assert subs.for_event("t1", "nope", {}) == []
    assert subs.for_event("t2", "document.uploaded", {}) == ["other"]
    # a changed trigger moves the workflow; removing it empties its bucket
    subs.set("t1", "all", {"type": "event", "event": "chat.message"})
    assert subs.for_event("t1", "document.uploaded", {"file_type": "txt"}) == []
    assert sorted(subs.for_event("t1", "chat.message", {})) == ["all", "chat"]
    subs.remove("t1", "chat")
    subs.remove("t1", "all")
    assert subs.subscribed("t1", EVENT, "chat.message") == []
    assert ("t1", EVENT, "chat.message") not in subs._index


def test_monitor_triggers_filter_by_monitor_and_change_type() -> None:
    subs = Subscriptions()
    subs.set("t", "a", {"type": "monitor_event", "monitor_id": "m1",
                        "change_types": ["price_changed"]})
    subs.set("t", "b", {"type": "monitor_event", "monitor_id": "m1"})
    assert sorted(subs.for_monitor("t", "m1", "price_changed", {})) == ["a", "b"]
    assert subs.for_monitor("t", "m1", "removed", {}) == ["b"]
    assert subs.for_monitor("t", "m2", "price_changed", {}) == []


def test_refresh_indexes_only_runnable_workflows() -> None:
    subs = Subscriptions()
    trigger = {"type": "event", "event": "CallAdded"}
    subs.refresh("t", "w", _head(), _version(trigger))
    assert subs.for_event("t", "CallAdded", {}) == ["w"]
    subs.refresh("t", "w", _head(enabled=False), _version(trigger))
    assert subs.for_event("t", "CallAdded", {}) == []
    subs.refresh("t", "w", _head(), _version(trigger))
    subs.refresh("t", "w", _head(status="archived"), _version(trigger))
    assert subs.for_event("t", "CallAdded", {}) == []
    subs.refresh("t", "w", _head(), _version(trigger))
    subs.refresh("t", "w", _head(), None)  # the version row has not arrived yet
    assert subs.for_event("t", "CallAdded", {}) == []
    subs.refresh("t", "w", _head(), _version(trigger))
    subs.refresh("t", "w", None, None)  # deleted
    assert subs.for_event("t", "CallAdded", {}) == []


def test_registry_replica_keeps_the_index() -> None:
    from schemas.registry import entry_key
    from streams.registry import Registry

    reg = Registry.__new__(Registry)
    Registry.__init__(reg, "127.0.0.1:1", "x")

    def put(kind: str, entry_id: str, body: dict[str, object] | None) -> None:
        key = entry_key(kind, "t", entry_id)
        new = None if body is None else {"kind": kind, "tenant": "t", "id": entry_id,
                                         "body": body}
        old = reg.data.get(key)
        reg.on_record(key, old, new)
        if new is None:
            reg.data.pop(key, None)
        else:
            reg.data[key] = new

    on = {"type": "event", "event": "chat.message"}
    put("version", "w:1", _version(on))  # version first, head later
    assert reg.subscriptions.for_event("t", "chat.message", {}) == []
    put("workflow", "w", _head())
    assert reg.subscriptions.for_event("t", "chat.message", {}) == ["w"]
    # an update: head (latest 2) before its version row, then the version
    put("workflow", "w", _head(latest=2))
    assert reg.subscriptions.for_event("t", "chat.message", {}) == []
    put("version", "w:2", {**_version({"type": "manual"}), "version": 2})
    assert reg.subscriptions.for_event("t", "chat.message", {}) == []
    # published version 1 wins over latest
    put("workflow", "w", _head(latest=2, published=1))
    assert reg.subscriptions.for_event("t", "chat.message", {}) == ["w"]
    put("workflow", "w", None)
    assert reg.subscriptions.for_event("t", "chat.message", {}) == []
