"""Secret and credential ops, without Kafka: a dict stands in for the registry table."""

from __future__ import annotations

from typing import Any

import pytest

from tests.control_table import Table


@pytest.fixture
def table() -> Table:
    return Table()


def cred(id: str = "c1", **extra: Any) -> dict[str, Any]:
    return {"id": id, "name": "Hook", "type": "http_bearer", "public": {},
            "secret_names": ["token"], "ciphertext": "ct-1", **extra}


# ---------------------------------------------------------------- secrets

def test_put_creates_then_replaces_keeping_creation(table: Table) -> None:
    first = table.run("secret.put", {"name": "tok", "ciphertext": "ct-1"}, actor="key:a")
    assert first["ok"] and first["result"] == {"name": "tok", "created": True}
    created = dict(table.body("secret/t/tok"))
    again = table.run("secret.put", {"name": "tok", "ciphertext": "ct-2"}, actor="key:b")
    assert again["result"] == {"name": "tok", "created": False}
    row = table.body("secret/t/tok")
    assert row["ciphertext"] == "ct-2"
    assert (row["created_ms"], row["created_by"]) == (created["created_ms"], "key:a")
    assert row["updated_by"] == "key:b" and row["updated_ms"] > created["updated_ms"]


@pytest.mark.parametrize("name", ["", "1abc", "a-b", "a b", "x" * 65, "é"])
def test_put_refuses_bad_names(table: Table, name: str) -> None:
    out = table.run("secret.put", {"name": name, "ciphertext": "ct"})
    assert (out["ok"], out["status"], out["field"]) == (False, 400, "name")
    assert not table


def test_put_needs_a_ciphertext(table: Table) -> None:
    out = table.run("secret.put", {"name": "tok"})
    assert (out["status"], out["field"]) == (400, "ciphertext")
    assert table.run("secret.put", {"name": "tok", "value": "plain"})["status"] == 400


def test_delete_and_404(table: Table) -> None:
    table.run("secret.put", {"name": "tok", "ciphertext": "ct"})
    assert table.run("secret.delete", {"name": "tok"})["result"]["deleted"] is True
    assert "secret/t/tok" not in table
    missing = table.run("secret.delete", {"name": "tok"})
    assert (missing["ok"], missing["status"]) == (False, 404)


def test_secrets_are_per_tenant(table: Table) -> None:
    table.run("secret.put", {"name": "tok", "ciphertext": "a"}, tenant="a")
    assert table.run("secret.delete", {"name": "tok"}, tenant="b")["status"] == 404
    assert table.body("secret/a/tok")["ciphertext"] == "a"


def test_rotate_swaps_only_the_ciphertext_it_read(table: Table) -> None:
    table.run("secret.put", {"name": "tok", "ciphertext": "old"}, actor="key:a")
    before = dict(table.body("secret/t/tok"))
    stale = table.run("secret.rotate", {"name": "tok", "ciphertext": "new", "previous": "x"},
                      actor="operator")
    assert stale["result"]["rotated"] is False and table.body("secret/t/tok") == before
    out = table.run("secret.rotate", {"name": "tok", "ciphertext": "new", "previous": "old"},
                    actor="operator")
    assert out["result"]["rotated"] is True
    row = table.body("secret/t/tok")
    assert row["ciphertext"] == "new"
    assert (row["updated_ms"], row["updated_by"]) == (before["updated_ms"], "key:a")
    gone = table.run("secret.rotate", {"name": "nope", "ciphertext": "n", "previous": "o"})
    assert gone["result"]["rotated"] is False and "secret/t/nope" not in table


# ---------------------------------------------------------------- credentials

def test_credential_create_update_delete(table: Table) -> None:
    assert table.run("credential.create", cred())["result"] == {"id": "c1"}
    row = table.body("credential/t/c1")
    assert (row["type"], row["secret_names"], row["ciphertext"]) == ("http_bearer", ["token"],
                                                                     "ct-1")
    dup = table.run("credential.create", cred())
    assert (dup["status"], dup["field"]) == (409, "id")
    out = table.run("credential.update", cred(name="Renamed", ciphertext="ct-2",
                                              base_updated_ms=row["updated_ms"]))
    assert out["ok"], out
    row2 = table.body("credential/t/c1")
    assert (row2["name"], row2["ciphertext"], row2["created_ms"]) == (
        "Renamed", "ct-2", row["created_ms"])
    stale = table.run("credential.update", cred(base_updated_ms=row["updated_ms"]))
    assert stale["status"] == 409 and table.body("credential/t/c1")["name"] == "Renamed"
    assert table.run("credential.delete", {"id": "c1"})["ok"]
    assert table.run("credential.delete", {"id": "c1"})["status"] == 404
    assert table.run("credential.update", cred())["status"] == 404


def test_credential_type_is_stored_canonical_and_checked(table: Table) -> None:
    assert table.run("credential.create", cred(type="HttpBearer"))["ok"]
    assert table.body("credential/t/c1")["type"] == "http_bearer"
    bad = table.run("credential.create", cred("c2", type="carrier_pigeon"))
    assert (bad["status"], bad["field"]) == (400, "type")
    long_name = table.run("credential.create", cred("c3", name="x" * 251))
    assert (long_name["status"], long_name["field"]) == (400, "name")


def test_plan_caps_credentials_on_create(table: Table) -> None:
    assert table.run("credential.create", cred("a"), plan="free")["ok"]
    assert table.run("credential.create", cred("b"), plan="free")["ok"]
    third = table.run("credential.create", cred("c"), plan="free")
    assert (third["ok"], third["status"], third["field"]) == (False, 400, "plan.credentials")
    assert "free allows at most 2 credentials" in third["message"]
    assert "credential/t/c" not in table
    assert table.run("credential.update", cred("a", name="still fine"), plan="free")["ok"]
    assert table.run("credential.create", cred("c"), plan="paid")["ok"]
    assert table.run("credential.create", cred("d"), plan="unlimited")["ok"]
    table.run("credential.delete", {"id": "a"})
    table.run("credential.delete", {"id": "b"})
    table.run("credential.delete", {"id": "c"})
    assert table.run("credential.create", cred("e"), plan="free")["ok"]


def test_credential_rotate_is_compare_and_swap(table: Table) -> None:
    table.run("credential.create", cred())
    stale = table.run("credential.rotate", {"id": "c1", "ciphertext": "n", "previous": "zz"})
    assert stale["result"]["rotated"] is False
    assert table.run("credential.rotate", {"id": "c1", "ciphertext": "n",
                                           "previous": "ct-1"})["result"]["rotated"] is True
    assert table.body("credential/t/c1")["ciphertext"] == "n"
