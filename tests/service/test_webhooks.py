"""Webhook triggers against a real server: a signed delivery starts one run with its origin
journaled; a bad signature, an old timestamp, a replayed body or a duplicate key starts nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.service.server import serving
from tether import Runtime
from tether.service import Service, create_app
from tether.service.triggers import SIGNATURE, TIMESTAMP, load_triggers, sign
from tether.settings import Settings
from tether.testing import ScriptedModel, answer

SECRET = "whsec-test-0123456789"
TRIGGERS = """
triggers:
  - name: new-ticket
    agent: echoer
    tenant: acme
    secret: TICKET_HOOK
    goal: "Triage ticket {ticket.id}: {ticket.title}"
  - name: by-id
    agent: echoer
    tenant: acme
    secret: TICKET_HOOK
    goal: "Look at {ticket.id}"
    dedupe: "{ticket.id}"
"""


@pytest.fixture
def hook(tmp_path: Path) -> Iterator[tuple[str, Runtime]]:
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "echoer.yaml").write_text("name: echoer\nmodel: scripted\n")
    (tmp_path / "triggers.yaml").write_text(TRIGGERS)
    settings = Settings(home=tmp_path / "home", secrets={"TICKET_HOOK": SECRET})
    rt = Runtime(settings=settings, models={"scripted": ScriptedModel(steps=[answer("ok")])})
    svc = Service(
        runtime=rt, agents_dir=tmp_path / "agents", triggers_file=tmp_path / "triggers.yaml"
    )
    with serving(create_app(svc)) as base:
        yield base, rt


def post(
    base: str, name: str, payload: object, *, secret: str = SECRET, ts: int | None = None
) -> httpx.Response:
    body = json.dumps(payload).encode()
    stamp = str(int(time.time()) if ts is None else ts)
    headers = {TIMESTAMP: stamp, SIGNATURE: sign(secret, stamp, body)}
    return httpx.post(f"{base}/v1/triggers/{name}", content=body, headers=headers, timeout=30)


def runs(rt: Runtime) -> list[str]:
    return [r.goal for r in rt.store.runs.list(tenant="acme")]


TICKET = {"ticket": {"id": 42, "title": "printer on fire"}}


def test_a_signed_delivery_starts_one_run_with_its_origin(hook: tuple[str, Runtime]) -> None:
    base, rt = hook
    r = post(base, "new-ticket", TICKET)
    assert r.status_code == 202, r.text
    run_id = r.json()["run_id"]
    record = rt.store.runs.get(run_id)
    assert record.goal == "Triage ticket 42: printer on fire" and record.tenant == "acme"
    (started,) = rt.store.journal.read(run_id, kinds=["run_started"])
    assert started.payload.origin["trigger"] == "new-ticket"  # type: ignore[union-attr]


def test_bad_signatures_old_timestamps_and_replays_start_nothing(
    hook: tuple[str, Runtime],
) -> None:
    base, rt = hook
    assert post(base, "new-ticket", TICKET, secret="wrong").status_code == 401
    old = post(base, "new-ticket", TICKET, ts=int(time.time()) - 301)
    assert old.status_code == 401 and "away from now" in old.json()["detail"]
    unsigned = httpx.post(f"{base}/v1/triggers/new-ticket", json=TICKET, timeout=30)
    assert unsigned.status_code == 401
    assert runs(rt) == []
    body = json.dumps(TICKET).encode()
    stamp = str(int(time.time()))
    headers = {TIMESTAMP: stamp, SIGNATURE: sign(SECRET, stamp, body)}
    first = httpx.post(f"{base}/v1/triggers/new-ticket", content=body, headers=headers)
    replay = httpx.post(f"{base}/v1/triggers/new-ticket", content=body, headers=headers)
    assert first.status_code == 202 and replay.status_code == 409
    tampered = httpx.post(
        f"{base}/v1/triggers/new-ticket", content=body.replace(b"42", b"43"), headers=headers
    )
    assert tampered.status_code == 401
    assert len(runs(rt)) == 1


def test_a_dedupe_key_starts_one_run_per_key(hook: tuple[str, Runtime]) -> None:
    base, rt = hook
    assert post(base, "by-id", TICKET).status_code == 202
    time.sleep(1.1)  # a new timestamp: a new signed body, the same ticket
    again = post(base, "by-id", TICKET)
    assert again.status_code == 409 and "delivered before" in again.json()["detail"]
    assert post(base, "by-id", {"ticket": {"id": 7}}).status_code == 202
    assert sorted(runs(rt)) == ["Look at 42", "Look at 7"]


def test_unknown_triggers_and_missing_fields_are_named(
    hook: tuple[str, Runtime], tmp_path: Path
) -> None:
    base, rt = hook
    assert post(base, "nope", TICKET).status_code == 404
    missing = post(base, "new-ticket", {"ticket": {"id": 1}})
    assert missing.status_code == 422 and "ticket.title" in missing.json()["detail"]
    assert runs(rt) == []
    (tmp_path / "bad.yaml").write_text("triggers:\n  - name: x\n    agent: a\n")
    with pytest.raises(Exception, match=r"field 'triggers\.0\.tenant'"):
        load_triggers(tmp_path / "bad.yaml")
