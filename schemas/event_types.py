"""Every platform event type a workflow can subscribe to, with a sample of its data.

004's 28 department events (their `TriggerEventType` numbers are their
positions in EVENT_TYPES_004) and 002's document and chat events. The sample
is what a test run starts with when the caller gives no payload, and what
GET /api/workflows/event-types shows next to the template variables.
"""

from __future__ import annotations

from typing import Any

EVENT_TYPES_004: tuple[tuple[str, str], ...] = (
    ("CallAdded", "New call/dispatch created"),
    ("CallUpdated", "Existing call updated"),
    ("CallClosed", "Call closed"),
    ("UnitStatusChanged", "Unit status changed"),
    ("PersonnelStaffingChanged", "Personnel staffing level changed"),
    ("PersonnelStatusChanged", "Personnel action status changed"),
    ("UserCreated", "New user added to department"),
    ("UserAssignedToGroup", "User assigned to a group"),
    ("DocumentAdded", "Document uploaded"),
    ("NoteAdded", "Note created"),
    ("UnitAdded", "Unit created"),
    ("LogAdded", "Log entry created"),
    ("CalendarEventAdded", "Calendar event created"),
    ("CalendarEventUpdated", "Calendar event updated"),
    ("ShiftCreated", "Shift created"),
    ("ShiftUpdated", "Shift updated"),
    ("ResourceOrderAdded", "Resource order created"),
    ("ShiftTradeRequested", "Shift trade requested"),
    ("ShiftTradeFilled", "Shift trade filled"),
    ("MessageSent", "New message sent"),
    ("TrainingAdded", "Training created"),
    ("TrainingUpdated", "Training updated"),
    ("InventoryAdjusted", "Inventory quantity changed"),
    ("CertificationExpiring", "Certification nearing expiry"),
    ("FormSubmitted", "Form submitted"),
    ("PersonnelRoleChanged", "User role assignment changed"),
    ("GroupAdded", "Department group created"),
    ("GroupUpdated", "Department group updated"),
)

EVENT_TYPES_002: tuple[tuple[str, str], ...] = (
    ("document.uploaded", "New document uploaded"),
    ("document.processed", "Document finished processing"),
    ("extraction.completed", "Extraction finished"),
    ("chat.message", "New chat message received"),
)

# What a run started by an event reads in its templates (the event is the run's input).
TEMPLATE_VARIABLES = ("event.id", "event.type", "event.source", "event.time", "event.tenant",
                      "event.data.<field>", "input", "steps.<stepId>", "secrets.<name>",
                      "run.id", "run.workflow", "run.version", "run.attempt")

_SAMPLE_DATA: dict[str, dict[str, Any]] = {
    "document.uploaded": {"document_id": "doc-123", "file_name": "invoice.pdf",
                          "file_type": "pdf", "knowledge_base_id": "kb-uuid", "size": 48213},
    "document.processed": {"document_id": "doc-123", "file_type": "pdf", "pages": 3,
                           "knowledge_base_id": "kb-uuid", "status": "processed"},
    "extraction.completed": {"extraction_id": "ext-123", "document_id": "doc-123",
                             "schema": "invoice", "fields": {"total": 1250.0}},
    "chat.message": {"conversation_id": "conv-123", "message_id": "msg-1",
                     "user_id": "user-1", "text": "Hello"},
}


def _department_sample(name: str) -> dict[str, Any]:
    """004's events carry the department and the changed record's id and name."""
    return {"DepartmentId": 1, "ItemId": 1234, "Name": f"Sample {name}",
            "Timestamp": "2024-01-01T00:00:00Z"}


def all_types() -> list[tuple[str, str]]:
    return [*EVENT_TYPES_004, *EVENT_TYPES_002]


KNOWN = frozenset(name for name, _ in all_types())


def sample_data(event_type: str) -> dict[str, Any]:
    found = _SAMPLE_DATA.get(event_type)
    return dict(found) if found is not None else _department_sample(event_type)


def sample_event(event_type: str, tenant: str) -> dict[str, Any]:
    """A CloudEvent of the type, marked as a sample (what a test run without a payload gets)."""
    return {"specversion": "1.0", "id": "sample", "type": event_type,
            "source": "hopflow/sample", "time": "2024-01-01T00:00:00Z", "tenant": tenant,
            "data": sample_data(event_type), "sample": True}


def catalog() -> list[dict[str, Any]]:
    """Every type with its description, 004 number (if any), template variables and sample."""
    numbers = {name: i for i, (name, _) in enumerate(EVENT_TYPES_004)}
    return [{"type": name, "description": description, "value": numbers.get(name),
             "source": "004" if name in numbers else "002",
             "templateVariables": list(TEMPLATE_VARIABLES),
             "samplePayload": sample_event(name, "<tenant>")}
            for name, description in all_types()]
