"""A sender killed (SIGKILL) mid-delivery loses nothing: the alert's notification, already in
the outbox, is sent again by the next sender under the same delivery key, and the rule, still
firing, notifies no more."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from tests.notify.receiver import Receiver, receiving
from tests.notify.test_notifications import HOOK_SECRET
from tests.test_durable import Env

CONFIG = """
lease_s: 1
webhooks:
  - {{name: ops, url: "{url}", secret: ops_hook}}
alerts:
  - {{name: any-failure, metric: failed_runs, above: -1, min_runs: 0}}
"""


def test_a_sender_killed_mid_delivery_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    env = Env(tmp_path, TETHER_SECRET_OPS_HOOK=HOOK_SECRET)
    with receiving(Receiver(secret=HOOK_SECRET, hold_first=True)) as rx:
        (tmp_path / "notifications.yaml").write_text(CONFIG.format(url=rx.url))
        sender = env.spawn("alerts", "check")
        assert rx.holding.wait(120), env.output(sender)  # the POST is in flight
        sender.send_signal(signal.SIGKILL)
        sender.wait(timeout=30)
        rx.release.set()
        deadline = time.monotonic() + 120
        while not rx.got:  # the claim expires (lease_s: 1), then another sender takes it
            assert time.monotonic() < deadline, rx.seen
            out = env.tether("notifications", "send", "--json")
            assert out.returncode == 0, out.stderr
            time.sleep(0.2)
        again = env.tether("alerts", "check", "--json")
        listed = env.tether("notifications", "list", "--json")
    assert sender.returncode == -signal.SIGKILL
    assert len(rx.seen) == 2 and len(set(rx.seen)) == 1  # the same key, sent twice
    assert len(rx.got) == 1 and rx.rejected == []
    assert rx.got[0]["body"]["tether"]["kind"] == "alert_firing"
    report = json.loads(again.stdout)
    assert report["transitions"] == [] and report["deliveries"] == []  # still firing: quiet
    (item,) = json.loads(listed.stdout)
    assert item["status"] == "delivered" and item["attempts"] == 2
    assert item["id"] == rx.seen[0]


def test_serve_and_worker_refuse_a_bad_notifications_file_naming_the_field(
    tmp_path: Path,
) -> None:
    env = Env(tmp_path)
    (tmp_path / "notifications.yaml").write_text("alerts: [{name: x, metric: bogus, above: 1}]\n")
    for command in (["serve", "--port", "0"], ["worker", "--executor-id", "w1"]):
        out = env.tether(*command)
        assert out.returncode == 64, (command, out.stderr[-2000:])
        assert "field 'alerts.0.metric'" in out.stderr
