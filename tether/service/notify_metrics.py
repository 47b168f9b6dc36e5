"""``/metrics`` for notifications and alerts, read from the outbox and the alert tables.

- ``tether_notifications{status, kind}``: outbox rows by status (``pending`` waiting to be
  sent or retried, ``sending`` claimed by a sender, ``delivered`` sent, ``dead`` failed after
  the webhook's last attempt) and kind (``approval``, ``alert``); every status is reported,
  0 when empty, so a rule like ``tether_notifications{status="dead"} > 0`` has a series.
- ``tether_alert_firings{rule}``: how many times each rule started firing (a counter, from
  ``tether_alert_transitions``).
- ``tether_alert_firing{rule}``: 1 while the rule fires, 0 otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import get_args

import sqlalchemy as sa
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from tether.notify.outbox import Status
from tether.store.schema import alert_transitions, alerts, notifications

STATUSES: tuple[str, ...] = get_args(Status)
KINDS = ("approval", "alert")


def collect(conn: sa.Connection) -> Iterator[Metric]:
    """The notification and alert families, from three grouped queries."""
    outbox = GaugeMetricFamily(
        "tether_notifications",
        "notifications in the outbox by status (delivered: sent; dead: failed) and kind",
        labels=["status", "kind"],
    )
    counts = {(s, k): 0 for s in STATUSES for k in KINDS}
    by_status = sa.select(notifications.c.status, notifications.c.kind, sa.func.count()).group_by(
        notifications.c.status, notifications.c.kind
    )
    for status, kind, n in conn.execute(by_status):
        counts[(status, kind)] = n
    for (status, kind), n in counts.items():
        outbox.add_metric([status, kind], n)
    yield outbox
    firings = CounterMetricFamily(
        "tether_alert_firings", "times each alert rule started firing", labels=["rule"]
    )
    started = (
        sa.select(alert_transitions.c.rule, sa.func.count())
        .where(alert_transitions.c.state == "firing")
        .group_by(alert_transitions.c.rule)
    )
    fired: dict[str, int] = {rule: n for rule, n in conn.execute(started)}
    firing = GaugeMetricFamily(
        "tether_alert_firing", "1 while an alert rule fires, else 0", labels=["rule"]
    )
    for rule, state in conn.execute(sa.select(alerts.c.rule, alerts.c.state)):
        firing.add_metric([rule], 1 if state == "firing" else 0)
        fired.setdefault(rule, 0)
    for rule, n in sorted(fired.items()):
        firings.add_metric([rule], n)
    yield firings
    yield firing
