"""``/metrics`` reports the notification outbox by status and kind, and each alert rule's
firings and whether it fires now, read from the same tables the notifier writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from tether import Runtime
from tether.notify import AlertRule, alerts, load_notifications, outbox
from tether.service import metrics
from tether.settings import Settings

RULES = """
webhooks:
  - {name: ops, url: "http://127.0.0.1:9/ops", secret: ops_hook, send: [alerts]}
  - {name: pager, url: "http://127.0.0.1:9/pager", secret: ops_hook, send: [alerts]}
alerts:
  - {name: low-success, metric: task_success_rate, below: 0.8, runs: 4, min_runs: 1}
  - {name: costly, metric: cost_per_run, above: 0.5, runs: 4}
"""


def samples(engine: sa.Engine) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.render(engine).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_outbox_statuses_and_alert_firings_are_metrics(tmp_path: Path) -> None:
    rt = Runtime(settings=Settings(home=tmp_path / "home"))
    engine = rt.store.engine
    path = tmp_path / "notifications.yaml"
    path.write_text(RULES)
    config = load_notifications(path)
    low, costly = config.alerts
    now = datetime.now(UTC)
    empty = samples(engine)
    assert empty[("tether_notifications", (("kind", "alert"), ("status", "dead")))] == 0
    assert not any(name.startswith("tether_alert_firing") for name, _ in empty)

    def record(rule: AlertRule, value: float) -> None:
        before = alerts.states(engine).get(rule.name)
        alerts._record(engine, config, rt.redactor, rule, before, value, now)

    record(low, 0.2)  # fires: a notification to each of the two webhooks
    record(low, 1.0)  # resolves
    record(low, 0.1)  # fires again
    record(costly, 0.1)  # below its threshold: a state, no transition
    taken = outbox.claim(engine, owner="t", now=now + timedelta(seconds=1), lease_s=60, limit=3)
    outbox.settle(engine, taken[0], now=now, error=None, max_attempts=3)  # sent
    outbox.settle(engine, taken[1], now=now, error="HTTP 503", max_attempts=1)  # failed
    got = samples(engine)

    def outbox_n(status: str) -> float:
        return got[("tether_notifications", (("kind", "alert"), ("status", status)))]

    assert [outbox_n(s) for s in ("pending", "sending", "delivered", "dead")] == [3, 1, 1, 1]
    assert got[("tether_notifications", (("kind", "approval"), ("status", "pending")))] == 0
    assert got[("tether_alert_firings_total", (("rule", "low-success"),))] == 2
    assert got[("tether_alert_firings_total", (("rule", "costly"),))] == 0
    assert got[("tether_alert_firing", (("rule", "low-success"),))] == 1
    assert got[("tether_alert_firing", (("rule", "costly"),))] == 0
    rt.close()
