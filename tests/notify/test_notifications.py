"""Approval requests reach a real webhook receiver on 127.0.0.1 as signed, redacted,
Slack-compatible JSON from the durable outbox; a failing receiver gets retries with backoff
under the same delivery key, and each notification is delivered once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.governance.test_approvals import agent, runtime, said
from tests.notify.receiver import Receiver, receiving
from tether.errors import ConfigError
from tether.notify import Notifier, load_notifications
from tether.notify.outbox import backoff_s, list_notifications
from tether.testing import ScriptedModel, answer
from tether.types import RunStatus

HOOK_SECRET = "nhsec-0123456789abcdef"
API_TOKEN = "tok-live-9f8e7d6c5b4a"  # a secret the agent's reasoning mentions


def config(path: Path, url: str, **extra: Any) -> Path:
    lines = [
        "webhooks:",
        "  - name: ops",
        f"    url: {url}",
        "    secret: ops_hook",
        f"    max_attempts: {extra.get('max_attempts', 8)}",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


class Clock:
    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.at


async def paused_run(tmp_path: Path, **secrets: str) -> Any:
    """A run paused on an approval whose arguments hold an e-mail and reasoning a secret."""
    model = ScriptedModel(
        steps=[
            said(f"closing it; key {API_TOKEN}", "delete_account", account="jane.doe@example.com"),
            answer("done"),
        ]
    )
    known = {"ops_hook": HOOK_SECRET, "crm_token": API_TOKEN, **secrets}
    rt = runtime(tmp_path, model, secrets=known)
    paused = await rt.run(agent(), "close the duplicate account")
    assert paused.status is RunStatus.PAUSED
    return rt, paused.run_id


async def test_an_approval_request_is_delivered_once_signed_and_redacted(tmp_path: Path) -> None:
    rt, run_id = await paused_run(tmp_path)
    with receiving(Receiver(secret=HOOK_SECRET)) as rx, httpx.Client() as client:
        notifier = Notifier(runtime=rt, config_file=config(tmp_path / "n.yaml", rx.url))
        first = notifier.tick(client)
        again = notifier.tick(client)
    assert first.enqueued == 1 and [o.status for o in first.delivered] == ["delivered"]
    assert again.enqueued == 0 and again.delivered == ()
    assert rx.rejected == [] and len(rx.got) == 1
    body = rx.got[0]["body"]
    assert set(body) >= {"text", "blocks"} and body["blocks"][0]["type"] == "section"
    assert body["tether"]["kind"] == "approval_requested" and body["tether"]["run_id"] == run_id
    assert "delete_account" in body["text"]
    sent = str(body)
    assert API_TOKEN not in sent and "jane.doe@example.com" not in sent
    assert HOOK_SECRET not in sent and "[REDACTED" in sent
    (row,) = list_notifications(rt.store.engine)
    assert row.status == "delivered" and row.key.startswith("approval:") and row.attempts == 1
    assert rx.got[0]["delivery"] == row.id
    rt.close()


async def test_a_failing_receiver_gets_retries_with_backoff_under_one_key(tmp_path: Path) -> None:
    rt, _ = await paused_run(tmp_path)
    clock = Clock()
    with receiving(Receiver(secret=HOOK_SECRET, fail_first=2)) as rx, httpx.Client() as client:
        notifier = Notifier(runtime=rt, config_file=config(tmp_path / "n.yaml", rx.url), now=clock)
        statuses = [o.status for o in notifier.tick(client).delivered]
        assert notifier.tick(client).delivered == ()  # not due before its backoff
        for _ in range(2):
            (row,) = list_notifications(rt.store.engine)
            clock.at = row.next_at + timedelta(seconds=0.001)
            statuses += [o.status for o in notifier.tick(client).delivered]
    assert statuses == ["pending", "pending", "delivered"]
    assert len(rx.seen) == 3 and len(set(rx.seen)) == 1  # one idempotency key for every try
    assert len(rx.got) == 1 and rx.rejected == []
    (row,) = list_notifications(rt.store.engine)
    assert row.status == "delivered" and row.attempts == 3 and row.last_error is None
    rt.close()


async def test_a_notification_is_dead_after_its_last_attempt(tmp_path: Path) -> None:
    rt, _ = await paused_run(tmp_path)
    clock = Clock()
    with receiving(Receiver(secret=HOOK_SECRET, fail_first=99)) as rx, httpx.Client() as client:
        path = config(tmp_path / "n.yaml", rx.url, max_attempts=2)
        notifier = Notifier(runtime=rt, config_file=path, now=clock)
        notifier.tick(client)
        clock.at += timedelta(hours=1)
        (last,) = notifier.tick(client).delivered
    assert last.status == "dead" and "HTTP 503" in (last.error or "")
    assert len(rx.seen) == 2
    rt.close()


async def test_a_missing_secret_sends_nothing_and_retries_later(tmp_path: Path) -> None:
    rt, _ = await paused_run(tmp_path)
    with receiving(Receiver(secret=HOOK_SECRET)) as rx, httpx.Client() as client:
        path = tmp_path / "n.yaml"
        path.write_text(f"webhooks:\n  - {{name: ops, url: '{rx.url}', secret: nowhere}}\n")
        (outcome,) = Notifier(runtime=rt, config_file=path).tick(client).delivered
    assert outcome.status == "pending" and "secret 'nowhere' is not set" in (outcome.error or "")
    assert rx.seen == []
    rt.close()


async def test_the_url_may_be_a_secret_too(tmp_path: Path) -> None:
    with receiving(Receiver(secret=HOOK_SECRET)) as rx, httpx.Client() as client:
        rt, _ = await paused_run(tmp_path, ops_url=rx.url)
        path = tmp_path / "n.yaml"
        path.write_text("webhooks:\n  - {name: ops, url_secret: ops_url, secret: ops_hook}\n")
        (outcome,) = Notifier(runtime=rt, config_file=path).tick(client).delivered
    assert outcome.status == "delivered" and len(rx.got) == 1
    rt.close()


def test_backoff_doubles_up_to_a_cap() -> None:
    assert [backoff_s(n) for n in (1, 2, 3)] == [2.0, 4.0, 8.0] and backoff_s(30) == 600.0


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("webhooks: [{name: a, url: 'ftp://x', secret: s}]", "webhooks.0.url"),
        ("alerts: [{name: a, metric: task_success_rate}]", "alerts.0"),
        ("alerts: [{name: a, metric: nonsense, above: 1}]", "alerts.0.metric"),
        ("webhooks: [{name: a, url: 'http://x', secret: s, sned: []}]", "webhooks.0.sned"),
        ("webhooks: [{name: a, secret: s}]", "webhooks.0"),
    ],
)
def test_a_bad_notifications_file_names_the_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "notifications.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"field '{field}'"):
        load_notifications(path)
