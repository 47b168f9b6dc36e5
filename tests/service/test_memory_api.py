"""``/v1/memory`` against a real server: add items, list and read them with provenance, hybrid
search, forget a subject; each route behind its scope, all in the key's tenant."""

from __future__ import annotations

from tests.service.server import client
from tests.service.test_api import B_MEMORY, B_SUBJECT, Api

NOTE = "Alice prefers invoices sent to alice@example.com every monday"


def test_items_are_added_listed_read_and_found_with_provenance(api: Api) -> None:
    with client(api.base, api.key("alpha", "memory:read", "memory:write")) as c:
        r = c.post(
            "/v1/memory/items",
            json={
                "items": [
                    {"text": NOTE, "subject": "alice", "source": "crm:42", "scope": "billing"},
                    {"text": "The office plant needs water on fridays", "trust": "tool"},
                ]
            },
        )
        assert r.status_code == 201, r.text
        note_id, plant_id = r.json()["ids"]
        listed = c.get("/v1/memory/items").json()
        assert {i["id"] for i in listed} == {note_id, plant_id}
        got = c.get(f"/v1/memory/items/{note_id}").json()
        assert got["text"] == NOTE  # PII sealed at rest, opened for the tenant's key
        assert (got["source"], got["scope"], got["subject"], got["trust"], got["tier"]) == (
            "crm:42",
            "billing",
            "alice",
            "user",
            "semantic",
        )
        assert [i["id"] for i in c.get("/v1/memory/items", params={"scope": "billing"}).json()] == [
            note_id
        ]
        hits = c.get("/v1/memory/search", params={"q": "when are invoices sent", "k": 1}).json()
        assert [h["id"] for h in hits] == [note_id]
        assert hits[0]["origin"] == "retrieval" and set(hits[0]["ranks"]) == {"vector", "fulltext"}
        tool_only = c.get(
            "/v1/memory/search", params={"q": "plant water", "trust": ["tool"], "mode": "fulltext"}
        ).json()
        assert [h["id"] for h in tool_only] == [plant_id] and tool_only[0]["trust"] == "tool"
        again = c.post(
            "/v1/memory/items",
            json={
                "items": [
                    {"text": NOTE, "subject": "alice", "source": "crm:42", "scope": "billing"}
                ]
            },
        )
        assert again.json()["ids"] == [note_id]  # the same item is stored once
    files = [api.rt.settings.home / n for n in ("tether.db", "tether.db-wal")]
    assert all(b"alice@example.com" not in f.read_bytes() for f in files if f.exists())


def test_memory_scopes_are_enforced(api: Api) -> None:
    with client(api.base, api.key("alpha", "memory:read")) as c:
        r = c.post("/v1/memory/items", json={"items": [{"text": "x"}]})
        assert r.status_code == 403 and "memory:write" in r.json()["detail"]
        r = c.post("/v1/memory/forget", json={"subject": "alice"})
        assert r.status_code == 403 and "memory:forget" in r.json()["detail"]
    with client(api.base, api.key("alpha", "memory:write")) as c:
        assert c.get("/v1/memory/items").status_code == 403
        assert c.get("/v1/memory/search", params={"q": "x"}).status_code == 403
    with client(api.base, api.key("alpha", "runs:read")) as c:
        assert c.get("/v1/memory/items").status_code == 403


def test_bad_memory_requests_name_the_field(api: Api) -> None:
    with client(api.base, api.key("alpha")) as c:
        r = c.post("/v1/memory/items", json={"items": [{"text": "   "}]})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "text"
        r = c.post("/v1/memory/items", json={"items": [{"text": "x", "trust": "system"}]})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "trust"
        r = c.get("/v1/memory/search", params={"q": "x", "mode": "psychic"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "mode"]
        assert c.get("/v1/memory/items/nope").status_code == 404


def test_forget_a_subject_over_http(api: Api) -> None:
    with client(api.base, api.key("beta", "memory:read", "memory:forget")) as c:
        assert c.get(f"/v1/memory/items/{api.b_item}").status_code == 200
        r = c.post("/v1/memory/forget", json={"subject": B_SUBJECT})
        assert r.status_code == 200, r.text
        report = r.json()
        assert report["counts"]["tether_memory_chunks"] == 1 and report["tenant"] == "beta"
        assert B_SUBJECT not in r.text
        assert c.get(f"/v1/memory/items/{api.b_item}").status_code == 404
        assert c.get("/v1/memory/search", params={"q": B_MEMORY}).json() == []
