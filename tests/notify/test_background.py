"""`tether serve`'s app runs the notifier beside the API: an approval a run asks for reaches the
webhook without any command, and an alert rule is evaluated on its own every check_every_s,
notifying once while it keeps firing."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.notify.receiver import Receiver, receiving
from tests.notify.test_notifications import HOOK_SECRET, paused_run
from tests.service.server import serving
from tether.clock import SystemClock
from tether.notify import alerts
from tether.service import Service, create_app

CONFIG = """
check_every_s: 0.2
webhooks:
  - {{name: ops, url: "{url}", secret: ops_hook}}
alerts:
  - {{name: backlog, metric: approvals_pending, above: 0}}
"""


async def test_the_service_sends_approvals_and_alerts_by_itself(tmp_path: Path) -> None:
    rt, run_id = await paused_run(tmp_path)
    rt.clock = SystemClock()  # the rule is checked every 0.2 s of real time
    with receiving(Receiver(secret=HOOK_SECRET)) as rx:
        path = tmp_path / "notifications.yaml"
        path.write_text(CONFIG.format(url=rx.url))
        svc = Service(runtime=rt, agents_dir=tmp_path, notifications_file=path)
        with serving(create_app(svc)):
            deadline = time.monotonic() + 60
            while len(rx.got) < 2:
                assert time.monotonic() < deadline, rx.seen
                await asyncio.sleep(0.1)
            # the rule is checked again (its checked_at moves on) while it keeps firing
            checks: set[object] = set()
            while len(checks) < 3:
                assert time.monotonic() < deadline, checks
                checks.add(alerts.states(rt.store.engine)["backlog"].checked_at)
                await asyncio.sleep(0.05)
            kinds = sorted(g["body"]["tether"]["kind"] for g in rx.got)
    assert kinds == ["alert_firing", "approval_requested"]  # once each
    assert rx.rejected == [] and alerts.states(rt.store.engine)["backlog"].seq == 1
    approval = next(g["body"] for g in rx.got if g["body"]["tether"]["kind"].startswith("appr"))
    assert approval["tether"]["run_id"] == run_id
